package sqlguard_test

import (
	"errors"
	"fmt"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

func ExampleCheck() {
	v, err := sqlguard.Check("SELECT date_trunc('month', created_at), sum(amount) FROM orders WHERE account_id = $1 GROUP BY 1", access.UserRO)
	fmt.Println(v.Command, v.ReadOnly, v.Params, err)

	_, err = sqlguard.Check("SELECT set_config('app.tenant_id', 'tenant_b', false), * FROM documents", access.UserRO)
	var e *sqlguard.Error
	if errors.As(err, &e) {
		fmt.Println(e.Reason, e.Position)
		fmt.Println(e.Message)
	}
	// Output:
	// SELECT true 1 <nil>
	// function_not_allowed 8
	// function pg_catalog.set_config is not allowed in user_ro mode (it changes settings); allowed: built-in read-only functions (math, string, date/time, JSON, array, aggregate, window and text search functions)
}

func ExampleCheck_adminRW() {
	v, _ := sqlguard.Check("CREATE INDEX CONCURRENTLY orders_amount_idx ON orders (amount)", access.AdminRW)
	fmt.Println(v.Command, v.NoTransaction, v.SessionState)
	v, _ = sqlguard.Check("SET search_path = reporting", access.AdminRW)
	fmt.Println(v.Command, v.NoTransaction, v.SessionState)
	// Output:
	// CREATE INDEX true false
	// SET false true
}

func ExampleCheckExplain() {
	v, err := sqlguard.CheckExplain("SELECT * FROM orders WHERE amount > 100", access.UserRW, true)
	fmt.Println(v.Command, v.Explain.Analyze, v.Explain.Inner.Command, err)
	_, err = sqlguard.CheckExplain("DELETE FROM orders", access.UserRW, true)
	fmt.Println(err)
	// Output:
	// EXPLAIN true SELECT <nil>
	// EXPLAIN ANALYZE executes the statement, so it is only allowed for a read-only SELECT, VALUES or TABLE, and it is a DELETE; use EXPLAIN without ANALYZE to see its plan (at character 1)
}
