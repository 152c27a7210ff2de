package main

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The benchmark dataset of issue #14: an e-commerce database created the
// same way every time (every value is a function of the row number; no
// random()), at full scale 100k customers, 10k products, 1M orders and 3M
// order items. --scale shrinks every table but products proportionally,
// so a query that selects by customer touches the same number of rows at
// every scale.
const datasetSQL = `
CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded');
CREATE TABLE customers (
    id         bigint PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    country    char(2) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE products (
    id       bigint PRIMARY KEY,
    name     text NOT NULL,
    category text NOT NULL,
    price    numeric(10,2) NOT NULL
);
CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers,
    status      order_status NOT NULL,
    created_at  timestamptz NOT NULL,
    total       numeric(12,2) NOT NULL,
    country     char(2) NOT NULL
);
CREATE TABLE order_items (
    order_id   bigint NOT NULL REFERENCES orders,
    line       int NOT NULL,
    product_id bigint NOT NULL REFERENCES products,
    quantity   int NOT NULL,
    unit_price numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, line)
);
INSERT INTO customers
SELECT i, 'customer' || i || '@example.com', 'Customer ' || i,
       (ARRAY['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'CA', 'ES', 'NL'])[1 + (i * 7) % 10],
       timestamptz '2023-01-01 00:00+00' + (i * 17) % 700 * interval '1 day'
  FROM generate_series(1::bigint, {{customers}}) AS i;
INSERT INTO products
SELECT i, 'Product ' || i,
       (ARRAY['books', 'games', 'garden', 'kitchen', 'music', 'outdoor', 'tools', 'toys'])[1 + (i * 3) % 8],
       (99 + (i * 7919) % 50000) / 100.0
  FROM generate_series(1::bigint, {{products}}) AS i;
INSERT INTO orders
SELECT i, c, (enum_range(NULL::order_status))[1 + (i * 13) % 6],
       timestamptz '2023-01-01 00:00+00' + (i * 7907) % (730 * 86400) * interval '1 second',
       (500 + (i * 104729) % 100000) / 100.0,
       (ARRAY['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'CA', 'ES', 'NL'])[1 + (c * 7) % 10]
  FROM generate_series(1::bigint, {{orders}}) AS i, LATERAL (SELECT 1 + (i * 7919) % {{customers}} AS c) AS x;
-- 1 to 5 lines per order, 3 on average.
INSERT INTO order_items
SELECT o, l, 1 + (o * 31 + l * 17) % {{products}}, 1 + (o + l) % 4, (99 + ((o * 31 + l * 17) * 7919) % 50000) / 100.0
  FROM generate_series(1::bigint, {{orders}}) AS o, generate_series(1, 1 + o % 5) AS l;
-- The login the benchmarks use: not privileged, reads every table.
CREATE ROLE {{role}} LOGIN PASSWORD '{{role}}';
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {{role}};
CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX order_items_product_id ON order_items (product_id);
VACUUM ANALYZE;
`

// benchRole is the dataset's login (its password is its name): an ordinary
// role with SELECT on every table, as a production endpoint would use.
const benchRole = "pgherd_bench"

// Full-scale row counts.
const (
	fullCustomers = 100_000
	fullProducts  = 10_000
	fullOrders    = 1_000_000
)

// datasetStatements returns the dataset's SQL at scale (1 = full size).
func datasetStatements(scale float64) (string, error) {
	if !(scale > 0 && scale <= 10) {
		return "", fmt.Errorf("--scale %v: use a number above 0 and at most 10 (1 is the full dataset: 100k customers, 1M orders, 3M order items)", scale)
	}
	n := func(full int) string { return fmt.Sprint(max(1, int(math.Round(float64(full)*scale)))) }
	return strings.NewReplacer(
		"{{customers}}", n(fullCustomers),
		"{{products}}", fmt.Sprint(fullProducts),
		"{{orders}}", n(fullOrders),
		"{{role}}", benchRole,
	).Replace(datasetSQL), nil
}

// seedDataset creates the dataset at scale in the database at uri.
func seedDataset(ctx context.Context, uri string, scale float64) error {
	sql, err := datasetStatements(scale)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		return fmt.Errorf("connecting to create the dataset: %w", err)
	}
	defer conn.Close(ctx)
	// VACUUM cannot run in the implicit transaction of a multi-statement
	// string: run it on its own.
	body, _, _ := strings.Cut(sql, "VACUUM ANALYZE;")
	if _, err := conn.Exec(ctx, body); err != nil {
		return fmt.Errorf("creating the dataset: %w", err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return fmt.Errorf("analyzing the dataset: %w", err)
	}
	return nil
}

// The workloads of issue #14, by name: the arguments of the tool call, and
// for the statements the same SQL for the --raw-dsn baseline. W4 reads
// 1,000 orders and their ~3,000 items (5,000 buffers: within the throwaway
// cluster's 64 MB shared_buffers once warm).
var workloads = map[string]string{
	"W1": "", // tools/list: no arguments
	"W2": `{"sql":"SELECT 1"}`,
	"W3": `{"sql":"SELECT id, customer_id, status, created_at, total, country FROM orders ORDER BY id LIMIT 1000"}`,
	"W4": `{"sql":"SELECT o.customer_id, count(*) AS items, sum(i.quantity * i.unit_price) AS revenue FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.customer_id <= 100 GROUP BY o.customer_id ORDER BY revenue DESC, o.customer_id LIMIT 50"}`,
}
