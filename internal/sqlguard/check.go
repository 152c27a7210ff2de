package sqlguard

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/pgherd/pgherd/internal/access"
)

// Verdict is what Check learned about an allowed statement. The executor uses
// it to choose how to run the statement.
type Verdict struct {
	// Command is PostgreSQL's command tag for the statement: "SELECT" (also
	// for VALUES, TABLE and SELECT … INTO), "INSERT", "CREATE TABLE",
	// "EXPLAIN", "SHOW", …
	Command string
	// ReadOnly is judged from the tree: the statement can change no data,
	// schema or state. It is false for anything that writes, locks rows,
	// calls a function not known to be free of side effects, or is a utility
	// statement other than SHOW and EXPLAIN (without ANALYZE).
	ReadOnly bool
	// NoTransaction means PostgreSQL refuses to run the statement inside a
	// transaction block (VACUUM, CREATE DATABASE, CREATE INDEX CONCURRENTLY,
	// ALTER SYSTEM, REINDEX … CONCURRENTLY, transaction control itself, …).
	// It is set conservatively: a statement that only sometimes needs it
	// (ALTER SUBSCRIPTION) has it.
	NoTransaction bool
	// SessionState means the statement may leave state on the connection:
	// SET without LOCAL, RESET, PREPARE, DEALLOCATE, DECLARE … WITH HOLD,
	// LISTEN, UNLISTEN, LOAD, DISCARD, DO, CALL, transaction control,
	// temporary objects, set_config(…, false), session advisory locks, or a
	// call to any function pgherd does not know (it might do any of these).
	// The executor must not return such a connection to the pool.
	SessionState bool
	// Params is the highest $n the statement references (0 if none).
	Params int
	// Explain is set for EXPLAIN statements.
	Explain *Explain
	// Lookup lists what the validator cannot judge from the text alone:
	// the functions, operators, casts and types PostgreSQL resolves
	// against the catalog, where code outside pg_catalog may answer. The
	// caller looks them up in the call's own transaction and hands what it
	// found to [Verdict.Judge] before running the statement. Nil in
	// admin_rw, and when there is nothing to look up.
	Lookup *Lookup

	mode access.Mode
}

// Explain describes an EXPLAIN statement.
type Explain struct {
	// Analyze is true when the statement will really be executed.
	Analyze bool
	// Options lists the EXPLAIN options as written, lower case, e.g.
	// ["analyze", "format"].
	Options []string
	// Inner is the verdict on the explained statement itself.
	Inner *Verdict
}

// maxChainTokens bounds the operators, joins and set operations one statement
// may hold. libpg_query turns each into one level of a tree it later walks
// recursively on the C stack; about 24,000 levels overflow an 8 MiB thread
// stack and kill the process, so deeper input is refused before parsing.
// (Trees deeper than about 5,000 levels fail to decode anyway.)
const maxChainTokens = 10000

// maxWalkDepth bounds the tree walk; the protobuf decoder's own limit keeps
// real trees well below it.
const maxWalkDepth = 10000

// Options describe a call beyond its SQL text and access mode: what the
// validator must know about the connection the statement will run on.
type Options struct {
	Mode access.Mode
	// Database is current_database() on the call's connection. A
	// three-part name (db.schema.relation) is allowed only when db is this
	// database, and then judged as schema.relation; PostgreSQL rejects any
	// other database. Empty refuses every three-part name.
	Database string
	// ServerMajor is the server's major version (15 for PostgreSQL 15.8).
	// The parser reads PostgreSQL [GrammarMajor]'s grammar, in which some
	// constructs (the SQL/JSON constructors and query functions,
	// merge_action()) are syntax where an older server reads a plain
	// function call, resolved by name; on an older server they are
	// refused. Zero means unknown and is treated as the oldest server
	// pgherd supports, [MinServerMajor].
	ServerMajor int
	// PrivilegedLogin says the login role bypasses privilege checks (a
	// superuser, or a member of pg_read_all_data): admin_ro then also
	// refuses pg_statistic and pg_stats, which hold sample values of the
	// credential catalogs' columns that only such a role can see.
	PrivilegedLogin bool
}

// GrammarMajor is the PostgreSQL major version whose grammar the parser
// (libpg_query, through pg_query_go) reads.
const GrammarMajor = 17

// MinServerMajor is the oldest server major version pgherd supports.
const MinServerMajor = 13

func (o Options) serverMajor() int {
	if o.ServerMajor <= 0 {
		return MinServerMajor
	}
	return o.ServerMajor
}

// Check is [Validate] with only the access mode known: the server's
// version unknown (the oldest supported) and three-part names refused.
//
// Check parses sql and decides whether mode allows it. It returns a Verdict
// for an allowed statement and an *Error otherwise. Check is pure (no
// database) and safe for concurrent use.
//
// Every mode allows exactly one statement (a trailing semicolon is fine):
//   - user_ro: one SELECT, VALUES or TABLE, WITH only of SELECTs, no SELECT
//     INTO, no FOR UPDATE/SHARE; built-in read-only functions only; every
//     relation in the public schema.
//   - user_rw: also INSERT, UPDATE, DELETE and MERGE, including in WITH, and
//     FOR UPDATE/SHARE; same functions and schema rule.
//   - admin_ro: one SELECT, VALUES, TABLE, SHOW or EXPLAIN (ANALYZE only of a
//     read-only query), on any schema, with a larger allow-list that adds
//     catalog, size and statistics functions.
//   - admin_rw: any single statement; nothing is refused beyond that, but the
//     statement is classified.
func Check(sql string, mode access.Mode) (*Verdict, error) {
	return Validate(sql, Options{Mode: mode})
}

// Validate is [Check] with everything the caller knows about the call's
// connection (see [Options]). An allowed verdict in a validated mode may
// still carry a [Lookup] the caller must resolve and [Verdict.Judge].
func Validate(sql string, opts Options) (*Verdict, error) {
	if !opts.Mode.Valid() {
		return nil, invalidMode(opts.Mode)
	}
	raw, err := parseOne(sql)
	if err != nil {
		return nil, err
	}
	c := newChecker(sql, opts)
	v := c.statement(raw)
	if c.err != nil {
		return nil, c.err
	}
	c.finish(v)
	return v, nil
}

// CheckExplain validates sql as the statement explain_query wraps in
// EXPLAIN (FORMAT JSON [, ANALYZE]). The statement must not itself be an
// EXPLAIN; it must be something PostgreSQL can explain (SELECT, VALUES, TABLE,
// INSERT, UPDATE, DELETE, MERGE) and allowed in mode — in admin_ro a write is
// allowed here because without ANALYZE it is only planned; with analyze it
// must be a read-only SELECT, VALUES or TABLE in every mode.
//
// The verdict is that of the EXPLAIN statement: Command is "EXPLAIN" and
// Explain.Inner describes sql itself.
func CheckExplain(sql string, mode access.Mode, analyze bool) (*Verdict, error) {
	return ValidateExplain(sql, Options{Mode: mode}, analyze)
}

// ValidateExplain is [CheckExplain] with everything the caller knows about
// the call's connection (see [Options] and [Validate]).
func ValidateExplain(sql string, opts Options, analyze bool) (*Verdict, error) {
	if !opts.Mode.Valid() {
		return nil, invalidMode(opts.Mode)
	}
	raw, err := parseOne(sql)
	if err != nil {
		return nil, err
	}
	c := newChecker(sql, opts)
	start := c.stmtStart(raw)
	if raw.GetStmt().GetExplainStmt() != nil {
		return nil, &Error{Reason: ExplainNotAllowed, Position: start,
			Message: "pass the statement without EXPLAIN: explain_query adds EXPLAIN (FORMAT JSON) itself, and its analyze argument adds ANALYZE"}
	}
	eopts := []string{"format"}
	if analyze {
		eopts = append(eopts, "analyze")
	}
	v := c.explain(raw.GetStmt(), analyze, eopts, start, true)
	if c.err != nil {
		return nil, c.err
	}
	c.finish(v)
	return v, nil
}

func invalidMode(mode access.Mode) *Error {
	return &Error{Reason: InvalidMode, Message: fmt.Sprintf("access mode %q is not one of %s", string(mode), access.Names())}
}

// maxMessage bounds a parser message, which quotes the text at the error
// ("unterminated quoted string at or near "'…"" can quote megabytes).
const maxMessage = 2000

func cutMessage(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	keep := maxMessage
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + fmt.Sprintf("… [pgherd cut this text: %d of %d bytes shown]", keep, len(s))
}

// parseOne parses sql and returns its only statement.
func parseOne(sql string) (*pg_query.RawStmt, *Error) {
	if i := strings.IndexByte(sql, 0); i >= 0 {
		// libpg_query reads a C string and would silently stop here, judging
		// less text than the caller sends.
		return nil, &Error{Reason: Syntax, Position: charPos(sql, i),
			Message: "the SQL text contains a NUL byte, which PostgreSQL does not accept; remove it"}
	}
	if !utf8.ValidString(sql) {
		return nil, &Error{Reason: Syntax, Position: charPos(sql, firstInvalidUTF8(sql)),
			Message: "the SQL text is not valid UTF-8; send UTF-8 text"}
	}
	if err := screenDepth(sql); err != nil {
		return nil, err
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		var pe *parser.Error
		if errors.As(err, &pe) {
			r := Syntax
			if strings.HasPrefix(pe.Message, "memory exhausted") || strings.Contains(pe.Message, "stack depth limit") {
				r = TooComplex
			}
			return nil, &Error{Reason: r, Message: cutMessage(pe.Message), Position: pe.Cursorpos}
		}
		// The only other failure is decoding the tree: too deep to represent.
		return nil, &Error{Reason: TooComplex,
			Message: "the statement is nested too deeply to check (" + err.Error() + "); simplify it or split it into several calls"}
	}
	stmts := tree.GetStmts()
	switch {
	case len(stmts) == 0:
		return nil, &Error{Reason: Empty, Message: "the SQL text holds no statement (only whitespace, comments or semicolons); send exactly one SQL statement"}
	case len(stmts) > 1:
		return nil, &Error{Reason: MultipleStatements,
			Position: charPos(sql, skipSpace(sql, int(stmts[1].GetStmtLocation()))),
			Message:  fmt.Sprintf("only one statement per call is allowed, and the text holds %d; a second statement starts here: send each statement in its own call (a trailing semicolon is fine)", len(stmts))}
	}
	if stmts[0].GetStmt().GetNode() == nil {
		return nil, &Error{Reason: Syntax, Message: "the parser returned an empty statement; send exactly one SQL statement"}
	}
	return stmts[0], nil
}

// screenDepth refuses text whose tree could be deep enough to overflow the
// C stack while libpg_query walks it (see maxChainTokens). Each level of a
// left-deep chain needs one of the counted tokens; nesting through
// parentheses is bounded by the parser's own stack limit.
func screenDepth(sql string) *Error {
	if len(sql) <= maxChainTokens {
		return nil // fewer bytes than the limit means fewer tokens too
	}
	res, err := pg_query.Scan(sql)
	if err != nil {
		return nil // a lexical error: Parse reports it without building a tree
	}
	n := 0
	toks := res.GetTokens()
	for i, t := range toks {
		if !chainToken(toks, i) {
			continue
		}
		if n++; n > maxChainTokens {
			return &Error{Reason: TooComplex, Position: charPos(sql, int(t.GetStart())),
				Message: fmt.Sprintf("the statement holds more than %d operators, joins and set operations, more than can be checked safely; split the work into several statements, or pass long lists of values as one array parameter (col = ANY($1))", maxChainTokens)}
		}
	}
	return nil
}

// chainToken reports whether toks[i] can add one level to a left-deep chain
// in the parse tree: a binary or postfix operator, a cast, a JOIN or a set
// operation. AND and OR are not counted: the parser flattens their chains.
func chainToken(toks []*pg_query.ScanToken, i int) bool {
	switch toks[i].GetToken() {
	case pg_query.Token_ASCII_43, pg_query.Token_ASCII_42, pg_query.Token_ASCII_47, pg_query.Token_ASCII_37,
		pg_query.Token_ASCII_94, pg_query.Token_ASCII_60, pg_query.Token_ASCII_62, pg_query.Token_ASCII_61,
		pg_query.Token_Op, pg_query.Token_TYPECAST, pg_query.Token_LESS_EQUALS, pg_query.Token_GREATER_EQUALS,
		pg_query.Token_NOT_EQUALS, pg_query.Token_OPERATOR, pg_query.Token_LIKE, pg_query.Token_ILIKE,
		pg_query.Token_SIMILAR, pg_query.Token_IS, pg_query.Token_ISNULL, pg_query.Token_NOTNULL,
		pg_query.Token_BETWEEN, pg_query.Token_IN_P, pg_query.Token_AT, pg_query.Token_COLLATE,
		pg_query.Token_OVERLAPS, pg_query.Token_JOIN, pg_query.Token_UNION, pg_query.Token_INTERSECT,
		pg_query.Token_EXCEPT:
		return true
	case pg_query.Token_ASCII_45: // '-': a negative number in a list folds into its constant
		if i > 0 && i+1 < len(toks) {
			prev, next := toks[i-1].GetToken(), toks[i+1].GetToken()
			if (prev == pg_query.Token_ASCII_44 || prev == pg_query.Token_ASCII_40) &&
				(next == pg_query.Token_ICONST || next == pg_query.Token_FCONST) {
				return false
			}
		}
		return true
	}
	return false
}

// statement checks one top-level statement against the mode.
func (c *checker) statement(raw *pg_query.RawStmt) *Verdict {
	node := raw.GetStmt()
	info := classify(node)
	start := c.stmtStart(raw)
	if !allowedStatement(c.mode, node) {
		c.fail(StatementNotAllowed, start, c.statementRefusal(info.tag, node))
		return nil
	}
	switch s := node.GetNode().(type) {
	case *pg_query.Node_CopyStmt:
		if cs := s.CopyStmt; cs.GetFilename() == "" && !cs.GetIsProgram() {
			// The data would travel in COPY protocol messages the tool does
			// not carry: FROM STDIN waits for input that never comes, TO
			// STDOUT returns nothing.
			dir, use := "TO STDOUT", "SELECT"
			if cs.GetIsFrom() {
				dir, use = "FROM STDIN", "INSERT … VALUES or INSERT … SELECT"
			}
			c.fail(StatementNotAllowed, start, fmt.Sprintf("COPY %s needs a client data stream, which a tool call does not have; use %s instead", dir, use))
			return nil
		}
	case *pg_query.Node_ExplainStmt:
		opts, analyze, loc := explainOptions(s.ExplainStmt.GetOptions())
		at := charPos(c.sql, int(loc))
		if at == 0 {
			at = c.explainedPos(raw)
		}
		return c.explain(s.ExplainStmt.GetQuery(), analyze, opts, at, c.validate)
	case *pg_query.Node_VariableShowStmt:
		return &Verdict{Command: info.tag, ReadOnly: true}
	}
	c.dml = c.mode == access.UserRW || c.mode == access.AdminRW
	c.walkNode(node, nil, 0)
	if c.err != nil {
		return nil
	}
	return &Verdict{
		Command:       info.tag,
		ReadOnly:      info.query && !c.wrote,
		NoTransaction: info.noTx,
		SessionState:  info.session || c.session,
		Params:        c.params,
	}
}

// explain checks the statement inside an EXPLAIN: it must be allowed for
// explaining in the mode and, when strict (every validated mode, and
// CheckExplain), be a query or a DML statement, and with ANALYZE a read-only
// query. at is where to point when it is refused.
func (c *checker) explain(inner *pg_query.Node, analyze bool, opts []string, at int, strict bool) *Verdict {
	info := classify(inner)
	if !info.query && !info.dml && (strict || inner.GetNode() == nil) {
		// admin_rw's own EXPLAIN may wrap whatever PostgreSQL accepts there
		// (CREATE TABLE AS, EXECUTE, DECLARE); explain_query may not.
		c.fail(ExplainNotAllowed, at, fmt.Sprintf("%s cannot be explained here; explain a SELECT, VALUES, TABLE, INSERT, UPDATE, DELETE or MERGE", info.tag))
		return nil
	}
	if c.mode.PublicOnly() && !allowedStatement(c.mode, inner) {
		c.fail(StatementNotAllowed, at, c.statementRefusal(info.tag, inner))
		return nil
	}
	// Without ANALYZE the statement is only planned, so a write is harmless
	// to explain (the planner still evaluates stable functions, so the
	// function rules stay). user_ro keeps its own rules: SELECT only.
	c.dml = c.mode != access.UserRO
	c.walkNode(inner, nil, 0)
	if c.err != nil {
		return nil
	}
	iv := &Verdict{
		Command:       info.tag,
		ReadOnly:      info.query && !c.wrote,
		NoTransaction: info.noTx,
		SessionState:  info.session || c.session,
		Params:        c.params,
	}
	if analyze && strict && !iv.ReadOnly {
		what := "it can change data or state"
		if !info.query {
			what = "it is " + article(info.tag) + " " + info.tag
		}
		c.fail(ExplainAnalyzeWrite, at, fmt.Sprintf("EXPLAIN ANALYZE executes the statement, so it is only allowed for a read-only SELECT, VALUES or TABLE, and %s; use EXPLAIN without ANALYZE to see its plan", what))
		return nil
	}
	v := &Verdict{
		Command: "EXPLAIN",
		Params:  iv.Params,
		Explain: &Explain{Analyze: analyze, Options: opts, Inner: iv},
	}
	if analyze {
		v.ReadOnly = iv.ReadOnly
		v.SessionState = iv.SessionState
	} else {
		// Planning runs no writes, but it may evaluate functions we do not know.
		v.ReadOnly = !c.opaque
		v.SessionState = c.opaque
	}
	return v
}

// explainedPos is the position of the statement an EXPLAIN explains: the
// first token after EXPLAIN, its parenthesised options and the legacy
// ANALYZE and VERBOSE keywords. It falls back to the EXPLAIN itself.
func (c *checker) explainedPos(raw *pg_query.RawStmt) int {
	start := int(raw.GetStmtLocation())
	end := len(c.sql)
	if l := int(raw.GetStmtLen()); l > 0 && start+l <= end {
		end = start + l
	}
	if start < 0 || start > end {
		return 0
	}
	res, err := pg_query.Scan(c.sql[start:end])
	if err != nil {
		return c.stmtStart(raw)
	}
	depth := 0
	for i, t := range res.GetTokens() {
		switch tok := t.GetToken(); {
		case tok == pg_query.Token_SQL_COMMENT || tok == pg_query.Token_C_COMMENT:
		case i == 0 || depth > 0:
			if tok == pg_query.Token_ASCII_40 {
				depth++
			} else if tok == pg_query.Token_ASCII_41 {
				depth--
			}
		case tok == pg_query.Token_ASCII_40:
			depth++
		case tok == pg_query.Token_ANALYZE || tok == pg_query.Token_ANALYSE || tok == pg_query.Token_VERBOSE:
		default:
			return charPos(c.sql, start+int(t.GetStart()))
		}
	}
	return c.stmtStart(raw)
}

// explainOptions returns the option names, whether ANALYZE is on (any
// ANALYZE option not explicitly false, whatever order repeated options come
// in: the cautious reading), and the byte offset of the first ANALYZE option
// that is on (-1 if none).
func explainOptions(opts []*pg_query.Node) (names []string, analyze bool, loc int32) {
	loc = -1
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		names = append(names, d.GetDefname())
		if d.GetDefname() == "analyze" && !isFalse(d.GetArg()) {
			if !analyze {
				loc = d.GetLocation()
			}
			analyze = true
		}
	}
	return names, analyze, loc
}

// isFalse reports whether a DefElem argument certainly means false, the way
// PostgreSQL's defGetBoolean reads it. Anything else counts as true, which is
// the cautious reading for ANALYZE.
func isFalse(arg *pg_query.Node) bool {
	if arg == nil {
		return false
	}
	if i := arg.GetInteger(); i != nil {
		return i.GetIval() == 0
	}
	if b := arg.GetBoolean(); b != nil {
		return !b.GetBoolval()
	}
	var s string
	switch {
	case arg.GetString_() != nil:
		s = arg.GetString_().GetSval()
	case arg.GetAConst().GetSval() != nil:
		s = arg.GetAConst().GetSval().GetSval()
	default:
		return false
	}
	s = strings.ToLower(s)
	switch {
	case s == "0", s == "of", s == "off":
		return true
	case s != "" && strings.HasPrefix("false", s):
		return true
	case s != "" && strings.HasPrefix("no", s):
		return true
	}
	return false
}

// allowedStatement is the per-mode statement allow-list.
func allowedStatement(mode access.Mode, n *pg_query.Node) bool {
	switch n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		return true
	case *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt, *pg_query.Node_MergeStmt:
		return mode == access.UserRW || mode == access.AdminRW
	case *pg_query.Node_ExplainStmt, *pg_query.Node_VariableShowStmt:
		return mode == access.AdminRO || mode == access.AdminRW
	}
	return mode == access.AdminRW
}

// modeAllows says in words what each validated mode allows.
func modeAllows(mode access.Mode) string {
	switch mode {
	case access.UserRO:
		return "one SELECT, VALUES or TABLE statement (WITH only of SELECTs) on the public schema"
	case access.UserRW:
		return "one SELECT, VALUES, TABLE, INSERT, UPDATE, DELETE or MERGE statement on the public schema"
	case access.AdminRO:
		return "one SELECT, VALUES, TABLE, SHOW or EXPLAIN statement"
	}
	return "any single statement"
}

func (c *checker) statementRefusal(tag string, n *pg_query.Node) string {
	why := ""
	switch n.GetNode().(type) {
	case *pg_query.Node_TransactionStmt:
		why = " (each call already runs in its own transaction)"
	case *pg_query.Node_ExplainStmt:
		if c.mode.PublicOnly() {
			why = " (use the explain_query tool instead)"
		}
	case *pg_query.Node_CreateTableAsStmt:
		why = " (it creates a table)"
	case *pg_query.Node_CopyStmt:
		why = " (COPY reads or writes files and programs on the server)"
	case *pg_query.Node_DoStmt, *pg_query.Node_CallStmt:
		why = " (it runs code the validator cannot see)"
	}
	return fmt.Sprintf("%s is not allowed in %s mode%s; allowed: %s", tag, c.mode, why, modeAllows(c.mode))
}

func article(tag string) string {
	if tag != "" && strings.ContainsRune("AEIOU", rune(tag[0])) {
		return "an"
	}
	return "a"
}

// stmtStart is the 1-based character position of a statement's first token.
func (c *checker) stmtStart(raw *pg_query.RawStmt) int {
	return charPos(c.sql, skipSpace(c.sql, int(raw.GetStmtLocation())))
}

// charPos converts a 0-based byte offset into sql to a 1-based character
// position; offsets outside sql give 0 (unknown).
func charPos(sql string, off int) int {
	if off < 0 || off > len(sql) {
		return 0
	}
	return utf8.RuneCountInString(sql[:off]) + 1
}

// skipSpace returns the offset of the first byte at or after i that is not
// whitespace or part of a comment.
func skipSpace(sql string, i int) int {
	if i < 0 {
		return i
	}
	for i < len(sql) {
		switch {
		case strings.IndexByte(" \t\n\r\f\v", sql[i]) >= 0:
			i++
		case strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return len(sql)
			}
			i += j + 1
		case strings.HasPrefix(sql[i:], "/*"):
			// Comments nest in PostgreSQL.
			depth, j := 0, i
			for j < len(sql) {
				if strings.HasPrefix(sql[j:], "/*") {
					depth++
					j += 2
				} else if strings.HasPrefix(sql[j:], "*/") {
					depth--
					j += 2
					if depth == 0 {
						break
					}
				} else {
					j++
				}
			}
			i = j
		default:
			return i
		}
	}
	return i
}

func firstInvalidUTF8(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return 0
}
