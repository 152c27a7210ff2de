package advisor

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// candidate is a hypothetical index the search may pick.
type candidate struct {
	id       int
	t        *table
	keys     []*column
	desc     []bool // per key: DESC (only when an ORDER BY mixes directions)
	include  []*column
	where    string  // partial index predicate, SQL
	whereSel float64 // share of rows it keeps
	why      []string
	def      string // CREATE INDEX statement hypopg simulates
	bytes    int64  // hypopg's size estimate
	queries  []int  // queries that suggested it
}

const (
	maxKeyColumns     = 4
	maxIncludeColumns = 4
	// partialMaxShare: a constant predicate keeping at most this share of
	// the rows is worth a partial index.
	partialMaxShare = 0.2
	// partialMaxDistinct: only constants on columns with few values (a
	// state, a type, a flag) make partial indexes; one per value of an id
	// would be absurd. IS [NOT] NULL always qualifies.
	partialMaxDistinct = 100
)

// generator builds candidates for the uses of every query, deduplicated.
type generator struct {
	byDef map[string]*candidate
	list  []*candidate
}

func newGenerator() *generator { return &generator{byDef: map[string]*candidate{}} }

// add registers the candidate (keys, include, where) for query qi.
func (g *generator) add(qi int, t *table, keys []*column, desc []bool, include []*column, where string, whereSel float64, why string) {
	keys = uniqueCols(keys)
	if len(keys) == 0 || len(keys) > maxKeyColumns {
		return
	}
	for _, k := range keys {
		if !k.btree {
			return
		}
	}
	include = slices.DeleteFunc(uniqueCols(include), func(c *column) bool { return slices.Contains(keys, c) })
	if len(include) > maxIncludeColumns {
		return
	}
	if served(t, keys, desc, include, where) {
		return
	}
	def := definition(t, keys, desc, include, where)
	c := g.byDef[def]
	if c == nil {
		c = &candidate{id: len(g.list), t: t, keys: keys, desc: desc, include: include, where: where, whereSel: whereSel, def: def}
		g.byDef[def] = c
		g.list = append(g.list, c)
	}
	if !slices.Contains(c.queries, qi) {
		c.queries = append(c.queries, qi)
	}
	if why != "" && !slices.Contains(c.why, why) {
		c.why = append(c.why, why)
	}
}

func uniqueCols(cols []*column) []*column {
	var out []*column
	for _, c := range cols {
		if c != nil && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// definition is the CREATE INDEX text hypopg simulates.
func definition(t *table, keys []*column, desc []bool, include []*column, where string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE INDEX ON %s USING btree (%s)", t.qname, keyList(keys, desc))
	if len(include) > 0 {
		fmt.Fprintf(&b, " INCLUDE (%s)", colList(include))
	}
	if where != "" {
		fmt.Fprintf(&b, " WHERE %s", where)
	}
	return b.String()
}

func keyList(keys []*column, desc []bool) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.quoted
		if i < len(desc) && desc[i] {
			parts[i] += " DESC"
		}
	}
	return strings.Join(parts, ", ")
}

func colList(cols []*column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.quoted
	}
	return strings.Join(parts, ", ")
}

// served reports whether a valid index of t already starts with keys (in
// order and direction), carries the included columns, and is not partial
// (or the candidate is partial too, with the same predicate).
func served(t *table, keys []*column, desc []bool, include []*column, where string) bool {
	for _, ix := range t.indexes {
		if !ix.valid || ix.am != "btree" || ix.exprs || len(ix.keys) < len(keys) {
			continue
		}
		if ix.pred != "" && ix.pred != where {
			continue
		}
		if where != "" && ix.pred == "" {
			continue // a partial index is smaller than what exists: let the costs decide
		}
		match := true
		for i, k := range keys {
			want := k.quoted
			if i < len(desc) && desc[i] {
				want += " DESC"
			}
			if ix.keys[i] != want {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		have := append(slices.Clone(ix.keys), ix.includes...)
		ok := true
		for _, c := range include {
			if !slices.Contains(have, c.quoted) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// generate adds the candidates one query's use of a table suggests:
// equality columns first (most selective first), then one range column;
// ORDER BY and GROUP BY keys after the equality columns; join keys; each
// of those alone; a covering variant (INCLUDE) of the main ones when the
// query reads few other columns; and a partial variant when the query has
// a selective constant predicate.
func (g *generator) generate(qi int, u *use) {
	t := u.rel.table
	eq := slices.Clone(u.eq)
	slices.SortStableFunc(eq, func(a, b *column) int { return cmp.Compare(b.distinct, a.distinct) })
	if len(eq) > 3 {
		eq = eq[:3]
	}
	type keyset struct {
		keys []*column
		desc []bool
		why  string
		main bool // worth a covering and a partial variant
	}
	var sets []keyset
	add := func(keys []*column, desc []bool, why string, main bool) {
		sets = append(sets, keyset{keys, desc, why, main})
	}
	names := func(cs []*column) string {
		n := make([]string, len(cs))
		for i, c := range cs {
			n[i] = c.quoted
		}
		return strings.Join(n, ", ")
	}
	if len(eq) > 0 {
		add(eq, nil, "equality on "+names(eq), len(u.rng) == 0)
	}
	for i, r := range u.rng {
		if i == 2 {
			break
		}
		if len(eq) > 0 {
			add(append(slices.Clone(eq), r), nil, fmt.Sprintf("equality on %s, then the range on %s", names(eq), r.quoted), i == 0)
		}
		add([]*column{r}, nil, "range on "+r.quoted, len(eq) == 0 && i == 0)
	}
	if len(eq) > 1 {
		for _, e := range eq {
			add([]*column{e}, nil, "equality on "+e.quoted, false)
		}
	}
	for _, j := range u.join {
		add([]*column{j}, nil, "join key "+j.quoted, len(eq) == 0)
		if len(eq) > 0 {
			add(append([]*column{j}, eq...), nil, fmt.Sprintf("join key %s with equality on %s", j.quoted, names(eq)), true)
			add(append(slices.Clone(eq), j), nil, fmt.Sprintf("equality on %s, then join key %s", names(eq), j.quoted), false)
		}
	}
	if len(u.order) > 0 {
		ocols := make([]*column, len(u.order))
		mixed := false
		for i, o := range u.order {
			ocols[i] = o.col
			if o.desc != u.order[0].desc {
				mixed = true
			}
		}
		var desc []bool
		if mixed {
			desc = make([]bool, len(eq), len(eq)+len(u.order))
			for _, o := range u.order {
				desc = append(desc, o.desc)
			}
		}
		rest := slices.DeleteFunc(slices.Clone(ocols), func(c *column) bool { return slices.Contains(eq, c) })
		if len(rest) > 0 && (len(u.rng) == 0 || u.rng[0] == rest[0]) {
			why := "ORDER BY " + names(ocols)
			if u.limit {
				why += " … LIMIT (read in order, stop early)"
			}
			if len(eq) > 0 {
				d := desc
				if d != nil {
					d = d[:len(eq)+len(rest)]
				}
				add(append(slices.Clone(eq), rest...), d, "equality on "+names(eq)+", then "+why, true)
			}
			if u.limit || len(eq) == 0 {
				var d []bool
				if mixed {
					for _, o := range u.order {
						d = append(d, o.desc)
					}
				}
				add(ocols, d, why, len(eq) == 0)
			}
		}
	}
	if len(u.group) > 0 {
		add(u.group, nil, "GROUP BY "+names(u.group), len(eq) == 0)
		if len(eq) > 0 {
			rest := slices.DeleteFunc(slices.Clone(u.group), func(c *column) bool { return slices.Contains(eq, c) })
			add(append(slices.Clone(eq), rest...), nil, "equality on "+names(eq)+", then GROUP BY "+names(rest), false)
		}
	}

	for _, s := range sets {
		g.add(qi, t, s.keys, s.desc, nil, "", 1, s.why)
		if !s.main {
			continue
		}
		if !u.star {
			var rest []*column
			for _, c := range u.refs {
				if !slices.Contains(s.keys, c) {
					rest = append(rest, c)
				}
			}
			if len(rest) > 0 {
				g.add(qi, t, s.keys, s.desc, rest, "", 1, s.why+"; INCLUDE ("+names(rest)+") lets it answer from the index alone")
			}
		}
	}
	// Partial indexes: a selective constant predicate becomes the WHERE
	// clause and leaves the key to the other columns.
	for _, p := range u.lits {
		if p.sel < 0 || p.sel > partialMaxShare || (!p.nullTest && p.col.distinct > partialMaxDistinct) {
			continue
		}
		for _, s := range sets {
			if !s.main {
				continue
			}
			keys := slices.DeleteFunc(slices.Clone(s.keys), func(c *column) bool { return c == p.col })
			if len(keys) == 0 {
				continue
			}
			why := fmt.Sprintf("%s; partial: only rows where %s (~%.1f%% of the table)", s.why, p.sql, 100*p.sel)
			g.add(qi, t, keys, nil, nil, p.sql, p.sel, why)
			if !u.star {
				var rest []*column
				for _, c := range u.refs {
					if !slices.Contains(keys, c) && c != p.col {
						rest = append(rest, c)
					}
				}
				if len(rest) > 0 {
					g.add(qi, t, keys, nil, rest, p.sql, p.sel, why+"; INCLUDE ("+names(rest)+") lets it answer from the index alone")
				}
			}
		}
	}
}
