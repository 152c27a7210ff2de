package advisor

import (
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// use is what one query does with one occurrence of a table: the columns
// it compares with constants (equality, ranges), joins on, sorts and groups
// by, and reads.
type use struct {
	rel   *relRef
	eq    []*column
	rng   []*column
	join  []*column
	order []orderKey
	group []*column
	refs  []*column
	star  bool
	limit bool
	lits  []litPred
}

type orderKey struct {
	col        *column
	desc       bool
	nullsFirst *bool // explicit NULLS FIRST/LAST, nil for the default
}

// litPred is a constant predicate a partial index could be limited to.
type litPred struct {
	col      *column
	sql      string  // the predicate as SQL: status = 'pending', deleted_at IS NULL
	sel      float64 // estimated share of rows that satisfy it; -1 unknown
	nullTest bool    // IS NULL / IS NOT NULL
}

func addCol(list []*column, c *column) []*column {
	if c == nil || slices.Contains(list, c) {
		return list
	}
	return append(list, c)
}

// analyzeUses resolves the query's relations (cat must hold them) and
// collects one use per table occurrence.
func analyzeUses(root *level, cat *catalog) []*use {
	uses := map[*relRef]*use{}
	var order []*relRef
	var walk func(l *level)
	walk = func(l *level) {
		for _, r := range l.rels {
			r.table = cat.byName[refKey(r)]
			if r.table != nil && (r.table.kind == "r" || r.table.kind == "m" || r.table.kind == "p") && !systemSchema(r.table.schema) {
				uses[r] = &use{rel: r}
				order = append(order, r)
			}
		}
		for _, k := range l.kids {
			walk(k)
		}
	}
	walk(root)
	var facts func(l *level)
	facts = func(l *level) {
		l.collect(uses)
		for _, k := range l.kids {
			facts(k)
		}
	}
	facts(root)
	out := make([]*use, 0, len(order))
	for _, r := range order {
		out = append(out, uses[r])
	}
	return out
}

// resolve finds the table occurrence and column a reference names,
// looking in l and then in the levels around it (correlated references).
// local says whether it was found in l itself.
func (l *level) resolve(parts []string) (r *relRef, c *column, local bool) {
	if len(parts) == 0 {
		return nil, nil, false
	}
	name := parts[len(parts)-1]
	for s, first := l, true; s != nil; s, first = s.parent, false {
		var hits []*relRef
		for _, rel := range s.rels {
			if rel.table == nil {
				continue
			}
			switch len(parts) {
			case 1:
			case 2:
				if (rel.alias != "" && rel.alias != parts[0]) || (rel.alias == "" && rel.name != parts[0]) {
					continue
				}
			default:
				if rel.alias != "" || rel.name != parts[len(parts)-2] || rel.table.schema != parts[len(parts)-3] {
					continue
				}
			}
			if name == "*" {
				hits = append(hits, rel)
				continue
			}
			if _, ok := rel.table.cols[name]; ok {
				hits = append(hits, rel)
			}
		}
		if len(hits) == 1 {
			if name == "*" {
				return hits[0], nil, first
			}
			return hits[0], hits[0].table.cols[name], first
		}
		if len(hits) > 1 || (len(parts) > 1 && hasRel(s, parts)) {
			return nil, nil, false // ambiguous, or a qualifier of this level without that column
		}
	}
	return nil, nil, false
}

func hasRel(l *level, parts []string) bool {
	for _, rel := range l.rels {
		if rel.alias == parts[len(parts)-2] || (rel.alias == "" && rel.name == parts[len(parts)-2]) {
			return true
		}
	}
	return false
}

// local returns the table occurrence and column of n when n is a plain
// column of this level.
func (l *level) local(n *pg_query.Node) (*relRef, *column) {
	parts := columnRef(n)
	if parts == nil {
		return nil, nil
	}
	r, c, local := l.resolve(parts)
	if !local || c == nil {
		return nil, nil
	}
	return r, c
}

// constant reports whether n reads no column of this level (a constant, a
// parameter, or an outer query's column), and whether it reads an outer
// column (a correlation, which indexes like a join key).
func (l *level) constant(n *pg_query.Node) (constant, outer bool) {
	for _, parts := range columnRefsIn(n) {
		_, _, local := l.resolve(parts)
		if local {
			return false, false
		}
		outer = true
	}
	return true, outer
}

// collect records this level's facts in the uses of its table
// occurrences (and of outer ones its columns reference).
func (l *level) collect(uses map[*relRef]*use) {
	get := func(r *relRef) *use { return uses[r] }
	// Every column read anywhere in the level.
	for _, e := range l.exprs {
		for _, parts := range columnRefsIn(e) {
			r, c, _ := l.resolve(parts)
			if u := get(r); u != nil {
				if c == nil {
					u.star = true
				} else {
					u.refs = addCol(u.refs, c)
				}
			}
		}
	}
	if l.star {
		for _, r := range l.rels {
			if u := get(r); u != nil {
				u.star = true
			}
		}
	}
	for _, r := range l.rels {
		if u := get(r); u != nil {
			u.limit = l.limit
		}
	}
	for _, cond := range l.conds {
		l.condition(cond, get)
	}
	// ORDER BY and GROUP BY help an index only when every key is a column
	// of the same table occurrence.
	if len(l.sort) > 0 {
		var keys []orderKey
		var owner *relRef
		ok := true
		for _, sb := range l.sort {
			r, c := l.local(sb.Node)
			if c == nil || (owner != nil && r != owner) {
				ok = false
				break
			}
			owner = r
			k := orderKey{col: c, desc: sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC}
			switch sb.SortbyNulls {
			case pg_query.SortByNulls_SORTBY_NULLS_FIRST:
				t := true
				k.nullsFirst = &t
			case pg_query.SortByNulls_SORTBY_NULLS_LAST:
				f := false
				k.nullsFirst = &f
			}
			keys = append(keys, k)
		}
		if u := get(owner); ok && u != nil {
			u.order = keys
		}
	}
	if len(l.group) > 0 {
		var cols []*column
		var owner *relRef
		ok := true
		for _, g := range l.group {
			r, c := l.local(g)
			if c == nil || (owner != nil && r != owner) {
				ok = false
				break
			}
			owner = r
			cols = addCol(cols, c)
		}
		if u := get(owner); ok && u != nil {
			u.group = cols
		}
	}
}

// condition classifies one conjunct.
func (l *level) condition(cond *pg_query.Node, get func(*relRef) *use) {
	switch {
	case cond.GetAExpr() != nil:
		e := cond.GetAExpr()
		op := opName(e)
		switch e.Kind {
		case pg_query.A_Expr_Kind_AEXPR_OP:
			if op != "=" && op != "<" && op != ">" && op != "<=" && op != ">=" {
				return
			}
			lr, lc := l.local(e.Lexpr)
			rr, rc := l.local(e.Rexpr)
			if lc != nil && rc != nil {
				if op == "=" && lr != rr {
					if u := get(lr); u != nil {
						u.join = addCol(u.join, lc)
					}
					if u := get(rr); u != nil {
						u.join = addCol(u.join, rc)
					}
				}
				return
			}
			col, rel, other := lc, lr, e.Rexpr
			if col == nil {
				col, rel, other = rc, rr, e.Lexpr
				op = flip(op)
			}
			u := get(rel)
			if col == nil || u == nil {
				return
			}
			isConst, outer := l.constant(other)
			if !isConst {
				return
			}
			switch {
			case op == "=" && outer:
				u.join = addCol(u.join, col)
			case op == "=":
				u.eq = addCol(u.eq, col)
				if sql, value, ok := literal(other); ok {
					u.lits = append(u.lits, litPred{col: col, sql: col.quoted + " = " + sql, sel: col.selectivity(value)})
				}
			default:
				u.rng = addCol(u.rng, col)
			}
		case pg_query.A_Expr_Kind_AEXPR_OP_ANY, pg_query.A_Expr_Kind_AEXPR_IN:
			if op != "=" {
				return
			}
			if r, c := l.local(e.Lexpr); c != nil {
				if isConst, _ := l.constant(e.Rexpr); isConst {
					if u := get(r); u != nil {
						u.eq = addCol(u.eq, c)
					}
				}
			}
		case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM:
			if r, c := l.local(e.Lexpr); c != nil {
				if isConst, _ := l.constant(e.Rexpr); isConst {
					if u := get(r); u != nil {
						u.rng = addCol(u.rng, c)
					}
				}
			}
		}
	case cond.GetNullTest() != nil:
		nt := cond.GetNullTest()
		r, c := l.local(nt.Arg)
		u := get(r)
		if u == nil {
			return
		}
		if nt.Nulltesttype == pg_query.NullTestType_IS_NULL {
			u.eq = addCol(u.eq, c)
			u.lits = append(u.lits, litPred{col: c, sql: c.quoted + " IS NULL", sel: nullSel(c), nullTest: true})
		} else {
			sel := -1.0
			if c.hasStats {
				sel = 1 - c.nullFrac
			}
			u.lits = append(u.lits, litPred{col: c, sql: c.quoted + " IS NOT NULL", sel: sel, nullTest: true})
		}
	case cond.GetBooleanTest() != nil:
		bt := cond.GetBooleanTest()
		r, c := l.local(bt.Arg)
		if u := get(r); u != nil && (bt.Booltesttype == pg_query.BoolTestType_IS_TRUE || bt.Booltesttype == pg_query.BoolTestType_IS_FALSE) {
			v := bt.Booltesttype == pg_query.BoolTestType_IS_TRUE
			l.boolColumn(u, c, v)
		}
	case cond.GetColumnRef() != nil:
		r, c := l.local(cond)
		if u := get(r); u != nil && c.typ == "boolean" {
			l.boolColumn(u, c, true)
		}
	case cond.GetBoolExpr() != nil && cond.GetBoolExpr().Boolop == pg_query.BoolExprType_NOT_EXPR && len(cond.GetBoolExpr().Args) == 1:
		r, c := l.local(cond.GetBoolExpr().Args[0])
		if u := get(r); u != nil && c.typ == "boolean" {
			l.boolColumn(u, c, false)
		}
	}
}

func (l *level) boolColumn(u *use, c *column, v bool) {
	u.eq = addCol(u.eq, c)
	sql := c.quoted
	value := "true"
	if !v {
		sql, value = "NOT "+c.quoted, "false"
	}
	u.lits = append(u.lits, litPred{col: c, sql: sql, sel: c.selectivity(value)})
}

// systemSchema: the catalogs cannot get indexes.
func systemSchema(s string) bool {
	return s == "pg_catalog" || s == "information_schema" || strings.HasPrefix(s, "pg_toast")
}

func nullSel(c *column) float64 {
	if !c.hasStats {
		return -1
	}
	return c.nullFrac
}

// flip mirrors a comparison: 5 < x is x > 5.
func flip(op string) string {
	switch op {
	case "<":
		return ">"
	case ">":
		return "<"
	case "<=":
		return ">="
	case ">=":
		return "<="
	}
	return op
}
