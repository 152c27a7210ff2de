package sqlguard

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/pgherd/pgherd/internal/access"
)

// Lookup is what a statement names that PostgreSQL resolves against the
// catalog, where the answer may be code the database's users wrote: an
// overload of an allow-listed function in public (a public.lower(t) picked
// for lower(t)), an operator, a cast, the CHECK constraint of a domain, a
// function called through attribute notation (t.f is f(t)). The validator
// cannot decide these from the text: the caller finds the candidates in the
// call's own transaction, with the session's search_path (package catalog
// does, with [catalog.Resolve]), and passes them to [Verdict.Judge].
//
// Every entry carries the 1-based character position of its first use.
type Lookup struct {
	// Functions are calls by unqualified name (a pg_catalog-qualified call
	// can only resolve to pg_catalog): every function of that name outside
	// pg_catalog, in a schema of the search path, that takes Args arguments
	// is a candidate.
	Functions []FunctionRef
	// Operators are operators by unqualified name, including those the
	// grammar implies (IN and CASE compare with =, BETWEEN with >= and <=,
	// LIKE is ~~).
	Operators []OperatorRef
	// Fields are names selected from a row value (t.f, (expr).f): when the
	// row has no column f, PostgreSQL calls f(row).
	Fields []FieldRef
	// Types are the types named in the statement (casts, column definition
	// lists): a cast to one of them, or a domain's CHECK, may run code.
	Types []TypeRef
	// Relations are the relations the statement reads or writes; their
	// column types take part in implicit casts, and writing a column of a
	// domain type runs the domain's CHECK.
	Relations []RelationRef
	// Rows is set when the statement uses a row as a value (a bare
	// reference to a FROM item, t.*): the relations' row types are then in
	// play too, and a function taking one may be called.
	Rows bool
}

// FunctionRef is a function called by unqualified name.
type FunctionRef struct {
	Name string
	Args int
	// Open marks, per argument, the ones whose type the call leaves to
	// PostgreSQL to choose ('u': a string or NULL literal, a parameter, a
	// ROW(…)), so that any overload may take them; '.' for the others,
	// whose type comes from the statement's relations, types and built-in
	// functions.
	Open     string
	Position int
}

// OperatorRef is an operator used by unqualified name.
type OperatorRef struct {
	Name   string
	Prefix bool // a prefix (unary) operator
	// Open is as for FunctionRef: one mark for a prefix operator, two
	// (left, right) otherwise.
	Open     string
	Position int
}

// FieldRef is a name selected from a row value.
type FieldRef struct {
	Name     string
	Position int
}

// TypeRef is a type named in the statement; Schema is "" when unqualified.
type TypeRef struct {
	Schema, Name string
	Position     int
}

// RelationRef is a relation the statement reads or writes; Schema is ""
// when unqualified (it resolves through the search path).
type RelationRef struct {
	Schema, Name string
	// Write: the statement assigns to its columns (INSERT, UPDATE, MERGE).
	Write    bool
	Position int
}

// Empty reports whether there is nothing to look up.
func (l *Lookup) Empty() bool {
	return l == nil || len(l.Functions)+len(l.Operators)+len(l.Fields)+len(l.Types)+len(l.Relations) == 0
}

// CandidateKind says how a [Candidate]'s code would run.
type CandidateKind int

// The ways code outside pg_catalog can run in a statement.
const (
	// CandidateFunction: a function the unqualified call may resolve to.
	CandidateFunction CandidateKind = iota + 1
	// CandidateOperator: the function behind an operator of that name.
	CandidateOperator
	// CandidateField: a function attribute notation may call.
	CandidateField
	// CandidateCast: a cast function (explicit to one of the statement's
	// types, or implicit from one of the types in play).
	CandidateCast
	// CandidateDomain: a function a domain's CHECK constraint or default
	// calls, for a value cast to the domain or written into a column of it.
	CandidateDomain
)

func (k CandidateKind) String() string {
	switch k {
	case CandidateFunction:
		return "function"
	case CandidateOperator:
		return "operator"
	case CandidateField:
		return "field"
	case CandidateCast:
		return "cast"
	case CandidateDomain:
		return "domain"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Candidate is code outside pg_catalog that one entry of a [Lookup] may
// run, with the facts [Verdict.Judge] decides on.
type Candidate struct {
	Kind CandidateKind
	// Name is the entry it answers: the function, operator or field name,
	// or the type or relation name as the Lookup has it (schema.name when
	// the statement qualified it).
	Name string
	// Via says how it comes to run, for the message: "operator
	// public.###(text,text)", "cast from public.priority to text", "CHECK
	// constraint of domain public.label_text".
	Via string
	// Function is the code that would run, as regprocedure prints it
	// (public.lower(accounts)).
	Function string
	// Schema is the schema of Function.
	Schema string
	// Language is Function's language (sql, plpgsql, c, internal, …).
	Language string
	// Extension is true when Function belongs to an extension and is owned
	// by a superuser: it was installed by an extension script a superuser
	// ran (or a superuser added it), not written by the database's users.
	Extension bool
}

// Trusted reports whether the code is the server's own: in pg_catalog,
// written in C or internal (only a superuser can create those: they are
// server code, such as an extension's), or a member of an extension owned
// by a superuser. A function reached through attribute notation is trusted
// only in pg_catalog: nobody means to call a function by naming a column.
func (c Candidate) Trusted() bool {
	if c.Schema == "pg_catalog" {
		return true
	}
	if c.Kind == CandidateField {
		return false
	}
	return c.Language == "c" || c.Language == "internal" || c.Extension
}

// Judge refuses the statement when found (what the caller's catalog lookup
// returned for v.Lookup) holds code that is not trusted (see
// [Candidate.Trusted]): in the validated modes only built-in code may run.
// It returns nil when v has no Lookup or nothing found is untrusted; admin_rw
// verdicts never refuse.
func (v *Verdict) Judge(found []Candidate) error {
	if v == nil || v.Lookup == nil || v.mode == access.AdminRW {
		return nil
	}
	var bad []Candidate
	for _, c := range found {
		if !c.Trusted() {
			bad = append(bad, c)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	// The first one in the text, so the position points at it.
	slices.SortStableFunc(bad, func(a, b Candidate) int { return cmp.Compare(v.Lookup.position(a), v.Lookup.position(b)) })
	c := bad[0]
	pos := v.Lookup.position(c)
	fn := c.Function
	if c.Schema != "" && !strings.HasPrefix(fn, c.Schema+".") && !strings.HasPrefix(fn, quoteIdent(c.Schema)+".") {
		fn = quoteIdent(c.Schema) + "." + fn // regprocedure leaves out a schema on the search path
	}
	code := fmt.Sprintf("%s (language %s)", fn, c.Language)
	var msg string
	switch c.Kind {
	case CandidateFunction:
		msg = fmt.Sprintf("function %s may resolve to %s, which is not a built-in function; %s mode runs built-in code only. "+
			"To call the built-in one, qualify it: pg_catalog.%s(…)", quoteIdent(c.Name), code, v.mode, quoteIdent(c.Name))
	case CandidateOperator:
		msg = fmt.Sprintf("operator %s may resolve to %s, implemented by %s, which is not built-in; %s mode runs built-in code only. "+
			"To use the built-in operator, qualify it: OPERATOR(pg_catalog.%s)", c.Name, c.Via, code, v.mode, c.Name)
	case CandidateField:
		msg = fmt.Sprintf("%s selected from a row may call %s (attribute notation: t.%s is %s(t) when t has no column %s); %s mode runs built-in code only. "+
			"Select a column that exists", quoteIdent(c.Name), code, quoteIdent(c.Name), quoteIdent(c.Name), quoteIdent(c.Name), v.mode)
	case CandidateCast:
		msg = fmt.Sprintf("the %s, %s, may run for this statement (it uses %s); it is not built-in, and %s mode runs built-in code only", c.Via, code, c.Name, v.mode)
	case CandidateDomain:
		msg = fmt.Sprintf("the %s calls %s, which is not built-in, and runs for this statement (it uses %s); %s mode runs built-in code only, "+
			"so it may not cast to such a domain or write such a column", c.Via, code, c.Name, v.mode)
	default:
		msg = fmt.Sprintf("%s may run %s, which is not built-in; %s mode runs built-in code only", c.Name, code, v.mode)
	}
	return &Error{Reason: CodeNotAllowed, Position: pos, Message: msg}
}

// position finds where c's entry is first used (0 if not found).
func (l *Lookup) position(c Candidate) int {
	pos := 0
	take := func(p int) {
		if p > 0 && (pos == 0 || p < pos) {
			pos = p
		}
	}
	switch c.Kind {
	case CandidateFunction:
		for _, f := range l.Functions {
			if f.Name == c.Name {
				take(f.Position)
			}
		}
	case CandidateOperator:
		for _, o := range l.Operators {
			if o.Name == c.Name {
				take(o.Position)
			}
		}
	case CandidateField:
		for _, f := range l.Fields {
			if f.Name == c.Name {
				take(f.Position)
			}
		}
	default:
		for _, t := range l.Types {
			if t.qualified() == c.Name {
				take(t.Position)
			}
		}
		for _, r := range l.Relations {
			if r.qualified() == c.Name {
				take(r.Position)
			}
		}
	}
	return pos
}

func (t TypeRef) qualified() string     { return qualify(t.Schema, t.Name) }
func (r RelationRef) qualified() string { return qualify(r.Schema, r.Name) }

func qualify(schema, name string) string {
	if schema == "" {
		return name
	}
	return schema + "." + name
}

// lookupSet collects a statement's Lookup entries once each, keeping the
// first position.
type lookupSet struct {
	items map[string]bool // names of FROM items (relations, aliases, WITH queries)
	bare  map[string]bool // single-name column references: rows, if they name a FROM item
	star  bool            // t.* somewhere

	functions map[FunctionRef]int // key has Position 0
	operators map[OperatorRef]int
	fields    map[FieldRef]int
	types     map[TypeRef]int
	relations map[RelationRef]int
}

func addRef[K comparable](m *map[K]int, key K, pos int) {
	if *m == nil {
		*m = make(map[K]int)
	}
	if p, ok := (*m)[key]; !ok || (pos > 0 && (p == 0 || pos < p)) {
		(*m)[key] = pos
	}
}

func (s *lookupSet) function(name string, args int, open string, pos int) {
	addRef(&s.functions, FunctionRef{Name: name, Args: args, Open: open}, pos)
}

func (s *lookupSet) operator(name string, prefix bool, open string, pos int) {
	addRef(&s.operators, OperatorRef{Name: name, Prefix: prefix, Open: open}, pos)
}

func (s *lookupSet) field(name string, pos int) { addRef(&s.fields, FieldRef{Name: name}, pos) }

func (s *lookupSet) item(name string) {
	if name != "" {
		if s.items == nil {
			s.items = make(map[string]bool)
		}
		s.items[name] = true
	}
}

func (s *lookupSet) bareRef(name string) {
	if s.bare == nil {
		s.bare = make(map[string]bool)
	}
	s.bare[name] = true
}

func (s *lookupSet) typ(schema, name string, pos int) {
	addRef(&s.types, TypeRef{Schema: schema, Name: name}, pos)
}

func (s *lookupSet) relation(schema, name string, write bool, pos int) {
	addRef(&s.relations, RelationRef{Schema: schema, Name: name, Write: write}, pos)
}

// build returns the Lookup, entries sorted by name, or nil when empty.
func (s *lookupSet) build() *Lookup {
	l := &Lookup{}
	for k, p := range s.functions {
		k.Position = p
		l.Functions = append(l.Functions, k)
	}
	for k, p := range s.operators {
		k.Position = p
		l.Operators = append(l.Operators, k)
	}
	for k, p := range s.fields {
		k.Position = p
		l.Fields = append(l.Fields, k)
	}
	for k, p := range s.types {
		k.Position = p
		l.Types = append(l.Types, k)
	}
	for k, p := range s.relations {
		k.Position = p
		l.Relations = append(l.Relations, k)
	}
	if l.Empty() {
		return nil
	}
	l.Rows = s.star
	for name := range s.bare {
		l.Rows = l.Rows || s.items[name]
	}
	slices.SortFunc(l.Functions, func(a, b FunctionRef) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Args, b.Args), strings.Compare(a.Open, b.Open))
	})
	slices.SortFunc(l.Operators, func(a, b OperatorRef) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), boolCompare(a.Prefix, b.Prefix), strings.Compare(a.Open, b.Open))
	})
	slices.SortFunc(l.Fields, func(a, b FieldRef) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(l.Types, func(a, b TypeRef) int { return strings.Compare(a.qualified(), b.qualified()) })
	slices.SortFunc(l.Relations, func(a, b RelationRef) int {
		return cmp.Or(strings.Compare(a.qualified(), b.qualified()), boolCompare(a.Write, b.Write))
	})
	return l
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
