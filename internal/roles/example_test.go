package roles_test

import (
	"fmt"
	"strings"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/roles"
)

// A read-only role for the shop database, whose tables belong to
// shop_owner. Run roles.Harden("shop", "shop_owner") once before, and apply
// both lists with roles.Apply on a superuser connection to shop.
func ExampleStatements() {
	stmts, err := roles.Statements(roles.Spec{
		Role:     "shop_reader",
		Password: "change-me",
		Mode:     access.UserRO,
		Database: "shop",
		Owner:    "shop_owner",
	})
	if err != nil {
		panic(err)
	}
	for _, s := range stmts {
		if strings.HasPrefix(s, "GRANT") {
			fmt.Println(s)
		}
	}
	// Output:
	// GRANT CONNECT ON DATABASE "shop" TO "shop_reader"
	// GRANT USAGE ON SCHEMA public TO "shop_reader"
	// GRANT SELECT ON ALL TABLES IN SCHEMA public TO "shop_reader"
	// GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO "shop_reader"
}
