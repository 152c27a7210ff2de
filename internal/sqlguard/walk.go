package sqlguard

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pgherd/pgherd/internal/access"
)

// checker walks one statement's tree. It visits every message of the
// protobuf tree generically (protoreflect), so no syntactic position — target
// list, FROM, JOIN quals, CTEs, VALUES, RETURNING, ON CONFLICT, MERGE arms,
// window clauses, FILTER, TABLESAMPLE, casts… — can be skipped, and reacts to
// the node types that matter wherever they appear.
type checker struct {
	sql      string
	mode     access.Mode
	opts     Options
	major    int  // the server's major version (Options.serverMajor)
	validate bool // every mode but admin_rw refuses things
	admin    bool // admin_ro's larger function list and all schemas
	dml      bool // nested INSERT/UPDATE/DELETE/MERGE and row locks are allowed

	params  int  // highest $n
	wrote   bool // something can change data or state, or locks rows
	session bool // something leaves state on the connection
	opaque  bool // a function we do not know is called (admin_rw)
	ops     int  // operator-like nodes evaluated together (validated modes; see maxOperators)
	lookup  lookupSet
	err     *Error
}

func newChecker(sql string, opts Options) *checker {
	return &checker{sql: sql, mode: opts.Mode, opts: opts, major: opts.serverMajor(),
		validate: opts.Mode != access.AdminRW, admin: opts.Mode.Admin()}
}

// maxOperators bounds the operators, function calls, casts and other
// expression nodes one statement may evaluate together in the validated
// modes (a multi-row VALUES list counts its largest row: rows are evaluated
// one at a time). Some expressions never reach an interrupt check while they
// run (long chains of numeric operators on huge values), so a statement
// must not be able to hold arbitrarily many; a few hundred is plenty for an
// agent's query.
const maxOperators = 500

// finish completes an allowed verdict: the mode, and what to look up in the
// catalog (validated modes).
func (c *checker) finish(v *Verdict) {
	if v == nil {
		return
	}
	v.mode = c.mode
	if c.validate {
		v.Lookup = c.lookup.build()
	}
}

// count adds n operator-like nodes and refuses the statement past
// maxOperators (validated modes).
func (c *checker) count(n int, loc int32) {
	if !c.validate || n <= 0 {
		return
	}
	c.ops += n
	if c.ops > maxOperators {
		c.failAt(TooLarge, loc, fmt.Sprintf(
			"the statement holds more than %d operators, function calls and casts evaluated together, more than %s mode allows in one statement; "+
				"split the work into several statements, or pass long lists of values as one array parameter (col = ANY($1))", maxOperators, c.mode))
	}
}

// fail records the first error; the walk stops once one is recorded.
func (c *checker) fail(r Reason, pos int, msg string) {
	if c.err == nil {
		c.err = &Error{Reason: r, Message: msg, Position: pos}
	}
}

func (c *checker) failAt(r Reason, loc int32, msg string) {
	c.fail(r, charPos(c.sql, int(loc)), msg)
}

// scope is the chain of WITH names visible at a point of the query; a
// reference to one of them is not a relation.
type scope struct {
	names  []string
	parent *scope
}

func (s *scope) push(names []string) *scope {
	if len(names) == 0 {
		return s
	}
	return &scope{names: names, parent: s}
}

func (s *scope) has(name string) bool {
	for ; s != nil; s = s.parent {
		for _, n := range s.names {
			if n == name {
				return true
			}
		}
	}
	return false
}

func (c *checker) walkNode(n *pg_query.Node, sc *scope, depth int) {
	if n != nil {
		c.walk(n.ProtoReflect(), sc, depth)
	}
}

// walk visits m and everything below it.
func (c *checker) walk(m protoreflect.Message, sc *scope, depth int) {
	if c.err != nil || m == nil || !m.IsValid() {
		return
	}
	if depth > maxWalkDepth {
		c.fail(TooComplex, 0, "the statement is nested too deeply to check; simplify it or split it into several calls")
		return
	}
	switch n := m.Interface().(type) {
	case *pg_query.Node:
		// The oneof wrapper around every node: descend into the set member.
		if od := m.Descriptor().Oneofs().ByName("node"); od != nil {
			if fd := m.WhichOneof(od); fd != nil {
				c.walk(m.Get(fd).Message(), sc, depth+1)
			}
		}
		return
	case *pg_query.FuncCall:
		c.count(1, n.GetLocation())
		c.funcCall(n)
	case *pg_query.RangeVar:
		c.rangeVar(n, sc)
	case *pg_query.TypeName:
		c.typeName(n)
	case *pg_query.ParamRef:
		if int(n.GetNumber()) > c.params {
			c.params = int(n.GetNumber())
		}
	case *pg_query.A_Expr:
		c.count(1, n.GetLocation())
		c.aExpr(n)
	case *pg_query.SubLink:
		c.count(1, n.GetLocation())
		c.subLink(n)
	case *pg_query.SortBy:
		c.operator(n.GetUseOp(), n.GetLocation(), false, "..")
	case *pg_query.TypeCast:
		c.count(1, n.GetLocation())
	case *pg_query.BoolExpr:
		c.count(len(n.GetArgs())-1, n.GetLocation())
	case *pg_query.NullTest:
		c.count(1, n.GetLocation())
	case *pg_query.BooleanTest:
		c.count(1, n.GetLocation())
	case *pg_query.CoalesceExpr:
		c.count(1, n.GetLocation())
	case *pg_query.MinMaxExpr:
		c.count(1, n.GetLocation())
	case *pg_query.XmlExpr:
		c.count(1, n.GetLocation())
	case *pg_query.CaseExpr:
		c.count(1, n.GetLocation())
		if n.GetArg() != nil {
			// CASE x WHEN v compares x = v.
			operands := []*pg_query.Node{n.GetArg()}
			for _, w := range n.GetArgs() {
				operands = append(operands, w.GetCaseWhen().GetExpr())
			}
			open := ".."
			if strings.Contains(openArgs(operands...), "u") {
				open = "uu"
			}
			c.impliedOperator("=", open, n.GetLocation())
		}
	case *pg_query.JoinExpr:
		if n.GetIsNatural() || len(n.GetUsingClause()) > 0 {
			// USING and NATURAL compare the join columns with =.
			pos := c.tokenPos(pg_query.Token_USING, pg_query.Token_ASCII_40)
			if n.GetIsNatural() {
				pos = c.tokenPos(pg_query.Token_NATURAL, pg_query.Token_JOIN, pg_query.Token_INNER_P,
					pg_query.Token_LEFT, pg_query.Token_RIGHT, pg_query.Token_FULL, pg_query.Token_CROSS)
			}
			c.impliedOperator("=", "..", pos)
		}
	case *pg_query.ColumnRef:
		c.columnRef(n)
	case *pg_query.Alias:
		c.lookup.item(n.GetAliasname())
	case *pg_query.A_Indirection:
		c.indirection(n)
	case *pg_query.JsonObjectConstructor, *pg_query.JsonArrayConstructor, *pg_query.JsonArrayQueryConstructor,
		*pg_query.JsonObjectAgg, *pg_query.JsonArrayAgg, *pg_query.JsonIsPredicate, *pg_query.JsonFuncExpr,
		*pg_query.JsonTable, *pg_query.JsonParseExpr, *pg_query.JsonScalarExpr, *pg_query.JsonSerializeExpr,
		*pg_query.MergeSupportFunc:
		c.count(1, newerLocation(m))
		c.newerSyntax(m)
	case *pg_query.CollateClause:
		c.collation(n)
	case *pg_query.LockingClause:
		c.locking()
	case *pg_query.IntoClause:
		c.into(n)
	case *pg_query.RangeTableSample:
		c.tableSample(n)
	case *pg_query.CommonTableExpr:
		c.cte(n)
	case *pg_query.SelectStmt:
		if w := n.GetWithClause(); w != nil {
			c.walkWith(m, w, sc, depth)
			return
		}
		if len(n.GetValuesLists()) > 1 {
			c.walkValues(m, n, sc, depth)
			return
		}
	case *pg_query.InsertStmt:
		c.nestedDML("INSERT", -1)
		c.target(n.GetRelation())
		c.walkDML(m, n.GetWithClause(), sc, depth)
		return
	case *pg_query.UpdateStmt:
		c.nestedDML("UPDATE", -1)
		c.target(n.GetRelation())
		c.walkDML(m, n.GetWithClause(), sc, depth)
		return
	case *pg_query.DeleteStmt:
		c.nestedDML("DELETE", -1)
		c.walkDML(m, n.GetWithClause(), sc, depth)
		return
	case *pg_query.MergeStmt:
		c.nestedDML("MERGE", -1)
		c.target(n.GetRelation())
		c.walkDML(m, n.GetWithClause(), sc, depth)
		return
	case *pg_query.PrepareStmt, *pg_query.CreateFunctionStmt:
		// $n inside PREPARE … AS or a function body refers to the prepared
		// statement's or the function's own arguments, not to parameters
		// the caller binds (admin_rw only; other modes refuse these).
		if c.validate {
			c.nestedStatement(m)
			return
		}
		params := c.params
		c.walkFields(m, sc, depth, nil)
		c.params = params
		return
	default:
		if c.validate && strings.HasSuffix(string(m.Descriptor().Name()), "Stmt") {
			c.nestedStatement(m)
			return
		}
	}
	c.walkFields(m, sc, depth, nil)
}

// nestedStatement refuses a statement nested in the tree that is not a query
// or DML (the grammar allows none inside the statements the validated modes
// accept; this is the safety net).
func (c *checker) nestedStatement(m protoreflect.Message) {
	name := string(m.Descriptor().Name())
	c.fail(StatementNotAllowed, 0, fmt.Sprintf("a nested %s is not allowed in %s mode; allowed: %s", name, c.mode, modeAllows(c.mode)))
}

// walkFields visits every populated message field of m in declaration order;
// scopeFor may give a field its own scope.
func (c *checker) walkFields(m protoreflect.Message, sc *scope, depth int, scopeFor func(protoreflect.Name) (*scope, bool)) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len() && c.err == nil; i++ {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			continue
		}
		if !m.Has(fd) {
			continue
		}
		fsc := sc
		if scopeFor != nil {
			s, skip := scopeFor(fd.Name())
			if skip {
				continue
			}
			fsc = s
		}
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			for j := 0; j < l.Len() && c.err == nil; j++ {
				c.walk(l.Get(j).Message(), fsc, depth+1)
			}
		case fd.IsMap():
			// The parse tree has no maps.
		default:
			c.walk(v.Message(), fsc, depth+1)
		}
	}
}

// walkValues visits a SELECT with a multi-row VALUES list: each row counts
// toward maxOperators on its own (PostgreSQL evaluates one row at a time,
// checking for interrupts between them), the list as its largest row.
func (c *checker) walkValues(m protoreflect.Message, n *pg_query.SelectStmt, sc *scope, depth int) {
	base, most := c.ops, 0
	for _, row := range n.GetValuesLists() {
		c.ops = base
		c.walkNode(row, sc, depth+1)
		if c.err != nil {
			return
		}
		most = max(most, c.ops-base)
	}
	c.ops = base + most
	c.walkFields(m, sc, depth, func(name protoreflect.Name) (*scope, bool) {
		return sc, name == "values_lists"
	})
}

// walkWith visits a statement that has a WITH clause: each CTE body sees the
// CTEs before it (all of them with RECURSIVE), the rest of the statement sees
// all of them.
func (c *checker) walkWith(m protoreflect.Message, w *pg_query.WithClause, sc *scope, depth int) {
	inner := c.walkCTEs(w, sc, depth)
	c.walkFields(m, inner, depth, func(name protoreflect.Name) (*scope, bool) {
		return inner, name == "with_clause"
	})
}

func (c *checker) walkCTEs(w *pg_query.WithClause, sc *scope, depth int) *scope {
	if w == nil {
		return sc
	}
	ctes := w.GetCtes()
	names := make([]string, len(ctes))
	for i, n := range ctes {
		names[i] = n.GetCommonTableExpr().GetCtename() // "" never matches a relation
	}
	for i, n := range ctes {
		visible := names[:i]
		if w.GetRecursive() {
			visible = names
		}
		c.walkNode(n, sc.push(visible), depth+2)
		if c.err != nil {
			return sc
		}
	}
	return sc.push(names)
}

// walkDML visits INSERT/UPDATE/DELETE/MERGE. The target relation is never a
// CTE reference (PostgreSQL resolves it as a table even when a WITH item has
// the same name), so it is checked without the WITH scope.
func (c *checker) walkDML(m protoreflect.Message, w *pg_query.WithClause, sc *scope, depth int) {
	if c.err != nil {
		return
	}
	inner := c.walkCTEs(w, sc, depth)
	c.walkFields(m, inner, depth, func(name protoreflect.Name) (*scope, bool) {
		switch name {
		case "with_clause":
			return nil, true
		case "relation":
			return nil, false
		}
		return inner, false
	})
}

// nestedDML handles a data-modifying statement anywhere in the tree (the top
// statement of user_rw/admin_rw, or a WITH body).
func (c *checker) nestedDML(tag string, loc int32) {
	c.wrote = true
	if c.validate && !c.dml {
		c.failAt(StatementNotAllowed, loc, fmt.Sprintf("%s is not allowed in %s mode; allowed: %s", tag, c.mode, modeAllows(c.mode)))
	}
}

// cte refuses a data-modifying WITH body where writes are not allowed.
func (c *checker) cte(n *pg_query.CommonTableExpr) {
	q := n.GetCtequery()
	if !c.validate || c.dml || q == nil || q.GetSelectStmt() != nil {
		return
	}
	tag := classify(q).tag
	c.failAt(WriteInCTE, n.GetLocation(), fmt.Sprintf("WITH %s AS (%s …) changes data, which %s mode does not allow; allowed: %s",
		quoteIdent(n.GetCtename()), tag, c.mode, modeAllows(c.mode)))
}

// funcCall applies the function allow-list (validated modes) or records what
// the call may do (admin_rw).
func (c *checker) funcCall(n *pg_query.FuncCall) {
	schema, name, ok := splitName(n.GetFuncname())
	builtin := ok && (schema == "" || schema == "pg_catalog")
	known := builtin && (userFuncs[name] || isAdminFunc(name)) && !(name == "ts_rewrite" && len(n.GetArgs()) != 3)
	if !c.validate {
		switch {
		case builtin && name == "set_config":
			c.wrote = true
			if !isTrueConst(nth(n.GetArgs(), 2)) {
				c.session = true
			}
		case builtin && sessionFuncs[name]:
			c.wrote, c.session = true, true
		case !known:
			// A function we do not know may write, SET, LISTEN, …
			c.wrote, c.session, c.opaque = true, true, true
		}
		return
	}
	display := qualifiedName(n.GetFuncname())
	if builtin && schema == "" {
		display = "pg_catalog." + quoteIdent(name)
	}
	allowedHere := "built-in read-only functions (math, string, date/time, JSON, array, aggregate, window and text search functions)"
	if c.admin {
		allowedHere = "built-in read-only functions, including catalog, size and statistics functions"
	}
	if builtin && (schema == "" || (name == "json_object" && c.major < 16)) {
		// Unqualified, the name resolves through the search path, where an
		// overload outside pg_catalog may win. (Before PostgreSQL 16 the
		// server reads json_object(…) as a plain call; the parser's grammar
		// qualifies it with pg_catalog.)
		c.lookup.function(name, callArgs(n), openArgs(callArgList(n)...), charPos(c.sql, int(n.GetLocation())))
	}
	switch {
	case !builtin:
		c.failAt(FunctionNotAllowed, n.GetLocation(), fmt.Sprintf(
			"function %s is not allowed in %s mode (only built-in functions may be called, unqualified or qualified with pg_catalog); allowed: %s",
			display, c.mode, allowedHere))
	case name == "ts_rewrite" && len(n.GetArgs()) != 3:
		c.failAt(FunctionNotAllowed, n.GetLocation(), fmt.Sprintf(
			"function %s with a query argument is not allowed in %s mode (it runs SQL text); allowed: ts_rewrite(query, target, substitute) with three tsquery values",
			display, c.mode))
	case userFuncs[name] || (c.admin && isAdminFunc(name)):
	default:
		c.failAt(FunctionNotAllowed, n.GetLocation(), fmt.Sprintf("function %s is not allowed in %s mode (%s); allowed: %s",
			display, c.mode, whyDenied(name, c.admin), allowedHere))
	}
}

// rangeVar checks a relation reference, resolving its name the way
// PostgreSQL does: a WITH query shadows only an unqualified name; a
// three-part name db.schema.rel is the relation schema.rel when db is the
// current database (and an error otherwise). User modes may only reach
// relations that PostgreSQL resolves to the public schema, given
// search_path = public (pg_catalog is searched first, implicitly). admin_ro
// may read every schema but not the relations that show credentials (see
// credentialRelations).
func (c *checker) rangeVar(n *pg_query.RangeVar, sc *scope) {
	if isTempRangeVar(n) {
		c.session = true
	}
	if !c.validate {
		return
	}
	db, schema, rel := n.GetCatalogname(), n.GetSchemaname(), n.GetRelname()
	name := quoteIdent(rel)
	if schema != "" {
		name = quoteIdent(schema) + "." + name
	}
	if db != "" {
		switch {
		case c.opts.Database == "":
			c.failAt(RelationNotAllowed, n.GetLocation(), fmt.Sprintf(
				"relation %s.%s uses a three-part name, and the database it runs in is not known here; write %s",
				quoteIdent(db), name, name))
			return
		case db != c.opts.Database:
			c.failAt(RelationNotAllowed, n.GetLocation(), fmt.Sprintf(
				"relation %s.%s names database %s, but this endpoint serves database %s and PostgreSQL cannot reach another database from a query; write %s",
				quoteIdent(db), name, quoteIdent(db), quoteIdent(c.opts.Database), name))
			return
		}
		// The current database: the relation is schema.rel, judged below.
	}
	if schema == "" && sc.has(rel) {
		return // a WITH query, not a relation
	}
	c.lookup.relation(schema, rel, false, charPos(c.sql, int(n.GetLocation())))
	c.lookup.item(rel)
	if c.mode == access.AdminRO {
		if why := credentialRelation(schema, rel, c.opts.PrivilegedLogin); why != "" {
			c.failAt(RelationNotAllowed, n.GetLocation(), fmt.Sprintf(
				"relation %s %s, which %s mode may not read even though other catalogs are open; use pg_roles, pg_user or pg_stat_subscription for the non-secret parts",
				name, why, c.mode))
		}
		return
	}
	if !c.mode.PublicOnly() {
		return
	}
	switch {
	case schema != "" && schema != "public":
		c.failAt(SchemaNotAllowed, n.GetLocation(), fmt.Sprintf(
			"relation %s is in schema %s, and %s mode may only use the public schema; use a table, view or sequence of the public schema",
			name, quoteIdent(schema), c.mode))
	case schema == "" && strings.HasPrefix(rel, "pg_"):
		c.failAt(RelationNotAllowed, n.GetLocation(), fmt.Sprintf(
			"relation %s resolves to the system catalog pg_catalog.%s, which %s mode may not read; if it really is a table of yours, write public.%s",
			name, name, c.mode, quoteIdent(rel)))
	case isExtensionRelation(rel):
		c.failAt(RelationNotAllowed, n.GetLocation(), fmt.Sprintf(
			"relation %s belongs to an extension and shows server-wide information, which %s mode may not read",
			name, c.mode))
	}
}

// target records the relation an INSERT, UPDATE or MERGE assigns to: the
// CHECK constraints of its columns' domains run (validated modes).
func (c *checker) target(n *pg_query.RangeVar) {
	if !c.validate || n == nil {
		return
	}
	schema := n.GetSchemaname()
	if n.GetCatalogname() != "" && n.GetCatalogname() != c.opts.Database {
		return // rangeVar refuses it
	}
	c.lookup.relation(schema, n.GetRelname(), true, charPos(c.sql, int(n.GetLocation())))
}

func isExtensionRelation(rel string) bool {
	for _, p := range extensionRelations {
		if strings.HasPrefix(rel, p) {
			return true
		}
	}
	return false
}

// typeName refuses, in user modes, types outside pg_catalog and public and
// the types whose input looks names up in the catalogs
// ('pg_authid'::regclass, 'english'::regconfig, '=r/postgres'::aclitem);
// in every validated mode it records the type for the catalog lookup (a
// cast to it, or its domain CHECK, may run code).
func (c *checker) typeName(n *pg_query.TypeName) {
	if !c.validate {
		return
	}
	schema, name, ok := splitName(n.GetNames())
	if ok && !n.GetPctType() {
		c.lookup.typ(schema, name, charPos(c.sql, int(n.GetLocation())))
	}
	if !c.mode.PublicOnly() {
		return
	}
	switch {
	case !ok || (schema != "" && schema != "pg_catalog" && schema != "public"):
		c.failAt(SchemaNotAllowed, n.GetLocation(), fmt.Sprintf(
			"type %s is outside the public schema, which %s mode may not use; use a built-in type or one of the public schema",
			qualifiedName(n.GetNames()), c.mode))
	case (schema == "" || schema == "pg_catalog") && catalogLookupTypes[name]:
		c.failAt(TypeNotAllowed, n.GetLocation(), fmt.Sprintf(
			"type %s is not allowed in %s mode (converting to it looks names up in the system catalogs); compare with the values themselves instead",
			name, c.mode))
	}
}

// aExpr records the operators an expression uses: the one named, or the
// ones its syntax implies (BETWEEN compares with >= and <=).
func (c *checker) aExpr(n *pg_query.A_Expr) {
	pos := n.GetLocation()
	// The operands as PostgreSQL pairs them: IN and BETWEEN compare the
	// left side with each element of the list.
	operands := []*pg_query.Node{n.GetLexpr(), n.GetRexpr()}
	if list := n.GetRexpr().GetList(); list != nil {
		operands = append([]*pg_query.Node{n.GetLexpr()}, list.GetItems()...)
	}
	open := openArgs(operands...)
	if strings.Contains(open, "u") {
		open = "uu"
	} else {
		open = ".."
	}
	switch n.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		c.impliedOperator(">=", open, pos)
		c.impliedOperator("<=", open, pos)
		return
	}
	if n.GetLexpr() == nil {
		open = openArgs(n.GetRexpr())
	}
	c.operator(n.GetName(), pos, n.GetLexpr() == nil, open)
}

// callArgList is what a call passes, in the order PostgreSQL matches it.
func callArgList(n *pg_query.FuncCall) []*pg_query.Node {
	args := n.GetArgs()
	if n.GetAggWithinGroup() {
		for _, s := range n.GetAggOrder() {
			args = append(args[:len(args):len(args)], s.GetSortBy().GetNode())
		}
	}
	return args
}

// openArgs marks each argument whose type PostgreSQL chooses to fit the
// function or operator ('u': a string or NULL literal, a parameter, a
// ROW(…) or a named argument's value of those kinds), '.' for the others.
func openArgs(args ...*pg_query.Node) string {
	var b strings.Builder
	for _, a := range args {
		if na := a.GetNamedArgExpr(); na != nil {
			a = na.GetArg()
		}
		switch {
		case a == nil:
			b.WriteByte('.')
		case a.GetParamRef() != nil, a.GetRowExpr() != nil:
			b.WriteByte('u')
		case a.GetAConst() != nil && (a.GetAConst().GetIsnull() || a.GetAConst().GetSval() != nil || a.GetAConst().GetBsval() != nil):
			b.WriteByte('u')
		default:
			b.WriteByte('.')
		}
	}
	return b.String()
}

// subLink records the operator of x op ANY/ALL (subquery); IN (subquery)
// compares with =.
func (c *checker) subLink(n *pg_query.SubLink) {
	names := n.GetOperName()
	open := openArgs(n.GetTestexpr(), nil)
	if len(names) == 0 {
		switch n.GetSubLinkType() {
		case pg_query.SubLinkType_ANY_SUBLINK, pg_query.SubLinkType_ALL_SUBLINK:
			c.impliedOperator("=", open, n.GetLocation())
		}
		return
	}
	c.operator(names, n.GetLocation(), false, open)
}

// impliedOperator records an binary operator the grammar uses by name.
func (c *checker) impliedOperator(op, open string, loc any) {
	if !c.validate {
		return
	}
	pos := 0
	switch l := loc.(type) {
	case int32:
		pos = charPos(c.sql, int(l))
	case int:
		pos = l
	}
	c.lookup.operator(op, false, open, pos)
}

// operator refuses operators qualified with a schema other than pg_catalog
// (OPERATOR(myschema.===)) in the validated modes, and records unqualified
// ones for the catalog lookup.
func (c *checker) operator(names []*pg_query.Node, loc int32, prefix bool, open string) {
	if !c.validate || len(names) == 0 {
		return
	}
	if len(names) == 1 {
		if op := names[0].GetString_().GetSval(); op != "" {
			c.lookup.operator(op, prefix, open, charPos(c.sql, int(loc)))
		}
		return
	}
	schema, _, ok := splitName(names)
	if ok && schema == "pg_catalog" {
		return
	}
	op := names[len(names)-1].GetString_().GetSval()
	c.failAt(OperatorNotAllowed, loc, fmt.Sprintf(
		"operator %s.%s is not allowed in %s mode (only built-in operators, unqualified or qualified with pg_catalog); use the operator without OPERATOR(schema.…)",
		qualifiedName(names[:len(names)-1]), op, c.mode))
}

// columnRef records the last name of a qualified column reference: t.f is
// the call f(t) when t has no column f (attribute notation); and the
// references that may be whole rows (t, t.*).
func (c *checker) columnRef(n *pg_query.ColumnRef) {
	fields := n.GetFields()
	if !c.validate || len(fields) == 0 {
		return
	}
	if fields[len(fields)-1].GetAStar() != nil && len(fields) > 1 {
		c.lookup.star = true
	}
	if len(fields) == 1 {
		if f := fields[0].GetString_(); f != nil {
			c.lookup.bareRef(f.GetSval())
		}
		return
	}
	if f := fields[len(fields)-1].GetString_(); f != nil {
		c.lookup.field(f.GetSval(), charPos(c.sql, int(n.GetLocation())))
	}
}

// indirection records the names selected from a row value: (expr).f.
func (c *checker) indirection(n *pg_query.A_Indirection) {
	if !c.validate {
		return
	}
	pos := exprLocation(n.GetArg())
	for _, ind := range n.GetIndirection() {
		if f := ind.GetString_(); f != nil {
			c.count(1, int32(pos))
			c.lookup.field(f.GetSval(), charPos(c.sql, pos))
		}
	}
}

// exprLocation is the byte offset of an expression node, when it has one.
func exprLocation(n *pg_query.Node) int {
	if n == nil {
		return -1
	}
	m := n.ProtoReflect()
	if od := m.Descriptor().Oneofs().ByName("node"); od != nil {
		if fd := m.WhichOneof(od); fd != nil {
			inner := m.Get(fd).Message()
			if lf := inner.Descriptor().Fields().ByName("location"); lf != nil {
				return int(inner.Get(lf).Int())
			}
		}
	}
	return -1
}

// callArgs is the number of arguments PostgreSQL matches a call against:
// count(*) takes none; an ordered-set aggregate takes its direct and its
// WITHIN GROUP arguments.
func callArgs(n *pg_query.FuncCall) int {
	args := len(n.GetArgs())
	if n.GetAggWithinGroup() {
		args += len(n.GetAggOrder())
	}
	return args
}

// collation refuses, in user modes, collations of other schemas.
func (c *checker) collation(n *pg_query.CollateClause) {
	if !c.mode.PublicOnly() {
		return
	}
	schema, _, ok := splitName(n.GetCollname())
	if ok && (schema == "" || schema == "pg_catalog" || schema == "public") {
		return
	}
	c.failAt(SchemaNotAllowed, n.GetLocation(), fmt.Sprintf(
		"collation %s is outside the public schema, which %s mode may not use; use a built-in collation",
		qualifiedName(n.GetCollname()), c.mode))
}

// locking handles FOR UPDATE / FOR NO KEY UPDATE / FOR SHARE / FOR KEY SHARE.
// They take row locks, so they are refused in the read-only modes (where
// PostgreSQL would refuse them too, inside READ ONLY). user_rw allows them:
// they lock only public rows the role may update, inside the call's own
// transaction, which ends with the call, and lock_timeout bounds the wait.
func (c *checker) locking() {
	c.wrote = true
	if c.validate && !c.dml {
		c.fail(LockingClause, c.tokenPos(pg_query.Token_FOR, pg_query.Token_UPDATE, pg_query.Token_SHARE, pg_query.Token_NO, pg_query.Token_KEY),
			fmt.Sprintf("FOR UPDATE / FOR SHARE takes row locks, which %s mode does not allow; allowed: %s", c.mode, modeAllows(c.mode)))
	}
}

// into refuses SELECT … INTO, which creates a table.
func (c *checker) into(n *pg_query.IntoClause) {
	c.wrote = true
	if isTempRangeVar(n.GetRel()) {
		c.session = true
	}
	if c.validate {
		c.failAt(SelectInto, n.GetRel().GetLocation(), fmt.Sprintf(
			"SELECT … INTO creates a table, which %s mode does not allow; remove INTO to get the rows back", c.mode))
	}
}

// tableSample allows only the built-in TABLESAMPLE methods.
func (c *checker) tableSample(n *pg_query.RangeTableSample) {
	schema, name, ok := splitName(n.GetMethod())
	if ok && (schema == "" || schema == "pg_catalog") && tableSampleMethods[name] {
		return
	}
	if !c.validate {
		c.opaque, c.session, c.wrote = true, true, true
		return
	}
	c.failAt(FunctionNotAllowed, n.GetLocation(), fmt.Sprintf(
		"TABLESAMPLE method %s is not allowed in %s mode; allowed: TABLESAMPLE SYSTEM or BERNOULLI",
		qualifiedName(n.GetMethod()), c.mode))
}

// tokenPos returns the position of the first keyword first that is followed by
// one of next (0 if not found). Used for clauses whose nodes have no location.
func (c *checker) tokenPos(first pg_query.Token, next ...pg_query.Token) int {
	res, err := pg_query.Scan(c.sql)
	if err != nil {
		return 0
	}
	toks := res.GetTokens()
	for i, t := range toks {
		if t.GetToken() != first || i+1 >= len(toks) {
			continue
		}
		for _, n := range next {
			if toks[i+1].GetToken() == n {
				return charPos(c.sql, int(t.GetStart()))
			}
		}
	}
	return 0
}

// splitName splits a name list (String nodes) into schema and name. ok is
// false for names of more than two parts or with non-string parts.
func splitName(names []*pg_query.Node) (schema, name string, ok bool) {
	parts := make([]string, 0, 2)
	for _, n := range names {
		s := n.GetString_()
		if s == nil {
			return "", "", false
		}
		parts = append(parts, s.GetSval())
	}
	switch len(parts) {
	case 1:
		return "", parts[0], true
	case 2:
		return parts[0], parts[1], true
	}
	return "", "", false
}

func qualifiedName(names []*pg_query.Node) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		if s := n.GetString_(); s != nil {
			parts = append(parts, quoteIdent(s.GetSval()))
		} else {
			parts = append(parts, "?")
		}
	}
	return strings.Join(parts, ".")
}

// quoteIdent quotes an identifier when it would not read back as itself.
func quoteIdent(s string) string {
	plain := s != ""
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || (i > 0 && (r >= '0' && r <= '9' || r == '$'))) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func nth(l []*pg_query.Node, i int) *pg_query.Node {
	if i < len(l) {
		return l[i]
	}
	return nil
}

// isTrueConst reports a literal TRUE (set_config's is_local).
func isTrueConst(n *pg_query.Node) bool {
	if b := n.GetAConst().GetBoolval(); b != nil {
		return b.GetBoolval()
	}
	return false
}
