// Package sqlguard decides whether a piece of SQL text may run in an access
// mode, before it reaches PostgreSQL. It is the first of three layers that
// keep an AI agent's SQL inside its mode (the executor and the database role
// are the others), and it is pure: SQL text in, a [Verdict] or an [*Error]
// out, no database, no pgx, no MCP, safe for concurrent use.
//
// # How it decides
//
// [Validate] parses the text with PostgreSQL's own parser (libpg_query,
// through pg_query_go), so it sees exactly the statements, strings,
// comments, dollar quotes, escape strings and Unicode-escaped identifiers
// the server will see — provided the server lexes with the settings the
// parser assumes (standard_conforming_strings on: package pg pins them on
// every connection) and speaks the same grammar (see [Options.ServerMajor]).
// No splitting or pattern matching is involved. [Check] is Validate when
// only the mode is known. Then:
//
//   - The text must hold exactly one statement ([Empty], [MultipleStatements]).
//     A trailing semicolon or comment is fine; a semicolon inside a string,
//     comment or quoted identifier is not a separator.
//   - The kind of statement must be allowed in the mode
//     ([StatementNotAllowed]): user_ro takes SELECT, VALUES and TABLE;
//     user_rw adds INSERT, UPDATE, DELETE and MERGE; admin_ro takes SELECT,
//     VALUES, TABLE, SHOW and EXPLAIN; admin_rw takes any statement.
//   - The whole parse tree is walked generically (protoreflect over the
//     protobuf tree), so every node is visited wherever it sits: target
//     lists, FROM items and ROWS FROM, LATERAL, JOIN conditions, WHERE,
//     GROUP BY, HAVING, windows, ORDER BY, LIMIT, CASE, subqueries, WITH
//     bodies, VALUES, INSERT … SELECT, ON CONFLICT, RETURNING, MERGE arms,
//     aggregate FILTER and ORDER BY, TABLESAMPLE, casts, COLLATE, ARRAY and
//     row constructors. On the way:
//   - Every function call must be on the mode's allow-list
//     ([FunctionNotAllowed]). The list is deny-by-default and holds built-in
//     functions that read only their arguments (math, strings, dates, JSON,
//     arrays, aggregates, window functions, text search, …); admin_ro adds
//     catalog, size and statistics readers. Names are compared as the parser
//     folds them (unquoted lower-cased, quoted kept), after removing a
//     pg_catalog qualifier; any other qualifier is refused. Nothing that runs
//     SQL text, changes settings, signals backends, touches files or large
//     objects, takes advisory locks, moves sequences, assigns transaction IDs,
//     writes WAL, notifies, sleeps or resets statistics is on any list.
//   - Names resolve as PostgreSQL resolves them. A WITH name shadows only
//     an unqualified relation name (with PostgreSQL's scoping: a WITH item
//     is visible to later items, to itself only under RECURSIVE, and never
//     as the target of INSERT, UPDATE, DELETE or MERGE); a three-part name
//     db.schema.rel is schema.rel when db is the current database
//     ([Options.Database]) and refused otherwise.
//   - In user modes every relation must resolve to the public schema as
//     PostgreSQL resolves it with search_path = public, where pg_catalog is
//     searched first ([SchemaNotAllowed], [RelationNotAllowed]): qualified
//     names must say public; unqualified names starting with pg_ are refused
//     (every pg_catalog relation is named pg_*). Casts to the types whose
//     input looks names up in the catalogs (every reg* type, aclitem) are
//     refused ([TypeNotAllowed]), as are types, collations and operators of
//     other schemas. admin_ro may read every schema except the relations
//     that show credentials (pg_authid, pg_shadow, user mappings in
//     pg_catalog and information_schema, subscriptions; with a privileged
//     login also pg_statistic and pg_stats), generated from the server and
//     checked against it by TestCredentialRelations.
//   - Syntax of the parser's grammar that the connected server's older
//     grammar reads as a plain function call (the SQL/JSON constructors and
//     query functions, merge_action()) is refused ([NewerSyntax]).
//   - A statement may evaluate at most a few hundred operators, calls and
//     casts together ([TooLarge]): some expressions never reach an
//     interrupt check while they run.
//   - What only the catalog can decide is handed back as [Verdict.Lookup]:
//     functions and operators called by unqualified name (an overload in
//     public may win over pg_catalog's), names selected from rows
//     (attribute notation), casts and domains. The caller resolves it in
//     the call's transaction (package catalog) and [Verdict.Judge] refuses
//     code outside pg_catalog that is not the server's own
//     ([CodeNotAllowed]).
//   - Read-only modes refuse writes hidden inside a query: data-modifying
//     WITH ([WriteInCTE]), SELECT … INTO ([SelectInto]) and row locks
//     ([LockingClause]). user_rw allows FOR UPDATE/SHARE: the locks cover
//     public rows the role may update anyway and end with the call's own
//     transaction, bounded by lock_timeout.
//   - EXPLAIN ANALYZE runs its statement, so it is allowed only for a
//     read-only SELECT, VALUES or TABLE ([ExplainAnalyzeWrite]); plain
//     EXPLAIN of a write is only planned and is allowed in admin_ro (the
//     function rules still apply, since the planner evaluates functions).
//     [CheckExplain] validates the statement explain_query wraps.
//
// In admin_rw nothing but the one-statement rule refuses; the walk still
// fills in the [Verdict] so the executor knows whether the statement must run
// outside a transaction block (NoTransaction) and whether the connection may
// carry state afterwards (SessionState). SessionState is conservative: any
// function the package does not know might do anything.
//
// # What it does not stop, and who does
//
// The validator cannot see inside objects it does not parse, and it does not
// know the database. It relies on the executor and the database role for:
//
//   - Resource use. generate_series(1, 1e10), unbounded recursive WITH,
//     cross joins, huge sorts and repeat('x', 1e8) are valid read-only SQL;
//     the executor's statement_timeout, row cap and byte cap bound them, and
//     temp_file_limit bounds spills.
//   - The transaction. Read-only modes must run in BEGIN READ ONLY and roll
//     back; the executor must use the extended protocol only (one statement
//     per Parse message), so even a validator bug cannot smuggle a second
//     statement.
//   - Name resolution. The rules above assume the executor sets
//     search_path = public in the user modes (pg_catalog stays implicitly
//     first; it must never be listed after public) and that the session has
//     no temporary relations (user modes cannot create them).
//   - Code that runs implicitly and is the owner's design: views, triggers,
//     column defaults, row-level security policies. They run with the
//     owner's intent; READ ONLY and the role's privileges bound what they
//     can do (the roles revoke EXECUTE on the owner's routines from PUBLIC).
//   - The catalog lookup over-approximates: it cannot know the type of
//     every expression, so an overload outside pg_catalog of a name the
//     statement calls counts whenever its argument count fits and the
//     statement can have values of its argument types. A refusal names the
//     way out (pg_catalog.lower(…), OPERATOR(pg_catalog.=)).
//   - Lexing settings. The parser reads standard_conforming_strings = on;
//     package pg pins it (and backslash_quote, transform_null_equals,
//     client_encoding) as startup parameters on every connection and
//     refuses to run SQL on one that reports otherwise.
//   - XML. xmlparse and the xml type accept DOCTYPEs; PostgreSQL does not load
//     external entities, so they cannot read files. The validator allows XML
//     functions that do not run queries.
//   - admin_rw. It is validated for shape only; the database role is the only
//     boundary there (and tenant settings are no boundary at all).
//
// # Errors
//
// Every refusal is an [*Error] with a [Reason] callers can branch on, a
// Message that says what was refused and what is allowed instead, and a
// Position (1-based, in characters) pointing at the offending spot. Syntax
// errors carry PostgreSQL's own message and position. Check never panics:
// the fuzz targets in this package exercise it on arbitrary input, and input
// nested deeply enough to overflow libpg_query's C stack is refused before it
// reaches the parser ([TooComplex]).
package sqlguard
