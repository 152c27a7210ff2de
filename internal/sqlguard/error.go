package sqlguard

import "fmt"

// Reason says why a statement was refused. Callers branch on it (a tool may
// map it to an error code); [Error.Message] carries the details.
type Reason int

// The reasons a statement can be refused.
const (
	Syntax              Reason = iota + 1 // PostgreSQL's parser rejected the text (or it holds a NUL byte or invalid UTF-8)
	Empty                                 // no statement at all: empty text, only comments or semicolons
	MultipleStatements                    // more than one statement
	StatementNotAllowed                   // the kind of statement is not allowed in the mode
	FunctionNotAllowed                    // a function (or TABLESAMPLE method) is not on the mode's allow-list
	SchemaNotAllowed                      // a name is qualified with a schema the mode may not use
	RelationNotAllowed                    // a relation that resolves outside the public schema (user modes)
	TypeNotAllowed                        // a cast to a catalog-lookup type such as regclass (user modes)
	OperatorNotAllowed                    // an operator qualified with a schema other than pg_catalog
	LockingClause                         // FOR UPDATE / FOR SHARE / FOR [NO] KEY … in a read-only mode
	SelectInto                            // SELECT … INTO, which creates a table
	WriteInCTE                            // INSERT/UPDATE/DELETE/MERGE inside WITH in a read-only mode
	ExplainAnalyzeWrite                   // EXPLAIN ANALYZE of a statement that is not a read-only query
	ExplainNotAllowed                     // EXPLAIN handed to CheckExplain, or EXPLAIN of something that cannot be explained here
	TooComplex                            // nesting too deep for the parser to handle safely
	InvalidMode                           // the access mode is not one of the four modes
	NewerSyntax                           // syntax the connected server's older grammar reads differently (a call by name)
	CodeNotAllowed                        // code outside pg_catalog would run: an overload, operator, cast or domain CHECK (see Verdict.Judge)
	TooLarge                              // more operators than a validated mode allows in one statement
)

var reasonNames = [...]string{
	Syntax:              "syntax",
	Empty:               "empty",
	MultipleStatements:  "multiple_statements",
	StatementNotAllowed: "statement_not_allowed",
	FunctionNotAllowed:  "function_not_allowed",
	SchemaNotAllowed:    "schema_not_allowed",
	RelationNotAllowed:  "relation_not_allowed",
	TypeNotAllowed:      "type_not_allowed",
	OperatorNotAllowed:  "operator_not_allowed",
	LockingClause:       "locking_clause",
	SelectInto:          "select_into",
	WriteInCTE:          "write_in_cte",
	ExplainAnalyzeWrite: "explain_analyze_write",
	ExplainNotAllowed:   "explain_not_allowed",
	TooComplex:          "too_complex",
	InvalidMode:         "invalid_mode",
	NewerSyntax:         "newer_syntax",
	CodeNotAllowed:      "code_not_allowed",
	TooLarge:            "too_large",
}

// String returns the reason in snake case, e.g. "function_not_allowed",
// stable enough to use as an error code.
func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Error is the error Check and CheckExplain return when they refuse a
// statement. Message is written for both an AI agent and a human: what was
// refused, and what is allowed instead.
type Error struct {
	Reason   Reason
	Message  string
	Position int // 1-based character (not byte) offset into the SQL text; 0 if unknown
}

// Error returns the message followed by the position when it is known.
func (e *Error) Error() string {
	if e.Position > 0 {
		return fmt.Sprintf("%s (at character %d)", e.Message, e.Position)
	}
	return e.Message
}
