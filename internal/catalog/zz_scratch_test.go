package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// go test -run TestZZQB ./internal/catalog/ with QB_URI, QB_SU, QB_FILES (comma list), QB_ARGS (w3|w4), QB_N
func TestZZQB(t *testing.T) {
	uri := os.Getenv("QB_URI")
	if uri == "" {
		t.Skip()
	}
	ctx := context.Background()
	n, _ := strconv.Atoi(os.Getenv("QB_N"))
	su, err := pgx.Connect(ctx, os.Getenv("QB_SU"))
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	cfg, _ := pgx.ParseConfig(uri)
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	if os.Getenv("QB_MODE") == "prepared" {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, f := range strings.Split(os.Getenv("QB_FILES"), ",") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sql := string(b)
		var args []any
		if strings.Contains(sql, "$1") {
			switch os.Getenv("QB_ARGS") {
			case "w4":
				args = []any{[]string{"count", "sum"}, []string(nil), []string{"*", "<=", "="}}
			default:
				args = []any{[]string(nil), []string(nil), []string(nil)}
			}
		}
		su.Exec(ctx, "select pg_stat_statements_reset()")
		for range n {
			tx, _ := conn.Begin(ctx)
			tx.Exec(ctx, "set local search_path = public")
			rows, err := tx.Query(ctx, sql, args...)
			if err != nil {
				t.Fatal(f, err)
			}
			for rows.Next() {
			}
			if rows.Err() != nil {
				t.Fatal(f, rows.Err())
			}
			tx.Rollback(ctx)
		}
		var calls int
		var plan, exec float64
		err = su.QueryRow(ctx, `select calls, total_plan_time/calls*1000, total_exec_time/calls*1000 from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = $2 and calls >= $1 and query not like 'set local%' order by calls desc, total_exec_time desc limit 1`, n, cfg.Database).Scan(&calls, &plan, &exec)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%s %s %-32s calls %d plan %6.0f µs exec %6.0f µs\n", cfg.Database, os.Getenv("QB_MODE"), filepath.Base(f), calls, plan, exec)
	}
}
