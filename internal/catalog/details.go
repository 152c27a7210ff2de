package catalog

import "time"

// Details describes one object (or, for functions, every overload of one
// name). Sections that do not apply to the object's type are omitted from
// JSON; the comments say which types fill them.
type Details struct {
	Schema string     `json:"schema"`
	Name   string     `json:"name"`
	Type   ObjectType `json:"type"`
	// Kind refines Type as in [Object]: "partitioned", "partition", "toast",
	// "enum", "composite", "aggregate", … (for functions, set when every
	// overload is of the same kind).
	Kind    string `json:"kind,omitempty"`
	Owner   string `json:"owner,omitempty"`
	Comment string `json:"comment,omitempty"`
	// Notes explain missing or surprising values: a table never analyzed, a
	// relation locked by another session, a definition cut short, a value the
	// current role may not read.
	Notes []string `json:"notes,omitempty"`
	// OtherTypesWithName lists other kinds of object with the same name in
	// the schema (a function and a table may share a name); ask for one of
	// them with its object type.
	OtherTypesWithName []ObjectType `json:"other_types_with_same_name,omitempty"`

	// CurrentRolePrivileges are the privileges the connected role holds on
	// the relation (tables, views, sequences …), e.g. SELECT, INSERT.
	CurrentRolePrivileges []string `json:"current_role_privileges,omitempty"`
	// Persistence is "unlogged" or "temporary" when the relation is not an
	// ordinary permanent one.
	Persistence string `json:"persistence,omitempty"`
	// Options are storage parameters (reloptions): fillfactor, autovacuum
	// settings, security_barrier, check_option …
	Options []string `json:"options,omitempty"`

	// Columns of tables, views, materialized views and foreign tables.
	Columns              []Column     `json:"columns,omitempty"`
	PrimaryKey           *Constraint  `json:"primary_key,omitempty"`
	ForeignKeys          []ForeignKey `json:"foreign_keys,omitempty"`
	ReferencedBy         []ForeignKey `json:"referenced_by,omitempty"` // foreign keys of other tables pointing here
	UniqueConstraints    []Constraint `json:"unique_constraints,omitempty"`
	CheckConstraints     []Constraint `json:"check_constraints,omitempty"`
	ExclusionConstraints []Constraint `json:"exclusion_constraints,omitempty"`
	Indexes              []Index      `json:"indexes,omitempty"` // tables and materialized views
	Triggers             []Trigger    `json:"triggers,omitempty"`
	RowSecurity          *RowSecurity `json:"row_security,omitempty"` // tables

	// RowEstimate is the planner's estimate (tables, materialized views,
	// foreign tables); absent, with a note, when the table was never
	// analyzed. Partitioned tables sum their partitions.
	RowEstimate *int64        `json:"row_estimate,omitempty"`
	Size        *RelationSize `json:"size,omitempty"`
	Stats       *TableStats   `json:"stats,omitempty"`

	Partitioning *Partitioning    `json:"partitioning,omitempty"` // partitioned tables
	PartitionOf  *PartitionParent `json:"partition_of,omitempty"` // partitions
	Inherits     []RelationRef    `json:"inherits,omitempty"`     // parents by table inheritance
	InheritedBy  []RelationRef    `json:"inherited_by,omitempty"` // children by table inheritance

	ForeignTable *ForeignTableInfo `json:"foreign_table,omitempty"`
	View         *ViewInfo         `json:"view,omitempty"` // views and materialized views
	Sequence     *SequenceInfo     `json:"sequence,omitempty"`
	Functions    []Function        `json:"functions,omitempty"` // every overload of the name
	DataType     *TypeInfo         `json:"data_type,omitempty"`
	Extension    *ExtensionInfo    `json:"extension,omitempty"`
	Index        *Index            `json:"index,omitempty"` // when the object is an index
}

// Column is a column of a table, view or foreign table, or an attribute of
// a composite type.
type Column struct {
	Position int    `json:"position"` // attnum: stable, may have gaps after dropped columns
	Name     string `json:"name"`
	Type     string `json:"type"` // as format_type shows it: "character varying(10)", "integer[]"
	Nullable bool   `json:"nullable"`
	Default  string `json:"default,omitempty"`
	// Identity is "always" or "by_default" for identity columns.
	Identity string `json:"identity,omitempty"`
	// Generated is "stored" (or "virtual") for generated columns, whose
	// expression is GenerationExpression.
	Generated            string   `json:"generated,omitempty"`
	GenerationExpression string   `json:"generation_expression,omitempty"`
	Collation            string   `json:"collation,omitempty"` // only when not the type's default
	Comment              string   `json:"comment,omitempty"`
	FDWOptions           []string `json:"fdw_options,omitempty"` // foreign table columns
}

// Constraint is a primary key, unique, check or exclusion constraint.
type Constraint struct {
	Name       string   `json:"name"`
	Columns    []string `json:"columns,omitempty"`
	Definition string   `json:"definition,omitempty"` // pg_get_constraintdef; absent for check and exclusion constraints while the table is locked
	// Expression is a check constraint's boolean expression.
	Expression        string `json:"expression,omitempty"`
	Index             string `json:"index,omitempty"` // the index enforcing it
	Deferrable        bool   `json:"deferrable,omitempty"`
	InitiallyDeferred bool   `json:"initially_deferred,omitempty"`
	// NotValid is set for a constraint added NOT VALID and not validated
	// since: existing rows may violate it.
	NotValid  bool   `json:"not_valid,omitempty"`
	Inherited bool   `json:"inherited,omitempty"` // from a parent or partitioned table
	NoInherit bool   `json:"no_inherit,omitempty"`
	Comment   string `json:"comment,omitempty"`
}

// ForeignKey is a foreign key constraint. In [Details.ForeignKeys] Schema
// and Table are the described table; in [Details.ReferencedBy] they name the
// referencing table.
type ForeignKey struct {
	Name              string   `json:"name"`
	Schema            string   `json:"schema"`
	Table             string   `json:"table"`
	Columns           []string `json:"columns"`
	ReferencedSchema  string   `json:"referenced_schema"`
	ReferencedTable   string   `json:"referenced_table"`
	ReferencedColumns []string `json:"referenced_columns"`
	// OnUpdate and OnDelete: "no action", "restrict", "cascade",
	// "set null" or "set default".
	OnUpdate          string `json:"on_update"`
	OnDelete          string `json:"on_delete"`
	Match             string `json:"match"` // simple, full or partial
	Deferrable        bool   `json:"deferrable,omitempty"`
	InitiallyDeferred bool   `json:"initially_deferred,omitempty"`
	NotValid          bool   `json:"not_valid,omitempty"`
	Inherited         bool   `json:"inherited,omitempty"`
	Definition        string `json:"definition"`
	Comment           string `json:"comment,omitempty"`
}

// Index is an index of a table or materialized view.
type Index struct {
	Name string `json:"name"`
	// Schema and Table of the indexed relation; set when the index itself
	// is described.
	Schema     string `json:"schema,omitempty"`
	Table      string `json:"table,omitempty"`
	Definition string `json:"definition,omitempty"` // pg_get_indexdef; absent while the table is locked
	Method     string `json:"method"`               // btree, gist, gin, …
	Primary    bool   `json:"primary,omitempty"`
	Unique     bool   `json:"unique"`
	Exclusion  bool   `json:"exclusion,omitempty"`
	// Valid is false for an index left broken by a failed CREATE INDEX
	// CONCURRENTLY: the planner ignores it.
	Valid bool `json:"valid"`
	// Partitioned is set for the parent index of a partitioned table.
	Partitioned bool   `json:"partitioned,omitempty"`
	Predicate   string `json:"predicate,omitempty"`  // WHERE clause of a partial index
	Constraint  string `json:"constraint,omitempty"` // the constraint it enforces
	SizeBytes   *int64 `json:"size_bytes,omitempty"`
	Size        string `json:"size,omitempty"`
	// Scans, TuplesRead and TuplesFetched come from pg_stat_all_indexes
	// (idx_scan, idx_tup_read, idx_tup_fetch) since the last stats reset.
	Scans         *int64 `json:"scans,omitempty"`
	TuplesRead    *int64 `json:"tuples_read,omitempty"`
	TuplesFetched *int64 `json:"tuples_fetched,omitempty"`
	Comment       string `json:"comment,omitempty"`
}

// Trigger is a (user-visible) trigger on a table, view or foreign table.
type Trigger struct {
	Name   string   `json:"name"`
	Timing string   `json:"timing"` // BEFORE, AFTER or INSTEAD OF
	Events []string `json:"events"` // INSERT, UPDATE, DELETE, TRUNCATE
	Level  string   `json:"level"`  // ROW or STATEMENT
	// Function is the trigger function, schema-qualified.
	Function string `json:"function"`
	Enabled  bool   `json:"enabled"`
	// FiresOn is "replica" or "always" for triggers set to fire in those
	// session_replication_role modes; absent for the normal (origin) mode.
	FiresOn    string `json:"fires_on,omitempty"`
	Condition  string `json:"condition,omitempty"` // the WHEN expression
	Constraint bool   `json:"constraint_trigger,omitempty"`
	Inherited  bool   `json:"inherited,omitempty"`  // cloned from a partitioned table's trigger
	Definition string `json:"definition,omitempty"` // pg_get_triggerdef; absent for a WHEN trigger while the table is locked
}

// RowSecurity is a table's row-level security state.
type RowSecurity struct {
	Enabled bool `json:"enabled"`
	// Forced means the policies apply to the table's owner too.
	Forced bool `json:"forced"`
	// ActiveForCurrentRole tells whether the policies filter the connected
	// role's queries (false for superusers, BYPASSRLS roles and, unless
	// forced, the owner).
	ActiveForCurrentRole bool     `json:"active_for_current_role"`
	Policies             []Policy `json:"policies"`
}

// Policy is a row-level security policy.
type Policy struct {
	Name       string   `json:"name"`
	Command    string   `json:"command"`    // ALL, SELECT, INSERT, UPDATE or DELETE
	Permissive bool     `json:"permissive"` // false: RESTRICTIVE
	Roles      []string `json:"roles"`      // "public" for every role
	Using      string   `json:"using,omitempty"`
	WithCheck  string   `json:"with_check,omitempty"`
}

// RelationSize is the on-disk size of a table or materialized view
// (partitioned tables: the sum of their partitions). Table covers the main
// data with its free space and visibility maps; Total = Table + Indexes +
// Toast.
type RelationSize struct {
	TotalBytes   int64  `json:"total_bytes"`
	Total        string `json:"total"`
	TableBytes   int64  `json:"table_bytes"`
	Table        string `json:"table"`
	IndexesBytes int64  `json:"indexes_bytes"`
	Indexes      string `json:"indexes"`
	ToastBytes   int64  `json:"toast_bytes"`
	Toast        string `json:"toast"`
}

// TableStats are the cumulative statistics of a table (pg_stat_all_tables)
// since the last stats reset. Counters for partitioned tables live on their
// partitions.
type TableStats struct {
	SeqScans             int64      `json:"seq_scans"`
	SeqTuplesRead        int64      `json:"seq_tuples_read"`
	IndexScans           *int64     `json:"index_scans,omitempty"` // absent when the table has no index
	IndexTuplesFetched   *int64     `json:"index_tuples_fetched,omitempty"`
	Inserted             int64      `json:"inserted"`
	Updated              int64      `json:"updated"`
	Deleted              int64      `json:"deleted"`
	HotUpdated           int64      `json:"hot_updated"`
	LiveTuples           int64      `json:"live_tuples"`
	DeadTuples           int64      `json:"dead_tuples"`
	ModifiedSinceAnalyze int64      `json:"modified_since_analyze"`
	InsertedSinceVacuum  int64      `json:"inserted_since_vacuum"`
	LastVacuum           *time.Time `json:"last_vacuum,omitempty"`
	LastAutovacuum       *time.Time `json:"last_autovacuum,omitempty"`
	LastAnalyze          *time.Time `json:"last_analyze,omitempty"`
	LastAutoanalyze      *time.Time `json:"last_autoanalyze,omitempty"`
	VacuumCount          int64      `json:"vacuum_count"`
	AutovacuumCount      int64      `json:"autovacuum_count"`
	AnalyzeCount         int64      `json:"analyze_count"`
	AutoanalyzeCount     int64      `json:"autoanalyze_count"`
}

// Partitioning describes a partitioned table.
type Partitioning struct {
	Strategy string `json:"strategy"` // range, list or hash
	// Key is the partition key as pg_get_partkeydef shows it:
	// "RANGE (created_at)".
	Key        string      `json:"key"`
	Partitions []Partition `json:"partitions"`
	// PartitionCount counts all partitions, also when the list was cut.
	PartitionCount int `json:"partition_count"`
}

// Partition is one partition of a partitioned table.
type Partition struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	// Bound is "FOR VALUES FROM (…) TO (…)", "FOR VALUES IN (…)", "DEFAULT" …;
	// absent while the partition is locked by another session.
	Bound       string `json:"bound,omitempty"`
	Partitioned bool   `json:"partitioned,omitempty"`
	Foreign     bool   `json:"foreign,omitempty"`
	RowEstimate *int64 `json:"row_estimate,omitempty"`
}

// PartitionParent names the table a partition belongs to.
type PartitionParent struct {
	Schema string `json:"schema"`
	Table  string `json:"table"`
	Bound  string `json:"bound,omitempty"` // absent while the partition is locked
}

// RelationRef names a relation.
type RelationRef struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

// ForeignTableInfo describes where a foreign table's rows live. User
// mappings (which hold credentials) are never read; options whose name
// suggests a secret are masked.
type ForeignTableInfo struct {
	Server        string   `json:"server"`
	Wrapper       string   `json:"wrapper"` // the foreign-data wrapper, e.g. postgres_fdw
	Options       []string `json:"options,omitempty"`
	ServerOptions []string `json:"server_options,omitempty"`
}

// ViewInfo describes a view or materialized view.
type ViewInfo struct {
	Definition string `json:"definition"` // pg_get_viewdef
	// DefinitionTruncated is set when Definition was cut at
	// [MaxDefinitionLength] characters.
	DefinitionTruncated bool `json:"definition_truncated,omitempty"`
	// Populated is false for a materialized view created WITH NO DATA and
	// not refreshed since: selecting from it fails.
	Populated *bool `json:"populated,omitempty"`
}

// SequenceInfo describes a sequence.
type SequenceInfo struct {
	DataType  string `json:"data_type"`
	Start     int64  `json:"start"`
	Increment int64  `json:"increment"`
	Min       int64  `json:"min"`
	Max       int64  `json:"max"`
	Cache     int64  `json:"cache"`
	Cycle     bool   `json:"cycle"`
	// OwnedBy is the column the sequence belongs to (OWNED BY, serial or
	// identity column).
	OwnedBy *ColumnRef `json:"owned_by,omitempty"`
	// Identity is set when the sequence backs an identity column.
	Identity bool `json:"identity,omitempty"`
	// LastValue is the last value handed out; absent when the sequence was
	// never used or the current role lacks SELECT/USAGE on it (a note says
	// which).
	LastValue *int64 `json:"last_value,omitempty"`
}

// ColumnRef names a column.
type ColumnRef struct {
	Schema string `json:"schema"`
	Table  string `json:"table"`
	Column string `json:"column"`
}

// Function is one overload of a function, procedure or aggregate.
type Function struct {
	// Signature is name(identity arguments): what DROP FUNCTION or
	// a function reference takes.
	Signature string `json:"signature"`
	// Arguments with names, modes and defaults (pg_get_function_arguments).
	Arguments string `json:"arguments"`
	// Result type (pg_get_function_result); absent for procedures.
	Result          string   `json:"result,omitempty"`
	Kind            string   `json:"kind"` // function, procedure, aggregate or window
	Language        string   `json:"language"`
	Volatility      string   `json:"volatility"` // immutable, stable or volatile
	Strict          bool     `json:"strict"`
	SecurityDefiner bool     `json:"security_definer"`
	Parallel        string   `json:"parallel"` // safe, restricted or unsafe
	Leakproof       bool     `json:"leakproof,omitempty"`
	ReturnsSet      bool     `json:"returns_set,omitempty"`
	Settings        []string `json:"settings,omitempty"` // SET clauses, e.g. search_path=pg_catalog
	Owner           string   `json:"owner"`
	Comment         string   `json:"comment,omitempty"`
	// Definition is the CREATE statement (pg_get_functiondef); absent for
	// aggregates, whose parts are in Aggregate.
	Definition          string `json:"definition,omitempty"`
	DefinitionTruncated bool   `json:"definition_truncated,omitempty"`
	// Aggregate details, for aggregates.
	Aggregate *AggregateInfo `json:"aggregate,omitempty"`
}

// AggregateInfo describes how an aggregate computes.
type AggregateInfo struct {
	Kind               string `json:"kind"` // normal, ordered-set or hypothetical-set
	TransitionFunction string `json:"transition_function"`
	StateType          string `json:"state_type"`
	FinalFunction      string `json:"final_function,omitempty"`
	InitialCondition   string `json:"initial_condition,omitempty"`
}

// TypeInfo describes a data type.
type TypeInfo struct {
	Kind string `json:"kind"` // enum, composite, domain, range, base or pseudo
	// Labels are an enum's values in sort order.
	Labels []string `json:"labels,omitempty"`
	// Attributes of a composite type.
	Attributes []Column `json:"attributes,omitempty"`
	// BaseType, NotNull, Default, Collation and Constraints of a domain.
	BaseType    string       `json:"base_type,omitempty"`
	NotNull     bool         `json:"not_null,omitempty"`
	Default     string       `json:"default,omitempty"`
	Collation   string       `json:"collation,omitempty"`
	Constraints []Constraint `json:"constraints,omitempty"`
	// Subtype, SubtypeOpclass, Canonical, SubtypeDiff and Multirange of a
	// range type (Multirange on PostgreSQL 14 and later).
	Subtype        string `json:"subtype,omitempty"`
	SubtypeOpclass string `json:"subtype_opclass,omitempty"`
	Canonical      string `json:"canonical_function,omitempty"`
	SubtypeDiff    string `json:"subtype_diff_function,omitempty"`
	Multirange     string `json:"multirange,omitempty"`
	// InternalLength (bytes, -1 variable), Input and Output functions of a
	// base type.
	InternalLength *int   `json:"internal_length,omitempty"`
	Input          string `json:"input_function,omitempty"`
	Output         string `json:"output_function,omitempty"`
	// UsedBy lists table, view and composite type columns of this type (or
	// an array of it), at most [maxUsedBy].
	UsedBy []ColumnRef `json:"used_by,omitempty"`
}

// ExtensionInfo describes an installed extension.
type ExtensionInfo struct {
	Version string `json:"version"`
	// DefaultVersion is the version CREATE EXTENSION would install now; a
	// difference from Version means ALTER EXTENSION … UPDATE is available.
	DefaultVersion string `json:"default_version,omitempty"`
	Schema         string `json:"schema"`
	Relocatable    bool   `json:"relocatable"`
	Description    string `json:"description,omitempty"`
	// Objects counts the objects the extension owns; ObjectsByKind splits
	// the count ("functions", "types", "relations", "operators", …).
	Objects       int            `json:"objects"`
	ObjectsByKind map[string]int `json:"objects_by_kind,omitempty"`
}
