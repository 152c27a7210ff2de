package advisor

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// prepared is a query turned into what the advisor plans: one SELECT,
// with its parameters numbered $1…$n without gaps, and the raw facts its
// parse tree holds about every table it reads.
type prepared struct {
	planned string // the SELECT to plan
	params  int    // $1…$params
	kind    string // SELECT, UPDATE, DELETE, INSERT
	note    string // how the statement was turned into planned
	root    *level
}

// level is one SELECT of a query (the top one, a subquery, a CTE, a set
// operation's branch) with what the advisor reads from it.
type level struct {
	parent *level
	ctes   []string
	rels   []*relRef        // plain relations in FROM, joins included
	conds  []*pg_query.Node // conjuncts of WHERE and of join conditions
	exprs  []*pg_query.Node // every expression of the level (targets, conditions, ORDER/GROUP BY, HAVING)
	sort   []*pg_query.SortBy
	group  []*pg_query.Node
	limit  bool
	star   bool // SELECT * or t.*: every column is read
	kids   []*level
}

// relRef is a relation named in a FROM clause.
type relRef struct {
	schema, name, alias string
	table               *table // filled by resolve
}

// errNotAnalyzable marks statements the advisor does not plan.
var errNotAnalyzable = errors.New("not analyzable")

// prepare parses sql (already screened by the caller for size and depth)
// and builds what to plan. Statements that cannot benefit from an index
// are refused with an errNotAnalyzable error saying why.
func prepare(sql string) (*prepared, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("the query does not parse: %v", err)
	}
	if len(tree.Stmts) != 1 {
		return nil, fmt.Errorf("%w: give exactly one statement per query (got %d)", errNotAnalyzable, len(tree.Stmts))
	}
	stmt := tree.Stmts[0].Stmt
	p := &prepared{}
	var sel *pg_query.SelectStmt
	switch {
	case stmt.GetSelectStmt() != nil:
		sel = stmt.GetSelectStmt()
		p.kind = "SELECT"
		if sel.IntoClause != nil {
			return nil, fmt.Errorf("%w: SELECT … INTO creates a table; analyze the SELECT without INTO", errNotAnalyzable)
		}
		if len(sel.LockingClause) > 0 {
			sel.LockingClause = nil
			p.note = "planned without its FOR UPDATE/SHARE clause (row locks do not change the access path)"
		}
	case stmt.GetUpdateStmt() != nil:
		u := stmt.GetUpdateStmt()
		p.kind = "UPDATE"
		sel = rowSearch(u.Relation, u.FromClause, u.WhereClause, u.WithClause)
		p.note = "planned the UPDATE's row search as a SELECT (the rows it finds are what an index speeds up)"
	case stmt.GetDeleteStmt() != nil:
		d := stmt.GetDeleteStmt()
		p.kind = "DELETE"
		sel = rowSearch(d.Relation, d.UsingClause, d.WhereClause, d.WithClause)
		p.note = "planned the DELETE's row search as a SELECT (the rows it finds are what an index speeds up)"
	case stmt.GetInsertStmt() != nil:
		ins := stmt.GetInsertStmt()
		p.kind = "INSERT"
		src := ins.SelectStmt.GetSelectStmt()
		if src == nil || len(src.ValuesLists) > 0 {
			return nil, fmt.Errorf("%w: INSERT … VALUES reads no table, so no index speeds it up (every index slows it down a little)", errNotAnalyzable)
		}
		sel = src
		if sel.WithClause == nil {
			sel.WithClause = ins.WithClause
		}
		p.note = "planned the INSERT's SELECT"
	default:
		return nil, fmt.Errorf("%w: only SELECT, UPDATE, DELETE and INSERT … SELECT can be analyzed for indexes", errNotAnalyzable)
	}
	if modifies(sel) {
		return nil, fmt.Errorf("%w: data-modifying statements inside WITH are not analyzed; analyze them as statements of their own", errNotAnalyzable)
	}
	p.params = renumberParams(sel)
	out, err := pg_query.Deparse(&pg_query.ParseResult{Version: tree.Version, Stmts: []*pg_query.RawStmt{{Stmt: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: sel}}}}})
	if err != nil {
		return nil, fmt.Errorf("rebuilding the query to plan: %v", err)
	}
	p.planned = out
	p.root = collectSelect(sel, nil)
	return p, nil
}

// rowSearch is SELECT 1 FROM rel, from… WHERE where: how UPDATE and DELETE
// find their rows.
func rowSearch(rel *pg_query.RangeVar, from []*pg_query.Node, where *pg_query.Node, with *pg_query.WithClause) *pg_query.SelectStmt {
	one := &pg_query.Node{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{
		Val: &pg_query.Node{Node: &pg_query.Node_AConst{AConst: &pg_query.A_Const{Val: &pg_query.A_Const_Ival{Ival: &pg_query.Integer{Ival: 1}}}}},
	}}}
	return &pg_query.SelectStmt{
		TargetList:  []*pg_query.Node{one},
		FromClause:  append([]*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: rel}}}, from...),
		WhereClause: where,
		WithClause:  with,
		LimitOption: pg_query.LimitOption_LIMIT_OPTION_DEFAULT,
		Op:          pg_query.SetOperation_SETOP_NONE,
	}
}

// modifies reports whether the tree holds INSERT, UPDATE, DELETE or MERGE.
func modifies(sel *pg_query.SelectStmt) bool {
	found := false
	visit(sel.ProtoReflect(), func(m protoreflect.Message) bool {
		switch m.Interface().(type) {
		case *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
			found = true
		}
		return !found
	})
	return found
}

// renumberParams renumbers $n so that they run from $1 without gaps (a row
// search drops the $n of UPDATE's SET list, and PREPARE needs a type for
// every number) and returns how many there are.
func renumberParams(sel *pg_query.SelectStmt) int {
	var refs []*pg_query.ParamRef
	visit(sel.ProtoReflect(), func(m protoreflect.Message) bool {
		if pr, ok := m.Interface().(*pg_query.ParamRef); ok {
			refs = append(refs, pr)
		}
		return true
	})
	var nums []int32
	for _, r := range refs {
		if !slices.Contains(nums, r.Number) {
			nums = append(nums, r.Number)
		}
	}
	slices.Sort(nums)
	for _, r := range refs {
		r.Number = int32(slices.Index(nums, r.Number) + 1)
	}
	return len(nums)
}

// visit walks every message below m, calling fn before descending; fn
// returns false to skip what is below.
func visit(m protoreflect.Message, fn func(protoreflect.Message) bool) {
	if m == nil || !m.IsValid() || !fn(m) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i).Message(), fn)
			}
		case fd.Message() != nil && !fd.IsMap():
			visit(v.Message(), fn)
		}
		return true
	})
}

// collectSelect gathers the facts of sel and of the SELECTs inside it.
func collectSelect(sel *pg_query.SelectStmt, parent *level) *level {
	l := &level{parent: parent}
	if sel == nil {
		return l
	}
	if sel.WithClause != nil {
		for _, c := range sel.WithClause.Ctes {
			if cte := c.GetCommonTableExpr(); cte != nil {
				l.ctes = append(l.ctes, cte.Ctename)
			}
		}
		for _, c := range sel.WithClause.Ctes {
			if cte := c.GetCommonTableExpr(); cte != nil {
				if s := cte.Ctequery.GetSelectStmt(); s != nil {
					k := collectSelect(s, parent)
					k.ctes = append(k.ctes, l.ctes...)
					l.kids = append(l.kids, k)
				}
			}
		}
	}
	if sel.Op != pg_query.SetOperation_SETOP_NONE && sel.Op != pg_query.SetOperation_SET_OPERATION_UNDEFINED {
		for _, s := range []*pg_query.SelectStmt{sel.Larg, sel.Rarg} {
			k := collectSelect(s, parent)
			k.ctes = append(k.ctes, l.ctes...)
			l.kids = append(l.kids, k)
		}
		return l
	}
	for _, f := range sel.FromClause {
		l.from(f)
	}
	l.conds = append(l.conds, conjuncts(sel.WhereClause)...)
	l.exprs = append(l.exprs, sel.TargetList...)
	l.exprs = append(l.exprs, sel.WhereClause, sel.HavingClause)
	for _, s := range sel.SortClause {
		if sb := s.GetSortBy(); sb != nil {
			l.sort = append(l.sort, sb)
			l.exprs = append(l.exprs, sb.Node)
		}
	}
	for _, g := range sel.GroupClause {
		l.group = append(l.group, g)
		l.exprs = append(l.exprs, g)
	}
	l.limit = sel.LimitCount != nil
	for _, t := range sel.TargetList {
		if rt := t.GetResTarget(); rt != nil {
			if cr := rt.Val.GetColumnRef(); cr != nil && len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
				l.star = true
			}
		}
	}
	// Subqueries in expressions are levels of their own, correlated to
	// this one.
	for _, e := range l.exprs {
		if e == nil {
			continue
		}
		visit(e.ProtoReflect(), func(m protoreflect.Message) bool {
			if sl, ok := m.Interface().(*pg_query.SubLink); ok {
				if s := sl.Subselect.GetSelectStmt(); s != nil {
					l.kids = append(l.kids, collectSelect(s, l))
				}
				if sl.Testexpr != nil {
					l.exprs = append(l.exprs, sl.Testexpr)
				}
				return false
			}
			return true
		})
	}
	return l
}

// from records a FROM item: a relation, a join of items, or a subquery.
func (l *level) from(n *pg_query.Node) {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		if rv.Schemaname == "" && l.isCTE(rv.Relname) {
			return
		}
		r := &relRef{schema: rv.Schemaname, name: rv.Relname}
		if rv.Alias != nil {
			r.alias = rv.Alias.Aliasname
		}
		l.rels = append(l.rels, r)
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		l.from(j.Larg)
		l.from(j.Rarg)
		l.conds = append(l.conds, conjuncts(j.Quals)...)
		l.exprs = append(l.exprs, j.Quals)
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		parent := l.parent
		if rs.Lateral {
			parent = l
		}
		if s := rs.Subquery.GetSelectStmt(); s != nil {
			k := collectSelect(s, parent)
			k.ctes = append(k.ctes, l.ctes...)
			l.kids = append(l.kids, k)
		}
	}
}

func (l *level) isCTE(name string) bool {
	for s := l; s != nil; s = s.parent {
		if slices.Contains(s.ctes, name) {
			return true
		}
	}
	return false
}

// conjuncts splits an AND tree into its parts.
func conjuncts(n *pg_query.Node) []*pg_query.Node {
	if n == nil {
		return nil
	}
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg_query.BoolExprType_AND_EXPR {
		var out []*pg_query.Node
		for _, a := range b.Args {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []*pg_query.Node{n}
}

// columnRef returns the name parts of a plain column reference (no *), or
// nil. A cast around it (col::date) makes it an expression, not a column.
func columnRef(n *pg_query.Node) []string {
	cr := n.GetColumnRef()
	if cr == nil {
		return nil
	}
	var parts []string
	for _, f := range cr.Fields {
		s := f.GetString_()
		if s == nil {
			return nil
		}
		parts = append(parts, s.Sval)
	}
	return parts
}

// literal returns the SQL text and plain value of a constant (possibly
// cast: 'x'::text), or ok false.
func literal(n *pg_query.Node) (sql, value string, ok bool) {
	cast := ""
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.Arg
		if tc.TypeName != nil {
			var names []string
			for _, x := range tc.TypeName.Names {
				if s := x.GetString_(); s != nil && s.Sval != "pg_catalog" {
					names = append(names, s.Sval)
				}
			}
			if len(names) > 0 && len(tc.TypeName.ArrayBounds) == 0 && len(tc.TypeName.Typmods) == 0 {
				cast = "::" + strings.Join(names, ".")
			}
		}
	}
	c := n.GetAConst()
	if c == nil || c.Isnull {
		return "", "", false
	}
	switch {
	case c.GetIval() != nil:
		v := strconv.FormatInt(int64(c.GetIval().Ival), 10)
		return v + cast, v, true
	case c.GetFval() != nil:
		return c.GetFval().Fval + cast, c.GetFval().Fval, true
	case c.GetBoolval() != nil:
		v := strconv.FormatBool(c.GetBoolval().Boolval)
		return v, v, true
	case c.GetSval() != nil:
		v := c.GetSval().Sval
		return "'" + strings.ReplaceAll(v, "'", "''") + "'" + cast, v, true
	}
	return "", "", false
}

// opName returns an A_Expr's operator ("=", "<", …).
func opName(e *pg_query.A_Expr) string {
	if len(e.Name) == 0 {
		return ""
	}
	if s := e.Name[len(e.Name)-1].GetString_(); s != nil {
		return s.Sval
	}
	return ""
}

// columnRefsIn lists the plain column references inside n, not descending
// into subqueries.
func columnRefsIn(n *pg_query.Node) [][]string {
	var out [][]string
	if n == nil {
		return nil
	}
	visit(n.ProtoReflect(), func(m protoreflect.Message) bool {
		switch x := m.Interface().(type) {
		case *pg_query.SubLink:
			return false
		case *pg_query.ColumnRef:
			var parts []string
			for _, f := range x.Fields {
				if s := f.GetString_(); s != nil {
					parts = append(parts, s.Sval)
				} else {
					parts = append(parts, "*")
				}
			}
			out = append(out, parts)
			return false
		}
		return true
	})
	return out
}
