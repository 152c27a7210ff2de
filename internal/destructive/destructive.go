// Package destructive recognizes SQL statements that drop, truncate or
// rewrite data, which pgherd asks the user to confirm before running (the
// endpoints' confirm_destructive setting).
//
// In admin_rw that is any DROP (table, schema, database, index, owned …),
// TRUNCATE, ALTER TABLE … DROP COLUMN or ALTER COLUMN … TYPE, and DELETE or
// UPDATE without WHERE; in user_rw, where the validator allows no DDL,
// DELETE and UPDATE without WHERE, anywhere in the statement (a
// data-modifying WITH too). Other modes cannot write and have nothing to
// confirm. Like sqlguard, the package is pure: SQL in, finding out.
package destructive

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pgherd/pgherd/internal/access"
)

// Finding says why a statement needs confirmation.
type Finding struct {
	// Kind names what the statement does, for a person: "DROP TABLE",
	// "TRUNCATE", "DELETE without WHERE", "ALTER TABLE … DROP COLUMN".
	Kind string
	// Changes lists each destructive part: "drops table public.orders
	// (CASCADE: dependent objects go too)", "deletes every row of orders".
	Changes []string
	// Tables are the relations whose rows are lost or rewritten, as
	// written (schema-qualified when the statement qualifies them).
	Tables []Relation
	// RowsFromCommand: the statement's own row count (DELETE, UPDATE) is
	// the number of rows it changes.
	RowsFromCommand bool
	// DDL: the statement changes the schema (objects may disappear).
	DDL bool
}

// Relation is a table named by a statement.
type Relation struct {
	Schema, Name string // Schema "" when unqualified
}

func (r Relation) String() string {
	if r.Schema == "" {
		return r.Name
	}
	return r.Schema + "." + r.Name
}

// Classify returns what makes sql destructive in mode, or nil when nothing
// does. sql must hold one statement (sqlguard has checked it); an error
// means it does not parse.
func Classify(sql string, mode access.Mode) (*Finding, error) {
	if mode != access.AdminRW && mode != access.UserRW {
		return nil, nil
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("parsing the statement: %w", err)
	}
	f := &Finding{}
	for _, raw := range tree.GetStmts() {
		stmt := raw.GetStmt()
		if mode == access.AdminRW {
			f.ddl(stmt)
		}
		walk(stmt.ProtoReflect(), f.dml)
	}
	if len(f.Changes) == 0 {
		return nil, nil
	}
	return f, nil
}

// ddl records the destructive schema changes of a top-level statement.
func (f *Finding) ddl(n *pg_query.Node) {
	switch {
	case n.GetDropStmt() != nil:
		d := n.GetDropStmt()
		kind := objectType(d.GetRemoveType())
		f.set("DROP "+kind, true)
		for _, o := range d.GetObjects() {
			name := objectName(o)
			f.Changes = append(f.Changes, fmt.Sprintf("drops %s %s%s", strings.ToLower(kind), name, cascade(d.GetBehavior())))
			if d.GetRemoveType() == pg_query.ObjectType_OBJECT_TABLE || d.GetRemoveType() == pg_query.ObjectType_OBJECT_MATVIEW {
				f.Tables = append(f.Tables, splitName(o))
			}
		}
	case n.GetTruncateStmt() != nil:
		t := n.GetTruncateStmt()
		f.set("TRUNCATE", true)
		for _, r := range t.GetRelations() {
			rel := rangeVar(r.GetRangeVar())
			f.Tables = append(f.Tables, rel)
			f.Changes = append(f.Changes, fmt.Sprintf("removes every row of %s%s", rel, cascade(t.GetBehavior())))
		}
	case n.GetDropdbStmt() != nil:
		f.set("DROP DATABASE", true)
		f.Changes = append(f.Changes, "drops database "+n.GetDropdbStmt().GetDbname())
	case n.GetDropOwnedStmt() != nil:
		f.set("DROP OWNED", true)
		var roles []string
		for _, r := range n.GetDropOwnedStmt().GetRoles() {
			roles = append(roles, r.GetRoleSpec().GetRolename())
		}
		f.Changes = append(f.Changes, "drops every object owned by "+strings.Join(roles, ", ")+cascade(n.GetDropOwnedStmt().GetBehavior()))
	case n.GetAlterTableStmt() != nil:
		a := n.GetAlterTableStmt()
		rel := rangeVar(a.GetRelation())
		lost := false
		for _, c := range a.GetCmds() {
			cmd := c.GetAlterTableCmd()
			switch cmd.GetSubtype() {
			case pg_query.AlterTableType_AT_DropColumn:
				f.set("ALTER TABLE … DROP COLUMN", true)
				f.Changes = append(f.Changes, fmt.Sprintf("drops column %s of %s%s", cmd.GetName(), rel, cascade(cmd.GetBehavior())))
				lost = true
			case pg_query.AlterTableType_AT_AlterColumnType:
				f.set("ALTER TABLE … ALTER COLUMN TYPE", true)
				f.Changes = append(f.Changes, fmt.Sprintf("rewrites column %s of %s to a new type (the whole table is rewritten)", cmd.GetName(), rel))
				lost = true
			}
		}
		if lost {
			f.Tables = append(f.Tables, rel)
		}
	}
}

// dml records DELETE and UPDATE without WHERE, wherever they are.
func (f *Finding) dml(m protoreflect.Message) {
	switch s := m.Interface().(type) {
	case *pg_query.DeleteStmt:
		if s.GetWhereClause() == nil {
			rel := rangeVar(s.GetRelation())
			f.set("DELETE without WHERE", false)
			f.RowsFromCommand = true
			f.Tables = append(f.Tables, rel)
			f.Changes = append(f.Changes, "deletes every row of "+rel.String())
		}
	case *pg_query.UpdateStmt:
		if s.GetWhereClause() == nil {
			rel := rangeVar(s.GetRelation())
			f.set("UPDATE without WHERE", false)
			f.RowsFromCommand = true
			f.Tables = append(f.Tables, rel)
			f.Changes = append(f.Changes, "updates every row of "+rel.String())
		}
	}
}

// set records the statement's kind (the first destructive part names it).
func (f *Finding) set(kind string, ddl bool) {
	if f.Kind == "" {
		f.Kind = kind
	}
	f.DDL = f.DDL || ddl
}

// walk calls fn on m and every message below it.
func walk(m protoreflect.Message, fn func(protoreflect.Message)) {
	if !m.IsValid() {
		return
	}
	fn(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(l.Get(i).Message(), fn)
			}
		case fd.Message() != nil && !fd.IsMap():
			walk(v.Message(), fn)
		}
		return true
	})
}

func cascade(b pg_query.DropBehavior) string {
	if b == pg_query.DropBehavior_DROP_CASCADE {
		return " (CASCADE: what depends on it goes too)"
	}
	return ""
}

// objectType turns OBJECT_MATVIEW into "MATERIALIZED VIEW".
func objectType(t pg_query.ObjectType) string {
	s := strings.TrimPrefix(t.String(), "OBJECT_")
	switch s {
	case "MATVIEW":
		return "MATERIALIZED VIEW"
	case "FDW":
		return "FOREIGN DATA WRAPPER"
	}
	return strings.ReplaceAll(s, "_", " ")
}

// objectName renders the name of a dropped object as written.
func objectName(n *pg_query.Node) string {
	switch {
	case n.GetList() != nil:
		return joinNames(n.GetList().GetItems())
	case n.GetString_() != nil:
		return n.GetString_().GetSval()
	case n.GetObjectWithArgs() != nil:
		return joinNames(n.GetObjectWithArgs().GetObjname()) + "(…)"
	case n.GetTypeName() != nil:
		return joinNames(n.GetTypeName().GetNames())
	}
	return "(an object)"
}

func joinNames(items []*pg_query.Node) string {
	parts := make([]string, 0, len(items))
	for _, it := range items {
		parts = append(parts, it.GetString_().GetSval())
	}
	return strings.Join(parts, ".")
}

// splitName turns a dropped table's name list into a Relation.
func splitName(n *pg_query.Node) Relation {
	items := n.GetList().GetItems()
	switch len(items) {
	case 0:
		return Relation{Name: objectName(n)}
	case 1:
		return Relation{Name: items[0].GetString_().GetSval()}
	}
	return Relation{Schema: items[len(items)-2].GetString_().GetSval(), Name: items[len(items)-1].GetString_().GetSval()}
}

func rangeVar(r *pg_query.RangeVar) Relation {
	return Relation{Schema: r.GetSchemaname(), Name: r.GetRelname()}
}
