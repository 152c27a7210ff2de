package sqlguard

// warmSQL touches the parse-tree node types most statements use: the SQL
// parser's protobuf decoding initializes each message type on first sight.
const warmSQL = `WITH w AS (SELECT a.id, count(*) AS n FROM s.t AS a JOIN u b ON b.id = a.id
WHERE a.x > $1 AND a.y IS NOT NULL OR a.z IN ('a', 'b') GROUP BY a.id HAVING count(*) > 1)
SELECT w.id, w.n::text, CASE WHEN w.n > 2 THEN 'x' END, coalesce(w.n, 0) FROM w ORDER BY 2 DESC LIMIT 10 OFFSET 0`

// Warm parses one statement and throws the result away, so that the first
// call's validation does not pay for the parser's one-time initialization
// (about 4 ms of CPU: protobuf reflection for the node types). Start-up
// runs it while the databases connect.
func Warm() { parseOne(warmSQL) }
