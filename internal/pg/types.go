package pg

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// kind says how a column's values are requested and decoded.
type kind uint8

const (
	kText        kind = iota // text format, a JSON string (every type not listed below)
	kNumeric                 // text format, a number when float64 keeps it exactly, else a string
	kJSON                    // text format, embedded as JSON (json, jsonb)
	kBool                    // binary from here on
	kInt2                    //
	kInt4                    //
	kInt8                    // number when |v| <= 2^53, else a string
	kOID                     // unsigned 32-bit
	kFloat4                  //
	kFloat8                  //
	kBytea                   // base64
	kDate                    //
	kTimestamp               //
	kTimestamptz             //
	kArray                   // elements decoded by typeInfo.elem
)

// binary reports whether values of k are requested in binary format.
func (k kind) binary() bool { return k >= kBool && k < kArray }

// typeInfo is what the executor knows about one type OID.
type typeInfo struct {
	name  string // as format_type(oid, NULL) prints it
	kind  kind
	elem  kind // element kind when kind == kArray
	delim byte // array element delimiter in text format
}

// format returns the result format code to request for the type.
func (t typeInfo) format() int16 {
	if t.kind == kArray {
		if t.elem.binary() {
			return 1
		}
		return 0
	}
	if t.kind.binary() {
		return 1
	}
	return 0
}

// builtinTypes knows the names of common built-in types and decodes some
// of them natively; other OIDs are looked up in pg_type once per pool.
// TestBuiltinTypeNames checks every name against format_type.
var builtinTypes = func() map[uint32]typeInfo {
	m := make(map[uint32]typeInfo, 160)
	add := func(oid, arrayOID uint32, name string, k kind) {
		m[oid] = typeInfo{name: name, kind: k}
		if arrayOID != 0 {
			delim := byte(',')
			if oid == 603 { // box
				delim = ';'
			}
			m[arrayOID] = typeInfo{name: name + "[]", kind: kArray, elem: k, delim: delim}
		}
	}
	add(16, 1000, "boolean", kBool)
	add(17, 1001, "bytea", kBytea)
	add(18, 1002, `"char"`, kText)
	add(19, 1003, "name", kText)
	add(20, 1016, "bigint", kInt8)
	add(21, 1005, "smallint", kInt2)
	add(22, 1006, "int2vector", kText)
	add(23, 1007, "integer", kInt4)
	add(24, 1008, "regproc", kText)
	add(25, 1009, "text", kText)
	add(26, 1028, "oid", kOID)
	add(27, 1010, "tid", kText)
	add(28, 1011, "xid", kText)
	add(29, 1012, "cid", kText)
	add(30, 1013, "oidvector", kText)
	add(114, 199, "json", kJSON)
	add(142, 143, "xml", kText)
	add(194, 0, "pg_node_tree", kText)
	add(600, 1017, "point", kText)
	add(601, 1018, "lseg", kText)
	add(602, 1019, "path", kText)
	add(603, 1020, "box", kText)
	add(604, 1027, "polygon", kText)
	add(628, 629, "line", kText)
	add(650, 651, "cidr", kText)
	add(700, 1021, "real", kFloat4)
	add(701, 1022, "double precision", kFloat8)
	add(705, 0, "unknown", kText)
	add(718, 719, "circle", kText)
	add(774, 775, "macaddr8", kText)
	add(790, 791, "money", kText)
	add(829, 1040, "macaddr", kText)
	add(869, 1041, "inet", kText)
	add(1033, 1034, "aclitem", kText)
	add(1042, 1014, "character", kText)
	add(1043, 1015, "character varying", kText)
	add(1082, 1182, "date", kDate)
	add(1083, 1183, "time without time zone", kText)
	add(1114, 1115, "timestamp without time zone", kTimestamp)
	add(1184, 1185, "timestamp with time zone", kTimestamptz)
	add(1186, 1187, "interval", kText)
	add(1266, 1270, "time with time zone", kText)
	add(1560, 1561, "bit", kText)
	add(1562, 1563, "bit varying", kText)
	add(1700, 1231, "numeric", kNumeric)
	add(1790, 2201, "refcursor", kText)
	add(2202, 2207, "regprocedure", kText)
	add(2203, 2208, "regoper", kText)
	add(2204, 2209, "regoperator", kText)
	add(2205, 2210, "regclass", kText)
	add(2206, 2211, "regtype", kText)
	add(4096, 4097, "regrole", kText)
	add(4089, 4090, "regnamespace", kText)
	add(2249, 2287, "record", kText)
	add(2278, 0, "void", kText)
	add(2950, 2951, "uuid", kText)
	add(3220, 3221, "pg_lsn", kText)
	add(3614, 3643, "tsvector", kText)
	add(3615, 3645, "tsquery", kText)
	add(3734, 3735, "regconfig", kText)
	add(3769, 3770, "regdictionary", kText)
	add(3802, 3807, "jsonb", kJSON)
	add(4072, 4073, "jsonpath", kText)
	add(3904, 3905, "int4range", kText)
	add(3906, 3907, "numrange", kText)
	add(3908, 3909, "tsrange", kText)
	add(3910, 3911, "tstzrange", kText)
	add(3912, 3913, "daterange", kText)
	add(3926, 3927, "int8range", kText)
	add(4451, 6150, "int4multirange", kText)
	add(4532, 6151, "nummultirange", kText)
	add(4533, 6152, "tsmultirange", kText)
	add(4534, 6153, "tstzmultirange", kText)
	add(4535, 6155, "datemultirange", kText)
	add(4536, 6157, "int8multirange", kText)
	add(5038, 5039, "pg_snapshot", kText)
	add(5069, 271, "xid8", kText)
	return m
}()

// maxCachedTypes bounds a pool's cache of looked-up types.
const maxCachedTypes = 4096

// typeCache remembers types looked up in pg_type. It is safe for
// concurrent use; when full it starts over.
type typeCache struct {
	max int
	mu  sync.RWMutex
	m   map[uint32]typeInfo // guarded by mu
}

func newTypeCache(max int) *typeCache {
	return &typeCache{max: max, m: make(map[uint32]typeInfo)}
}

func (c *typeCache) get(oid uint32) (typeInfo, bool) {
	if t, ok := builtinTypes[oid]; ok {
		return t, true
	}
	c.mu.RLock()
	t, ok := c.m[oid]
	c.mu.RUnlock()
	return t, ok
}

func (c *typeCache) put(oid uint32, t typeInfo) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[oid] = t
	c.mu.Unlock()
}

// lookupTypesSQL describes types not in builtinTypes. Everything is
// schema-qualified: the session's search_path may be the caller's.
const lookupTypesSQL = `SELECT t.oid, pg_catalog.format_type(t.oid, NULL), t.typelem, t.typdelim::pg_catalog.text, t.typlen,
 COALESCE(e.typbasetype, 0)
FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem
WHERE t.oid = ANY($1::pg_catalog.oid[])`

// lookup resolves oids through the cache, querying pg_type on conn for the
// ones it does not know. Unknown types are decoded as text; arrays of them
// as arrays of text.
func (c *typeCache) lookup(ctx context.Context, conn *pgx.Conn, oids []uint32) error {
	rows, err := conn.Query(ctx, lookupTypesSQL, oids)
	if err != nil {
		return fmt.Errorf("looking up result column types: %w", err)
	}
	defer rows.Close()
	found := make(map[uint32]bool, len(oids))
	for rows.Next() {
		var (
			oid, elem, elemBase uint32
			name                string
			delim               string
			typlen              int16
		)
		if err := rows.Scan(&oid, &name, &elem, &delim, &typlen, &elemBase); err != nil {
			return fmt.Errorf("looking up result column types: %w", err)
		}
		t := typeInfo{name: name, kind: kText}
		if elem != 0 && typlen == -1 {
			// A true array (fixed-length types such as point also have a
			// typelem, for subscripting, but are not arrays).
			t.kind, t.elem, t.delim = kArray, kText, ','
			if elemBase != 0 {
				elem = elemBase // an array of a domain: decode as its base type
			}
			if e, ok := builtinTypes[elem]; ok && e.kind != kArray {
				t.elem = e.kind
			}
			if len(delim) == 1 {
				t.delim = delim[0]
			}
		}
		c.put(oid, t)
		found[oid] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("looking up result column types: %w", err)
	}
	for _, oid := range oids {
		if !found[oid] {
			// A type dropped between describe and lookup: show its OID.
			c.put(oid, typeInfo{name: fmt.Sprintf("oid %d", oid), kind: kText})
		}
	}
	return nil
}
