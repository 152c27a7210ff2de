package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/sqlguard"
)

// Resolve finds, for what a validated statement names ([sqlguard.Lookup]),
// every piece of code outside pg_catalog PostgreSQL might run for it, with
// the facts [sqlguard.Verdict.Judge] decides on. Run it in the call's own
// transaction, after its search_path is set (pg.Pool.Do does both), so that
// names resolve as they will for the statement.
//
// It over-approximates on purpose: it cannot know the types PostgreSQL
// infers for each expression, so a function or operator of the statement's
// name counts when its argument count or arity fits, a cast when its source
// type is in play (a column type of a relation the statement uses, a type
// it names, or a built-in type), and a domain when the statement casts to
// it or writes a column of it. A candidate that would not really be picked
// costs a refusal with a way out (qualify the built-in with pg_catalog),
// never a run of code nobody checked.
//
// Cost: one round trip (a batch of at most two small catalog queries: the
// functions and operators of the statement's names, left out when it names
// none, and the casts and domain constraints and defaults backed by code
// outside pg_catalog, which most databases do not have); a second round
// trip, which expands the statement's types, only when the database has
// such casts or domains. Nothing when l is empty. Every query starts from
// an index (names, or OIDs at or above [firstNormalOID]) and computes the
// facts of a candidate only for the rows it returns, so a database without
// such code answers from a few index pages.
func Resolve(ctx context.Context, q Querier, l *sqlguard.Lookup) ([]sqlguard.Candidate, error) {
	return resolve(ctx, q, l, namedCodeSQL, hotCodeSQL)
}

// resolve is Resolve with the two catalog queries given (the tests run the
// previous definitions through it, to compare).
func resolve(ctx context.Context, q Querier, l *sqlguard.Lookup, namedSQL, hotSQL string) ([]sqlguard.Candidate, error) {
	if l.Empty() {
		return nil, nil
	}
	var names, fields, ops []string
	for _, f := range l.Functions {
		names = append(names, f.Name)
	}
	for _, f := range l.Fields {
		fields = append(fields, f.Name)
	}
	for _, o := range l.Operators {
		ops = append(ops, o.Name)
	}
	var named []namedCode
	var hot []hotCode
	var sections []section
	// Without names (a plain SELECT … FROM t) no function or operator can
	// be a candidate: the query would find nothing.
	if len(names)+len(fields)+len(ops) > 0 {
		sections = append(sections, section{
			name: "functions and operators",
			sql:  namedSQL,
			args: []any{names, fields, ops},
			scan: func(rows pgx.Rows) error {
				for rows.Next() {
					var c namedCode
					if err := rows.Scan(&c.kind, &c.name, &c.nargs, &c.defaults, &c.variadic, &c.prefix, &c.userArgs, &c.via,
						&c.fn.Function, &c.fn.Schema, &c.fn.Language, &c.fn.Extension); err != nil {
						return err
					}
					named = append(named, c)
				}
				return rows.Err()
			},
		})
	}
	sections = append(sections, section{
		name: "casts and domains",
		sql:  hotSQL,
		scan: func(rows pgx.Rows) error {
			for rows.Next() {
				var h hotCode
				if err := rows.Scan(&h.kind, &h.source, &h.target, &h.context, &h.builtinSource, &h.via,
					&h.fn.Function, &h.fn.Schema, &h.fn.Language, &h.fn.Extension); err != nil {
					return err
				}
				hot = append(hot, h)
			}
			return rows.Err()
		},
	})
	if err := runSections(ctx, q, sections); err != nil {
		return nil, fmt.Errorf("looking up the statement's functions, operators and types: %w", err)
	}

	// What the statement's types and relations hold is needed only when
	// some code outside pg_catalog depends on a type: a cast, a domain, or
	// a function or operator of one of the statement's names taking a type
	// that is not built-in.
	need := len(hot) > 0
	for _, c := range named {
		for _, a := range c.userArgs {
			need = need || a != 0
		}
	}
	p := &play{named: map[uint32]string{}, inPlay: map[uint32]string{}, written: map[uint32]string{}}
	if need && len(l.Types)+len(l.Relations) > 0 {
		var err error
		if p, err = typesInPlay(ctx, q, l); err != nil {
			return nil, fmt.Errorf("looking up the statement's types: %w", err)
		}
	}
	var found []sqlguard.Candidate
	for _, c := range named {
		found = append(found, c.match(l, p, hot)...)
	}
	for _, h := range hot {
		found = append(found, p.candidates(h)...)
	}
	return found, nil
}

// namedCode is a function or operator outside pg_catalog that has one of
// the statement's names.
type namedCode struct {
	kind             string // function, field or operator
	name             string
	nargs, defaults  int
	variadic, prefix bool
	// userArgs are the argument types by position (an operator's left
	// and right; a prefix operator's right only), 0 for a built-in type.
	userArgs []uint32
	via      string
	fn       sqlguard.Candidate // Function, Schema, Language, Extension
}

// match turns c into the candidates for the Lookup entries it answers: a
// function whose argument count fits a call, an operator of the same
// arity, a one-argument function for a field. A function or operator is no
// candidate for a use whose arguments cannot have its types: an argument
// of a type that is not built-in must either be left open by the use (a
// literal, a parameter) or be a type the statement has in play, or one an
// implicit cast outside pg_catalog leads to.
func (c namedCode) match(l *sqlguard.Lookup, p *play, hot []hotCode) []sqlguard.Candidate {
	cand := c.fn
	cand.Name, cand.Via = c.name, c.via
	var out []sqlguard.Candidate
	add := func(kind sqlguard.CandidateKind) {
		cand.Kind = kind
		out = append(out, cand)
	}
	switch c.kind {
	case "function":
		for _, f := range l.Functions {
			if f.Name == c.name && c.takes(f.Args) && c.fits(f.Open, p, hot) {
				add(sqlguard.CandidateFunction)
				break
			}
		}
		for _, f := range l.Fields {
			if f.Name == c.name && c.takes(1) {
				add(sqlguard.CandidateField)
				break
			}
		}
	case "operator":
		for _, o := range l.Operators {
			if o.Name == c.name && o.Prefix == c.prefix && c.fits(o.Open, p, hot) {
				add(sqlguard.CandidateOperator)
				break
			}
		}
	}
	return out
}

// fits reports whether the use's arguments (open marks them as for
// sqlguard.FunctionRef) may have c's argument types.
func (c namedCode) fits(open string, p *play, hot []hotCode) bool {
	for i, t := range c.userArgs {
		if t == 0 || i >= len(open) || open[i] == 'u' {
			continue
		}
		if _, ok := p.inPlay[t]; ok {
			continue
		}
		into := false
		for _, h := range hot {
			if h.kind == "cast" && h.target == t && h.context == "i" {
				_, fromPlay := p.inPlay[h.source]
				into = into || fromPlay || h.builtinSource
			}
		}
		if !into {
			return false // no value of the statement's can have type t
		}
	}
	return true
}

// takes reports whether the function accepts n arguments.
func (c namedCode) takes(n int) bool {
	return (n >= c.nargs-c.defaults && n <= c.nargs) || (c.variadic && n >= c.nargs-1)
}

// firstNormalOID is PostgreSQL's FirstNormalObjectId: every object created
// after initdb has an OID at or above it (the OID counter starts there and,
// when it wraps around, starts there again; only initdb and a superuser's
// single-user backend hand out lower ones). pg_catalog's objects and
// initdb's own (information_schema) lie below it. The lookup's queries use
// it to reach casts, operators and domains that users created through an
// index instead of reading every one: none of initdb's own is backed by
// code outside pg_catalog, which resolve_test.go checks on the test
// databases against the queries' previous definitions, which had no such
// bound.
const firstNormalOID = `16384::pg_catalog.oid`

// namedCodeSQL lists the functions outside pg_catalog named $1 or $2 (a
// field: a one-argument call) and the code behind the operators named $3
// (with their commutators and negators, which the planner may use instead),
// in the schemas of the search path. Every operator in these queries
// compares values of one type and every function and type is qualified, so
// an operator or function the database's users put in public cannot take
// them over: pg_catalog's exact match always wins.
//
// Functions are found by name through pg_proc's name index. The names
// arrive through scalar subqueries, so that the planner estimates the same
// plan whatever they hold: a prepared statement then settles on its cached
// generic plan (with the arrays as plain parameters it kept planning a
// custom plan per call, and with an OR of two arrays the generic plan read
// all of pg_proc). An argument type is looked up by OID (a hash join would
// read all of pg_type for every row found). Operators outside pg_catalog are all created by users (initdb
// makes none), so they are found among those at or above firstNormalOID,
// which a database without operators of its own has none of; the planner
// reads them by name instead when there are many.
const namedCodeSQL = `SELECT code.kind, code.name::pg_catalog.text, code.nargs, code.defaults, code.variadic, code.prefix,
       ARRAY(SELECT CASE WHEN t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace::pg_catalog.oid THEN 0::pg_catalog.oid ELSE t.oid END
               FROM ROWS FROM (pg_catalog.unnest(code.args)) WITH ORDINALITY AS a(oid, n)
              CROSS JOIN LATERAL (SELECT t.oid, t.typnamespace FROM pg_catalog.pg_type t WHERE t.oid = a.oid OFFSET 0) t
              ORDER BY a.n),
       code.via, facts.*
  FROM (
	SELECT 'function' AS kind, p.proname AS name, p.pronargs::pg_catalog.int4 AS nargs, p.pronargdefaults::pg_catalog.int4 AS defaults,
	       p.provariadic <> 0::pg_catalog.oid AS variadic, false AS prefix, p.proargtypes::pg_catalog.oid[] AS args, '' AS via, p.oid AS fn
	  FROM pg_catalog.pg_proc p
	 WHERE p.proname = ANY ((SELECT $1::pg_catalog.name[] || $2::pg_catalog.name[])::pg_catalog.name[]) AND p.pronamespace = ANY (` + pathSQL + `)
	UNION ALL
	SELECT 'operator', o.oprname, 0, 0, false, o.oprleft = 0::pg_catalog.oid, ARRAY[x.oprleft, x.oprright],
	       'operator ' || x.oid::pg_catalog.regoperator::pg_catalog.text, x.oprcode::pg_catalog.oid
	  FROM pg_catalog.pg_operator o
	  JOIN pg_catalog.pg_operator x ON x.oid IN (o.oid, o.oprcom, o.oprnegate)
	 WHERE o.oprname = ANY ((SELECT $3::pg_catalog.name[])::pg_catalog.name[]) AND o.oid >= ` + firstNormalOID + `
	   AND o.oprnamespace = ANY (` + pathSQL + `)
  ) code
 CROSS JOIN LATERAL (` + codeFacts + `) facts`

// pathSQL is the schemas of the search path but pg_catalog, as an array of
// OIDs (computed once per query).
const pathSQL = `ARRAY(SELECT n.oid FROM pg_catalog.pg_namespace n
	                 WHERE n.nspname = ANY (pg_catalog.current_schemas(true)) AND n.nspname <> 'pg_catalog')`

// codeFacts is a LATERAL subquery with the facts of the function code.fn
// when it is outside pg_catalog (no row otherwise): its signature as
// regprocedure prints it, its schema, its language, and whether it is a
// member of an extension owned by a superuser. OFFSET 0 keeps it a
// subquery, so it is planned once, small, and runs only for the rows found
// (the planner would otherwise plan it into every branch's join).
const codeFacts = `
	SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text, n.nspname::pg_catalog.text, l.lanname::pg_catalog.text,
	       EXISTS (SELECT FROM pg_catalog.pg_depend e
	                WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid AND e.objid = p.oid AND e.deptype = 'e')
	         AND coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = p.proowner), false)
	  FROM pg_catalog.pg_proc p
	  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
	  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
	 WHERE p.oid = code.fn AND n.nspname <> 'pg_catalog'
	OFFSET 0`

// hotCode is a cast or a domain constraint or default backed by a function
// outside pg_catalog.
type hotCode struct {
	kind           string // cast or domain
	source, target uint32 // cast: source and target types; domain: the domain (source)
	context        string // cast: i (implicit), a (assignment), e (explicit)
	builtinSource  bool   // cast: the source type is in pg_catalog
	via            string
	fn             sqlguard.Candidate
}

// hotCodeSQL lists every cast whose function is outside pg_catalog and
// every function outside pg_catalog that a domain's CHECK constraint or
// default calls (through an operator, too: a default's operator was missed
// before issue #14's round, see TestResolveDomainDefaultThroughOperator). pg_depend records no
// dependency on a built-in (pinned) object, so what it lists is never
// pg_catalog's own. Casts, domain constraints and domains that users made
// have OIDs at or above firstNormalOID (initdb's own call only pg_catalog's
// code), so each part is an index range scan that finds nothing in a
// database without them; domain constraints are read through their
// contypid index (table constraints have none).
const hotCodeSQL = `SELECT code.kind, code.source, code.target, code.context,
       code.kind = 'cast' AND EXISTS (SELECT FROM pg_catalog.pg_type t
                                       WHERE t.oid = code.source AND t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace::pg_catalog.oid),
       CASE WHEN code.kind = 'cast' THEN 'cast from ' || pg_catalog.format_type(code.source, NULL) || ' to ' || pg_catalog.format_type(code.target, NULL)
            WHEN code.conname IS NOT NULL THEN 'CHECK constraint ' || pg_catalog.quote_ident(code.conname::pg_catalog.text) || ' of domain ' || code.source::pg_catalog.regtype::pg_catalog.text
            ELSE 'default of domain ' || code.source::pg_catalog.regtype::pg_catalog.text END,
       facts.*
  FROM (
	SELECT 'cast' AS kind, c.castsource AS source, c.casttarget AS target, c.castcontext::pg_catalog.text AS context,
	       c.castfunc AS fn, NULL::pg_catalog.name AS conname
	  FROM pg_catalog.pg_cast c
	 WHERE c.oid >= ` + firstNormalOID + ` AND c.castfunc <> 0::pg_catalog.oid
	UNION ALL
	SELECT 'domain', k.contypid, 0::pg_catalog.oid, '',
	       CASE WHEN d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid THEN d.refobjid
	            ELSE (SELECT o.oprcode::pg_catalog.oid FROM pg_catalog.pg_operator o WHERE o.oid = d.refobjid) END,
	       k.conname
	  FROM pg_catalog.pg_constraint k
	  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass::pg_catalog.oid AND d.objid = k.oid
	   AND d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid, 'pg_catalog.pg_operator'::pg_catalog.regclass::pg_catalog.oid)
	 WHERE k.contypid > 0::pg_catalog.oid AND k.oid >= ` + firstNormalOID + `
	UNION ALL
	SELECT 'domain', t.oid, 0::pg_catalog.oid, '',
	       CASE WHEN d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid THEN d.refobjid
	            ELSE (SELECT o.oprcode::pg_catalog.oid FROM pg_catalog.pg_operator o WHERE o.oid = d.refobjid) END,
	       NULL
	  FROM pg_catalog.pg_type t
	  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid AND d.objid = t.oid
	   AND d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid, 'pg_catalog.pg_operator'::pg_catalog.regclass::pg_catalog.oid)
	 WHERE t.oid >= ` + firstNormalOID + ` AND t.typtype = 'd' AND t.typdefaultbin IS NOT NULL
  ) code
 CROSS JOIN LATERAL (` + codeFacts + `) facts`

// play is what the statement's types and relations hold: per type oid, the
// Lookup entries it comes from.
type play struct {
	named   map[uint32]string // types the statement names (and what they hold)
	inPlay  map[uint32]string // those and the relations' row and column types (and what they hold)
	written map[uint32]string // column types of the relations it writes (and what they hold)
	writes  bool
}

// candidates says which Lookup entries h may run for.
func (p *play) candidates(h hotCode) []sqlguard.Candidate {
	c := h.fn
	c.Via = h.via
	var out []sqlguard.Candidate
	add := func(kind sqlguard.CandidateKind, name string) {
		c.Kind, c.Name = kind, name
		out = append(out, c)
	}
	switch h.kind {
	case "cast":
		implicit := h.context == "i" || (h.context == "a" && p.writes)
		switch name, ok := p.inPlay[h.source]; {
		case implicit && ok:
			add(sqlguard.CandidateCast, name) // converts a value of a type in play
		case implicit && h.builtinSource && p.inPlay[h.target] != "":
			add(sqlguard.CandidateCast, p.inPlay[h.target]) // into a type in play
		}
		if name, ok := p.named[h.target]; ok && (p.inPlay[h.source] != "" || h.builtinSource) {
			add(sqlguard.CandidateCast, name) // an explicit cast to a type the statement names
		}
	case "domain":
		if name, ok := p.named[h.source]; ok {
			add(sqlguard.CandidateDomain, name)
		} else if name, ok := p.written[h.source]; ok {
			add(sqlguard.CandidateDomain, name)
		}
	}
	return out
}

// typesInPlay resolves the statement's types and relations as the parser
// would (through the session's search_path) and expands them: array types to their elements,
// domains to their base types, composite types (a relation's row type
// included) to their columns' types, a few levels deep.
func typesInPlay(ctx context.Context, q Querier, l *sqlguard.Lookup) (*play, error) {
	var tySchemas, tyNames, relSchemas, relNames []string
	var relWrite []bool
	for _, t := range l.Types {
		tySchemas, tyNames = append(tySchemas, t.Schema), append(tyNames, t.Name)
	}
	p := &play{named: map[uint32]string{}, inPlay: map[uint32]string{}, written: map[uint32]string{}}
	for _, r := range l.Relations {
		relSchemas, relNames, relWrite = append(relSchemas, r.Schema), append(relNames, r.Name), append(relWrite, r.Write)
		p.writes = p.writes || r.Write
	}
	rows, err := q.Query(ctx, playSQL, tySchemas, tyNames, relSchemas, relNames, relWrite, l.Rows)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		var oid uint32
		var named, written bool
		if err := rows.Scan(&name, &oid, &named, &written); err != nil {
			rows.Close()
			return nil, err
		}
		keep := func(m map[uint32]string) {
			if _, ok := m[oid]; !ok {
				m[oid] = name
			}
		}
		keep(p.inPlay)
		if named {
			keep(p.named)
		}
		if written {
			keep(p.written)
		}
	}
	return p, rows.Err()
}

// playSQL returns (entry name, type oid, named by the statement, written)
// for every type the statement's types ($1 schemas, $2 names) and
// relations ($3 schemas, $4 names, $5 written; $6: rows used as values)
// hold.
const playSQL = `WITH RECURSIVE
path AS (
	SELECT s.nspname, s.ord FROM ROWS FROM (pg_catalog.unnest(pg_catalog.current_schemas(true))) WITH ORDINALITY AS s(nspname, ord)
),
ty AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) WITH ORDINALITY AS t(schema, name, i)),
re AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[]), pg_catalog.unnest($5::pg_catalog.bool[])) WITH ORDINALITY AS r(schema, name, write, i)),
-- Names resolve as the parser resolves them (the first schema of the
-- search path that has one, or the schema given), read from the catalogs
-- directly: no privilege on the schema is needed to be refused.
root(name, oid, named, written) AS (
	(SELECT DISTINCT ON (t.i) CASE WHEN t.schema = '' THEN t.name ELSE t.schema || '.' || t.name END, y.oid, true, false
	   FROM ty t
	   JOIN pg_catalog.pg_type y ON y.typname = t.name
	   JOIN pg_catalog.pg_namespace n ON n.oid = y.typnamespace
	   LEFT JOIN path p ON p.nspname = n.nspname
	  WHERE CASE WHEN t.schema = '' THEN p.ord IS NOT NULL ELSE n.nspname = t.schema END
	  ORDER BY t.i, p.ord)
	UNION ALL
	(SELECT DISTINCT ON (r.i) CASE WHEN r.schema = '' THEN r.name ELSE r.schema || '.' || r.name END, c.reltype, false, r.write
	   FROM re r
	   JOIN pg_catalog.pg_class c ON c.relname = r.name
	   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	   LEFT JOIN path p ON p.nspname = n.nspname
	  WHERE CASE WHEN r.schema = '' THEN p.ord IS NOT NULL ELSE n.nspname = r.schema END
	  ORDER BY r.i, p.ord)
),
held(name, oid, named, written, depth) AS (
	SELECT name, oid, named, written, 0 FROM root WHERE oid <> 0::pg_catalog.oid
	UNION
	SELECT h.name, y.next, h.named, h.written, h.depth + 1 FROM held h CROSS JOIN LATERAL (
		SELECT t.typelem AS next FROM pg_catalog.pg_type t WHERE t.oid = h.oid AND t.typelem <> 0::pg_catalog.oid AND t.typlen = -1
		UNION ALL SELECT t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid = h.oid AND t.typtype = 'd'
		UNION ALL SELECT a.atttypid FROM pg_catalog.pg_type t JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid
		 WHERE t.oid = h.oid AND t.typrelid <> 0::pg_catalog.oid AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL SELECT g.rngsubtype FROM pg_catalog.pg_range g WHERE g.rngtypid = h.oid
		UNION ALL SELECT g.rngtypid FROM pg_catalog.pg_range g WHERE g.rngmultitypid = h.oid
	) y WHERE h.depth < 6
)
-- A relation's row type itself (depth 0, not named) only when the
-- statement uses rows as values ($6); its columns' types always.
SELECT DISTINCT h.name, h.oid, h.named, h.written FROM held h
 WHERE h.named OR h.depth > 0 OR $6::pg_catalog.bool
 ORDER BY 1, 2`
