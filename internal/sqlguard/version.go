package sqlguard

import (
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// newer describes syntax the parser's grammar (PostgreSQL GrammarMajor)
// reads as its own construct where an older server reads a plain function
// call, resolved by name through the search path, where a function of the
// database's users may answer. On such a server the statement is refused.
type newer struct {
	since int    // first major version with the syntax
	what  string // how the statement wrote it
	use   string // what to write instead on an older server
}

var newerNodes = map[protoreflect.FullName]newer{
	"pg_query.JsonObjectConstructor":     {16, "JSON_OBJECT(…)", "use json_build_object(…) or jsonb_build_object(…)"},
	"pg_query.JsonArrayConstructor":      {16, "JSON_ARRAY(…)", "use json_build_array(…) or jsonb_build_array(…)"},
	"pg_query.JsonArrayQueryConstructor": {16, "JSON_ARRAY(SELECT …)", "use (SELECT json_agg(…) FROM …)"},
	"pg_query.JsonObjectAgg":             {16, "JSON_OBJECTAGG(…)", "use json_object_agg(…) or jsonb_object_agg(…)"},
	"pg_query.JsonArrayAgg":              {16, "JSON_ARRAYAGG(…)", "use json_agg(…) or jsonb_agg(…)"},
	"pg_query.JsonIsPredicate":           {16, "IS JSON", "cast to json inside a query that can fail, or compare json_typeof(…)"},
	"pg_query.JsonFuncExpr":              {17, "JSON_EXISTS / JSON_QUERY / JSON_VALUE", "use jsonb_path_exists(…) or jsonb_path_query_first(…)"},
	"pg_query.JsonTable":                 {17, "JSON_TABLE(…)", "use jsonb_to_recordset(…) or jsonb_path_query(…) in FROM"},
	"pg_query.JsonParseExpr":             {17, "JSON(…)", "use a cast: (…)::json"},
	"pg_query.JsonScalarExpr":            {17, "JSON_SCALAR(…)", "use to_json(…) or to_jsonb(…)"},
	"pg_query.JsonSerializeExpr":         {17, "JSON_SERIALIZE(…)", "use a cast: (…)::text"},
	"pg_query.MergeSupportFunc":          {17, "merge_action()", "it does not exist before PostgreSQL 17"},
}

// newerSyntax refuses m, one of newerNodes, on a server older than the
// syntax (validated modes).
func (c *checker) newerSyntax(m protoreflect.Message) {
	nw, ok := newerNodes[m.Descriptor().FullName()]
	if !ok || !c.validate || c.major >= nw.since {
		return
	}
	c.failAt(NewerSyntax, newerLocation(m), fmt.Sprintf(
		"%s is syntax of PostgreSQL %d and later, and this server runs PostgreSQL %d, which reads it as a call of a function chosen by name (possibly one of the database's users'); %s",
		nw.what, nw.since, c.major, nw.use))
}

// newerLocation is the byte offset of a newerNodes node (-1 if unknown).
func newerLocation(m protoreflect.Message) int32 {
	switch n := m.Interface().(type) {
	case *pg_query.JsonIsPredicate:
		return n.GetLocation()
	case *pg_query.JsonObjectAgg:
		return n.GetConstructor().GetLocation()
	case *pg_query.JsonArrayAgg:
		return n.GetConstructor().GetLocation()
	}
	if fd := m.Descriptor().Fields().ByName("location"); fd != nil {
		return int32(m.Get(fd).Int())
	}
	return -1
}
