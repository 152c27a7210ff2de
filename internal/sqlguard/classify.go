package sqlguard

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// stmtInfo is what the kind of a top-level statement tells on its own, before
// its expressions are walked.
type stmtInfo struct {
	tag     string // PostgreSQL's command tag
	noTx    bool   // must run outside a transaction block
	session bool   // leaves state on the connection
	query   bool   // a SELECT, VALUES or TABLE: read-only unless its tree says otherwise
	dml     bool   // INSERT, UPDATE, DELETE or MERGE
}

// Cursor option bits from PostgreSQL's parsenodes.h.
const cursorOptHold = 0x0020

// classify names a statement the way PostgreSQL's CreateCommandTag does and
// says whether it must run outside a transaction block or leaves session
// state behind. Unknown or empty nodes get the tag "UNKNOWN", which no mode
// but admin_rw allows.
func classify(n *pg_query.Node) stmtInfo {
	switch s := n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		return stmtInfo{tag: "SELECT", query: true}
	case *pg_query.Node_InsertStmt:
		return stmtInfo{tag: "INSERT", dml: true}
	case *pg_query.Node_UpdateStmt:
		return stmtInfo{tag: "UPDATE", dml: true}
	case *pg_query.Node_DeleteStmt:
		return stmtInfo{tag: "DELETE", dml: true}
	case *pg_query.Node_MergeStmt:
		return stmtInfo{tag: "MERGE", dml: true}
	case *pg_query.Node_ExplainStmt:
		return stmtInfo{tag: "EXPLAIN"}
	case *pg_query.Node_VariableShowStmt:
		return stmtInfo{tag: "SHOW"}
	case *pg_query.Node_TransactionStmt:
		return stmtInfo{tag: transactionTag(s.TransactionStmt), noTx: true, session: true}
	case *pg_query.Node_VariableSetStmt:
		return variableSet(s.VariableSetStmt)
	case *pg_query.Node_DeclareCursorStmt:
		return stmtInfo{tag: "DECLARE CURSOR", session: s.DeclareCursorStmt.GetOptions()&cursorOptHold != 0}
	case *pg_query.Node_ClosePortalStmt:
		if s.ClosePortalStmt.GetPortalname() == "" {
			return stmtInfo{tag: "CLOSE CURSOR ALL"}
		}
		return stmtInfo{tag: "CLOSE CURSOR"}
	case *pg_query.Node_FetchStmt:
		if s.FetchStmt.GetIsmove() {
			return stmtInfo{tag: "MOVE"}
		}
		return stmtInfo{tag: "FETCH"}
	case *pg_query.Node_PrepareStmt:
		return stmtInfo{tag: "PREPARE", session: true}
	case *pg_query.Node_ExecuteStmt:
		return stmtInfo{tag: "EXECUTE"}
	case *pg_query.Node_DeallocateStmt:
		if s.DeallocateStmt.GetIsall() {
			return stmtInfo{tag: "DEALLOCATE ALL", session: true}
		}
		return stmtInfo{tag: "DEALLOCATE", session: true}
	case *pg_query.Node_ListenStmt:
		return stmtInfo{tag: "LISTEN", session: true}
	case *pg_query.Node_UnlistenStmt:
		return stmtInfo{tag: "UNLISTEN", session: true}
	case *pg_query.Node_NotifyStmt:
		return stmtInfo{tag: "NOTIFY"}
	case *pg_query.Node_LoadStmt:
		return stmtInfo{tag: "LOAD", session: true}
	case *pg_query.Node_DiscardStmt:
		return discard(s.DiscardStmt)
	case *pg_query.Node_DoStmt:
		// The body is opaque: it may SET, LISTEN, create temporary objects…
		return stmtInfo{tag: "DO", session: true}
	case *pg_query.Node_CallStmt:
		// A procedure is opaque too, and may even commit.
		return stmtInfo{tag: "CALL", session: true}
	case *pg_query.Node_CopyStmt:
		return stmtInfo{tag: "COPY"}
	case *pg_query.Node_LockStmt:
		return stmtInfo{tag: "LOCK TABLE"}
	case *pg_query.Node_ConstraintsSetStmt:
		return stmtInfo{tag: "SET CONSTRAINTS"}
	case *pg_query.Node_CheckPointStmt:
		return stmtInfo{tag: "CHECKPOINT"}
	case *pg_query.Node_VacuumStmt:
		if s.VacuumStmt.GetIsVacuumcmd() {
			return stmtInfo{tag: "VACUUM", noTx: true}
		}
		return stmtInfo{tag: "ANALYZE"}
	case *pg_query.Node_ClusterStmt:
		// CLUSTER without a table reclusters every table, one transaction each.
		return stmtInfo{tag: "CLUSTER", noTx: s.ClusterStmt.GetRelation() == nil}
	case *pg_query.Node_ReindexStmt:
		return reindex(s.ReindexStmt)
	case *pg_query.Node_IndexStmt:
		return stmtInfo{tag: "CREATE INDEX", noTx: s.IndexStmt.GetConcurrent(), session: isTempRangeVar(s.IndexStmt.GetRelation())}
	case *pg_query.Node_CreatedbStmt:
		return stmtInfo{tag: "CREATE DATABASE", noTx: true}
	case *pg_query.Node_DropdbStmt:
		return stmtInfo{tag: "DROP DATABASE", noTx: true}
	case *pg_query.Node_AlterDatabaseStmt:
		// ALTER DATABASE … SET TABLESPACE moves files and cannot run in a block.
		return stmtInfo{tag: "ALTER DATABASE", noTx: hasOption(s.AlterDatabaseStmt.GetOptions(), "tablespace")}
	case *pg_query.Node_AlterDatabaseSetStmt, *pg_query.Node_AlterDatabaseRefreshCollStmt:
		return stmtInfo{tag: "ALTER DATABASE"}
	case *pg_query.Node_CreateTableSpaceStmt:
		return stmtInfo{tag: "CREATE TABLESPACE", noTx: true}
	case *pg_query.Node_DropTableSpaceStmt:
		return stmtInfo{tag: "DROP TABLESPACE", noTx: true}
	case *pg_query.Node_AlterTableSpaceOptionsStmt:
		return stmtInfo{tag: "ALTER TABLESPACE"}
	case *pg_query.Node_AlterSystemStmt:
		return stmtInfo{tag: "ALTER SYSTEM", noTx: true}
	case *pg_query.Node_CreateSubscriptionStmt:
		return stmtInfo{tag: "CREATE SUBSCRIPTION", noTx: true}
	case *pg_query.Node_AlterSubscriptionStmt:
		return stmtInfo{tag: "ALTER SUBSCRIPTION", noTx: true}
	case *pg_query.Node_DropSubscriptionStmt:
		return stmtInfo{tag: "DROP SUBSCRIPTION", noTx: true}
	case *pg_query.Node_CreateStmt:
		return stmtInfo{tag: "CREATE TABLE", session: isTempRangeVar(s.CreateStmt.GetRelation())}
	case *pg_query.Node_CreateTableAsStmt:
		return createTableAs(s.CreateTableAsStmt)
	case *pg_query.Node_ViewStmt:
		return stmtInfo{tag: "CREATE VIEW", session: isTempRangeVar(s.ViewStmt.GetView())}
	case *pg_query.Node_CreateSeqStmt:
		return stmtInfo{tag: "CREATE SEQUENCE", session: isTempRangeVar(s.CreateSeqStmt.GetSequence())}
	case *pg_query.Node_AlterSeqStmt:
		return stmtInfo{tag: "ALTER SEQUENCE"}
	case *pg_query.Node_CreateFunctionStmt:
		tag := "CREATE FUNCTION"
		if s.CreateFunctionStmt.GetIsProcedure() {
			tag = "CREATE PROCEDURE"
		}
		return stmtInfo{tag: tag, session: tempQualified(s.CreateFunctionStmt.GetFuncname())}
	case *pg_query.Node_AlterFunctionStmt:
		return stmtInfo{tag: "ALTER " + objectName(s.AlterFunctionStmt.GetObjtype())}
	case *pg_query.Node_DefineStmt:
		return stmtInfo{tag: "CREATE " + objectName(s.DefineStmt.GetKind()), session: tempQualified(s.DefineStmt.GetDefnames())}
	case *pg_query.Node_CompositeTypeStmt:
		return stmtInfo{tag: "CREATE TYPE", session: isTempRangeVar(s.CompositeTypeStmt.GetTypevar())}
	case *pg_query.Node_CreateEnumStmt:
		return stmtInfo{tag: "CREATE TYPE", session: tempQualified(s.CreateEnumStmt.GetTypeName())}
	case *pg_query.Node_CreateRangeStmt:
		return stmtInfo{tag: "CREATE TYPE", session: tempQualified(s.CreateRangeStmt.GetTypeName())}
	case *pg_query.Node_CreateDomainStmt:
		return stmtInfo{tag: "CREATE DOMAIN", session: tempQualified(s.CreateDomainStmt.GetDomainname())}
	case *pg_query.Node_AlterEnumStmt:
		return stmtInfo{tag: "ALTER TYPE"}
	case *pg_query.Node_AlterTypeStmt:
		return stmtInfo{tag: "ALTER TYPE"}
	case *pg_query.Node_AlterDomainStmt:
		return stmtInfo{tag: "ALTER DOMAIN"}
	case *pg_query.Node_AlterTableStmt:
		return stmtInfo{tag: "ALTER " + objectName(s.AlterTableStmt.GetObjtype()), noTx: detachesConcurrently(s.AlterTableStmt)}
	case *pg_query.Node_AlterTableMoveAllStmt:
		return stmtInfo{tag: "ALTER " + objectName(s.AlterTableMoveAllStmt.GetObjtype())}
	case *pg_query.Node_RenameStmt:
		return stmtInfo{tag: "ALTER " + objectName(renamedType(s.RenameStmt))}
	case *pg_query.Node_AlterObjectDependsStmt:
		return stmtInfo{tag: "ALTER " + objectName(s.AlterObjectDependsStmt.GetObjectType())}
	case *pg_query.Node_AlterObjectSchemaStmt:
		return stmtInfo{tag: "ALTER " + objectName(s.AlterObjectSchemaStmt.GetObjectType())}
	case *pg_query.Node_AlterOwnerStmt:
		return stmtInfo{tag: "ALTER " + objectName(s.AlterOwnerStmt.GetObjectType())}
	case *pg_query.Node_DropStmt:
		return stmtInfo{tag: "DROP " + objectName(s.DropStmt.GetRemoveType()), noTx: s.DropStmt.GetConcurrent()}
	case *pg_query.Node_TruncateStmt:
		return stmtInfo{tag: "TRUNCATE TABLE"}
	case *pg_query.Node_CommentStmt:
		return stmtInfo{tag: "COMMENT"}
	case *pg_query.Node_SecLabelStmt:
		return stmtInfo{tag: "SECURITY LABEL"}
	case *pg_query.Node_GrantStmt:
		return grantTag(s.GrantStmt.GetIsGrant())
	case *pg_query.Node_GrantRoleStmt:
		return grantTag(s.GrantRoleStmt.GetIsGrant())
	case *pg_query.Node_AlterDefaultPrivilegesStmt:
		return stmtInfo{tag: "ALTER DEFAULT PRIVILEGES"}
	case *pg_query.Node_CreateSchemaStmt:
		return stmtInfo{tag: "CREATE SCHEMA"}
	case *pg_query.Node_CreateExtensionStmt:
		return stmtInfo{tag: "CREATE EXTENSION"}
	case *pg_query.Node_AlterExtensionStmt, *pg_query.Node_AlterExtensionContentsStmt:
		return stmtInfo{tag: "ALTER EXTENSION"}
	case *pg_query.Node_CreateFdwStmt:
		return stmtInfo{tag: "CREATE FOREIGN DATA WRAPPER"}
	case *pg_query.Node_AlterFdwStmt:
		return stmtInfo{tag: "ALTER FOREIGN DATA WRAPPER"}
	case *pg_query.Node_CreateForeignServerStmt:
		return stmtInfo{tag: "CREATE SERVER"}
	case *pg_query.Node_AlterForeignServerStmt:
		return stmtInfo{tag: "ALTER SERVER"}
	case *pg_query.Node_CreateForeignTableStmt:
		return stmtInfo{tag: "CREATE FOREIGN TABLE"}
	case *pg_query.Node_CreateUserMappingStmt:
		return stmtInfo{tag: "CREATE USER MAPPING"}
	case *pg_query.Node_AlterUserMappingStmt:
		return stmtInfo{tag: "ALTER USER MAPPING"}
	case *pg_query.Node_DropUserMappingStmt:
		return stmtInfo{tag: "DROP USER MAPPING"}
	case *pg_query.Node_ImportForeignSchemaStmt:
		return stmtInfo{tag: "IMPORT FOREIGN SCHEMA"}
	case *pg_query.Node_CreatePolicyStmt:
		return stmtInfo{tag: "CREATE POLICY"}
	case *pg_query.Node_AlterPolicyStmt:
		return stmtInfo{tag: "ALTER POLICY"}
	case *pg_query.Node_CreateAmStmt:
		return stmtInfo{tag: "CREATE ACCESS METHOD"}
	case *pg_query.Node_CreateTrigStmt:
		return stmtInfo{tag: "CREATE TRIGGER"}
	case *pg_query.Node_CreateEventTrigStmt:
		return stmtInfo{tag: "CREATE EVENT TRIGGER"}
	case *pg_query.Node_AlterEventTrigStmt:
		return stmtInfo{tag: "ALTER EVENT TRIGGER"}
	case *pg_query.Node_CreatePlangStmt:
		return stmtInfo{tag: "CREATE LANGUAGE"}
	case *pg_query.Node_CreateRoleStmt:
		return stmtInfo{tag: "CREATE ROLE"}
	case *pg_query.Node_AlterRoleStmt, *pg_query.Node_AlterRoleSetStmt:
		return stmtInfo{tag: "ALTER ROLE"}
	case *pg_query.Node_DropRoleStmt:
		return stmtInfo{tag: "DROP ROLE"}
	case *pg_query.Node_DropOwnedStmt:
		return stmtInfo{tag: "DROP OWNED"}
	case *pg_query.Node_ReassignOwnedStmt:
		return stmtInfo{tag: "REASSIGN OWNED"}
	case *pg_query.Node_RuleStmt:
		return stmtInfo{tag: "CREATE RULE"}
	case *pg_query.Node_RefreshMatViewStmt:
		return stmtInfo{tag: "REFRESH MATERIALIZED VIEW"}
	case *pg_query.Node_CreateConversionStmt:
		return stmtInfo{tag: "CREATE CONVERSION"}
	case *pg_query.Node_CreateCastStmt:
		return stmtInfo{tag: "CREATE CAST"}
	case *pg_query.Node_CreateTransformStmt:
		return stmtInfo{tag: "CREATE TRANSFORM"}
	case *pg_query.Node_CreateOpClassStmt:
		return stmtInfo{tag: "CREATE OPERATOR CLASS"}
	case *pg_query.Node_CreateOpFamilyStmt:
		return stmtInfo{tag: "CREATE OPERATOR FAMILY"}
	case *pg_query.Node_AlterOpFamilyStmt:
		return stmtInfo{tag: "ALTER OPERATOR FAMILY"}
	case *pg_query.Node_AlterOperatorStmt:
		return stmtInfo{tag: "ALTER OPERATOR"}
	case *pg_query.Node_AlterTsdictionaryStmt:
		return stmtInfo{tag: "ALTER TEXT SEARCH DICTIONARY"}
	case *pg_query.Node_AlterTsconfigurationStmt:
		return stmtInfo{tag: "ALTER TEXT SEARCH CONFIGURATION"}
	case *pg_query.Node_CreatePublicationStmt:
		return stmtInfo{tag: "CREATE PUBLICATION"}
	case *pg_query.Node_AlterPublicationStmt:
		return stmtInfo{tag: "ALTER PUBLICATION"}
	case *pg_query.Node_AlterCollationStmt:
		return stmtInfo{tag: "ALTER COLLATION"}
	case *pg_query.Node_CreateStatsStmt:
		return stmtInfo{tag: "CREATE STATISTICS"}
	case *pg_query.Node_AlterStatsStmt:
		return stmtInfo{tag: "ALTER STATISTICS"}
	}
	return stmtInfo{tag: "UNKNOWN"}
}

func transactionTag(s *pg_query.TransactionStmt) string {
	switch s.GetKind() {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN:
		return "BEGIN"
	case pg_query.TransactionStmtKind_TRANS_STMT_START:
		return "START TRANSACTION"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		return "COMMIT"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return "ROLLBACK"
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		return "SAVEPOINT"
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		return "RELEASE"
	case pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
		return "PREPARE TRANSACTION"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		return "COMMIT PREPARED"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return "ROLLBACK PREPARED"
	}
	return "UNKNOWN"
}

func variableSet(s *pg_query.VariableSetStmt) stmtInfo {
	tag := "SET"
	if k := s.GetKind(); k == pg_query.VariableSetKind_VAR_RESET || k == pg_query.VariableSetKind_VAR_RESET_ALL {
		tag = "RESET"
	}
	// SET LOCAL and SET TRANSACTION last until the end of the transaction;
	// everything else (SET, RESET, SET ROLE, SET SESSION AUTHORIZATION,
	// SET SESSION CHARACTERISTICS …) outlives it.
	session := !s.GetIsLocal()
	if s.GetKind() == pg_query.VariableSetKind_VAR_SET_MULTI && s.GetName() == "TRANSACTION" {
		session = false
	}
	return stmtInfo{tag: tag, session: session}
}

func discard(s *pg_query.DiscardStmt) stmtInfo {
	switch s.GetTarget() {
	case pg_query.DiscardMode_DISCARD_ALL:
		return stmtInfo{tag: "DISCARD ALL", noTx: true, session: true}
	case pg_query.DiscardMode_DISCARD_PLANS:
		return stmtInfo{tag: "DISCARD PLANS", session: true}
	case pg_query.DiscardMode_DISCARD_SEQUENCES:
		return stmtInfo{tag: "DISCARD SEQUENCES", session: true}
	case pg_query.DiscardMode_DISCARD_TEMP:
		return stmtInfo{tag: "DISCARD TEMP", session: true}
	}
	return stmtInfo{tag: "DISCARD", session: true}
}

func reindex(s *pg_query.ReindexStmt) stmtInfo {
	noTx := hasOption(s.GetParams(), "concurrently")
	switch s.GetKind() {
	case pg_query.ReindexObjectType_REINDEX_OBJECT_SCHEMA, pg_query.ReindexObjectType_REINDEX_OBJECT_SYSTEM,
		pg_query.ReindexObjectType_REINDEX_OBJECT_DATABASE:
		noTx = true
	}
	return stmtInfo{tag: "REINDEX", noTx: noTx}
}

func createTableAs(s *pg_query.CreateTableAsStmt) stmtInfo {
	temp := isTempRangeVar(s.GetInto().GetRel())
	switch {
	case s.GetIsSelectInto():
		return stmtInfo{tag: "SELECT", session: temp}
	case s.GetObjtype() == pg_query.ObjectType_OBJECT_MATVIEW:
		return stmtInfo{tag: "CREATE MATERIALIZED VIEW"}
	}
	return stmtInfo{tag: "CREATE TABLE AS", session: temp}
}

func grantTag(grant bool) stmtInfo {
	if grant {
		return stmtInfo{tag: "GRANT"}
	}
	return stmtInfo{tag: "REVOKE"}
}

// detachesConcurrently reports ALTER TABLE … DETACH PARTITION … CONCURRENTLY.
func detachesConcurrently(s *pg_query.AlterTableStmt) bool {
	for _, c := range s.GetCmds() {
		cmd := c.GetAlterTableCmd()
		if cmd.GetSubtype() == pg_query.AlterTableType_AT_DetachPartition && cmd.GetDef().GetPartitionCmd().GetConcurrent() {
			return true
		}
	}
	return false
}

// renamedType is the object type whose ALTER command a RENAME belongs to:
// renaming a column or constraint is an ALTER of its relation.
func renamedType(s *pg_query.RenameStmt) pg_query.ObjectType {
	switch s.GetRenameType() {
	case pg_query.ObjectType_OBJECT_COLUMN, pg_query.ObjectType_OBJECT_TABCONSTRAINT:
		return s.GetRelationType()
	case pg_query.ObjectType_OBJECT_ATTRIBUTE:
		return pg_query.ObjectType_OBJECT_TYPE
	case pg_query.ObjectType_OBJECT_DOMCONSTRAINT:
		return pg_query.ObjectType_OBJECT_DOMAIN
	}
	return s.GetRenameType()
}

var objectNames = map[pg_query.ObjectType]string{
	pg_query.ObjectType_OBJECT_ACCESS_METHOD:         "ACCESS METHOD",
	pg_query.ObjectType_OBJECT_AGGREGATE:             "AGGREGATE",
	pg_query.ObjectType_OBJECT_CAST:                  "CAST",
	pg_query.ObjectType_OBJECT_COLLATION:             "COLLATION",
	pg_query.ObjectType_OBJECT_CONVERSION:            "CONVERSION",
	pg_query.ObjectType_OBJECT_DATABASE:              "DATABASE",
	pg_query.ObjectType_OBJECT_DOMAIN:                "DOMAIN",
	pg_query.ObjectType_OBJECT_EVENT_TRIGGER:         "EVENT TRIGGER",
	pg_query.ObjectType_OBJECT_EXTENSION:             "EXTENSION",
	pg_query.ObjectType_OBJECT_FDW:                   "FOREIGN DATA WRAPPER",
	pg_query.ObjectType_OBJECT_FOREIGN_SERVER:        "SERVER",
	pg_query.ObjectType_OBJECT_FOREIGN_TABLE:         "FOREIGN TABLE",
	pg_query.ObjectType_OBJECT_FUNCTION:              "FUNCTION",
	pg_query.ObjectType_OBJECT_INDEX:                 "INDEX",
	pg_query.ObjectType_OBJECT_LANGUAGE:              "LANGUAGE",
	pg_query.ObjectType_OBJECT_LARGEOBJECT:           "LARGE OBJECT",
	pg_query.ObjectType_OBJECT_MATVIEW:               "MATERIALIZED VIEW",
	pg_query.ObjectType_OBJECT_OPCLASS:               "OPERATOR CLASS",
	pg_query.ObjectType_OBJECT_OPERATOR:              "OPERATOR",
	pg_query.ObjectType_OBJECT_OPFAMILY:              "OPERATOR FAMILY",
	pg_query.ObjectType_OBJECT_POLICY:                "POLICY",
	pg_query.ObjectType_OBJECT_PROCEDURE:             "PROCEDURE",
	pg_query.ObjectType_OBJECT_PUBLICATION:           "PUBLICATION",
	pg_query.ObjectType_OBJECT_ROLE:                  "ROLE",
	pg_query.ObjectType_OBJECT_ROUTINE:               "ROUTINE",
	pg_query.ObjectType_OBJECT_RULE:                  "RULE",
	pg_query.ObjectType_OBJECT_SCHEMA:                "SCHEMA",
	pg_query.ObjectType_OBJECT_SEQUENCE:              "SEQUENCE",
	pg_query.ObjectType_OBJECT_SUBSCRIPTION:          "SUBSCRIPTION",
	pg_query.ObjectType_OBJECT_STATISTIC_EXT:         "STATISTICS",
	pg_query.ObjectType_OBJECT_TABLE:                 "TABLE",
	pg_query.ObjectType_OBJECT_TABLESPACE:            "TABLESPACE",
	pg_query.ObjectType_OBJECT_TRANSFORM:             "TRANSFORM",
	pg_query.ObjectType_OBJECT_TRIGGER:               "TRIGGER",
	pg_query.ObjectType_OBJECT_TSCONFIGURATION:       "TEXT SEARCH CONFIGURATION",
	pg_query.ObjectType_OBJECT_TSDICTIONARY:          "TEXT SEARCH DICTIONARY",
	pg_query.ObjectType_OBJECT_TSPARSER:              "TEXT SEARCH PARSER",
	pg_query.ObjectType_OBJECT_TSTEMPLATE:            "TEXT SEARCH TEMPLATE",
	pg_query.ObjectType_OBJECT_TYPE:                  "TYPE",
	pg_query.ObjectType_OBJECT_USER_MAPPING:          "USER MAPPING",
	pg_query.ObjectType_OBJECT_VIEW:                  "VIEW",
	pg_query.ObjectType_OBJECT_COLUMN:                "TABLE",
	pg_query.ObjectType_OBJECT_TABCONSTRAINT:         "TABLE",
	pg_query.ObjectType_OBJECT_DOMCONSTRAINT:         "DOMAIN",
	pg_query.ObjectType_OBJECT_ATTRIBUTE:             "TYPE",
	pg_query.ObjectType_OBJECT_DEFAULT:               "TABLE",
	pg_query.ObjectType_OBJECT_PARAMETER_ACL:         "PARAMETER",
	pg_query.ObjectType_OBJECT_PUBLICATION_REL:       "PUBLICATION",
	pg_query.ObjectType_OBJECT_PUBLICATION_NAMESPACE: "PUBLICATION",
}

func objectName(t pg_query.ObjectType) string {
	if s, ok := objectNames[t]; ok {
		return s
	}
	return "OBJECT"
}

// hasOption reports whether a DefElem list names opt (options are folded to
// lower case by the parser).
func hasOption(opts []*pg_query.Node, opt string) bool {
	for _, o := range opts {
		if d := o.GetDefElem(); d != nil && d.GetDefname() == opt && !isFalse(d.GetArg()) {
			return true
		}
	}
	return false
}

// isTempRangeVar reports a relation that lives in the session's temporary
// schema: declared TEMP or qualified with pg_temp.
func isTempRangeVar(r *pg_query.RangeVar) bool {
	return r != nil && (r.GetRelpersistence() == "t" || isTempSchema(r.GetSchemaname()))
}

// tempQualified reports a qualified name whose schema is pg_temp.
func tempQualified(names []*pg_query.Node) bool {
	return len(names) > 1 && isTempSchema(names[len(names)-2].GetString_().GetSval())
}

// isTempSchema reports pg_temp and its per-backend spellings (pg_temp_3).
func isTempSchema(s string) bool {
	return s == "pg_temp" || strings.HasPrefix(s, "pg_temp_")
}
