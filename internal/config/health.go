package config

import (
	"strings"
	"time"

	"github.com/pgherd/pgherd/internal/dbhealth"
)

// Health holds an endpoint's thresholds for analyze_db_health and
// herd_health (endpoints.NAME.health). Every key defaults to
// [dbhealth.DefaultThresholds]; docs/intelligence.md explains each.
// Percentages are whole percents.
type Health struct {
	UnusedIndexMinStatsAge      Duration `yaml:"unused_index_min_stats_age"`
	UnusedIndexMinBytes         int64    `yaml:"unused_index_min_bytes"`
	BloatWarningPercent         int      `yaml:"bloat_warning_percent"`
	BloatCriticalPercent        int      `yaml:"bloat_critical_percent"`
	BloatMinBytes               int64    `yaml:"bloat_min_bytes"`
	ForeignKeyMinRows           int64    `yaml:"foreign_key_min_rows"`
	SequenceWarningPercent      int      `yaml:"sequence_warning_percent"`
	SequenceCriticalPercent     int      `yaml:"sequence_critical_percent"`
	XIDAgeWarning               int64    `yaml:"xid_age_warning"`
	XIDAgeCritical              int64    `yaml:"xid_age_critical"`
	DeadTupleWarningPercent     int      `yaml:"dead_tuple_warning_percent"`
	DeadTupleCriticalPercent    int      `yaml:"dead_tuple_critical_percent"`
	DeadTupleMinRows            int64    `yaml:"dead_tuple_min_rows"`
	AnalyzeStalePercent         int      `yaml:"analyze_stale_percent"`
	AnalyzeMinRows              int64    `yaml:"analyze_min_rows"`
	ConnectionWarningPercent    int      `yaml:"connection_warning_percent"`
	ConnectionCriticalPercent   int      `yaml:"connection_critical_percent"`
	IdleConnectionAge           Duration `yaml:"idle_connection_age"`
	IdleInTransactionWarning    Duration `yaml:"idle_in_transaction_warning"`
	IdleInTransactionCritical   Duration `yaml:"idle_in_transaction_critical"`
	LongQueryWarning            Duration `yaml:"long_query_warning"`
	LongQueryCritical           Duration `yaml:"long_query_critical"`
	LockWaitWarning             Duration `yaml:"lock_wait_warning"`
	LockWaitCritical            Duration `yaml:"lock_wait_critical"`
	CacheHitWarningPercent      int      `yaml:"cache_hit_warning_percent"`
	CacheHitCriticalPercent     int      `yaml:"cache_hit_critical_percent"`
	CacheHitMinBlocks           int64    `yaml:"cache_hit_min_blocks"`
	ReplicationLagWarningBytes  int64    `yaml:"replication_lag_warning_bytes"`
	ReplicationLagCriticalBytes int64    `yaml:"replication_lag_critical_bytes"`
	SlotRetainedWarningBytes    int64    `yaml:"slot_retained_warning_bytes"`
	SlotRetainedCriticalBytes   int64    `yaml:"slot_retained_critical_bytes"`
	MaxFindings                 int      `yaml:"max_findings"`
}

// healthField is one key of Health with a pointer into a Health value and
// into the default thresholds.
type healthField struct {
	key string
	// zeroOK: a 0 written in the file means itself (no minimum), not the
	// default.
	zeroOK bool
	val    any // *int, *int64 or *Duration in Health
	def    any // *int, *int64 or *time.Duration in dbhealth.Thresholds
}

func (h *Health) fields(t *dbhealth.Thresholds) []healthField {
	return []healthField{
		{"unused_index_min_stats_age", true, &h.UnusedIndexMinStatsAge, &t.UnusedIndexMinStatsAge},
		{"unused_index_min_bytes", true, &h.UnusedIndexMinBytes, &t.UnusedIndexMinBytes},
		{"bloat_warning_percent", false, &h.BloatWarningPercent, &t.BloatWarningPercent},
		{"bloat_critical_percent", false, &h.BloatCriticalPercent, &t.BloatCriticalPercent},
		{"bloat_min_bytes", true, &h.BloatMinBytes, &t.BloatMinBytes},
		{"foreign_key_min_rows", true, &h.ForeignKeyMinRows, &t.ForeignKeyMinRows},
		{"sequence_warning_percent", false, &h.SequenceWarningPercent, &t.SequenceWarningPercent},
		{"sequence_critical_percent", false, &h.SequenceCriticalPercent, &t.SequenceCriticalPercent},
		{"xid_age_warning", false, &h.XIDAgeWarning, &t.XIDAgeWarning},
		{"xid_age_critical", false, &h.XIDAgeCritical, &t.XIDAgeCritical},
		{"dead_tuple_warning_percent", false, &h.DeadTupleWarningPercent, &t.DeadTupleWarningPercent},
		{"dead_tuple_critical_percent", false, &h.DeadTupleCriticalPercent, &t.DeadTupleCriticalPercent},
		{"dead_tuple_min_rows", true, &h.DeadTupleMinRows, &t.DeadTupleMinRows},
		{"analyze_stale_percent", false, &h.AnalyzeStalePercent, &t.AnalyzeStalePercent},
		{"analyze_min_rows", true, &h.AnalyzeMinRows, &t.AnalyzeMinRows},
		{"connection_warning_percent", false, &h.ConnectionWarningPercent, &t.ConnectionWarningPercent},
		{"connection_critical_percent", false, &h.ConnectionCriticalPercent, &t.ConnectionCriticalPercent},
		{"idle_connection_age", false, &h.IdleConnectionAge, &t.IdleConnectionAge},
		{"idle_in_transaction_warning", false, &h.IdleInTransactionWarning, &t.IdleInTransactionWarning},
		{"idle_in_transaction_critical", false, &h.IdleInTransactionCritical, &t.IdleInTransactionCritical},
		{"long_query_warning", false, &h.LongQueryWarning, &t.LongQueryWarning},
		{"long_query_critical", false, &h.LongQueryCritical, &t.LongQueryCritical},
		{"lock_wait_warning", false, &h.LockWaitWarning, &t.LockWaitWarning},
		{"lock_wait_critical", false, &h.LockWaitCritical, &t.LockWaitCritical},
		{"cache_hit_warning_percent", false, &h.CacheHitWarningPercent, &t.CacheHitWarningPercent},
		{"cache_hit_critical_percent", false, &h.CacheHitCriticalPercent, &t.CacheHitCriticalPercent},
		{"cache_hit_min_blocks", true, &h.CacheHitMinBlocks, &t.CacheHitMinBlocks},
		{"replication_lag_warning_bytes", false, &h.ReplicationLagWarningBytes, &t.ReplicationLagWarningBytes},
		{"replication_lag_critical_bytes", false, &h.ReplicationLagCriticalBytes, &t.ReplicationLagCriticalBytes},
		{"slot_retained_warning_bytes", false, &h.SlotRetainedWarningBytes, &t.SlotRetainedWarningBytes},
		{"slot_retained_critical_bytes", false, &h.SlotRetainedCriticalBytes, &t.SlotRetainedCriticalBytes},
		{"max_findings", false, &h.MaxFindings, &t.MaxFindings},
	}
}

// setDefaults fills every key left unset; path is the block's key path
// (endpoints.NAME.health) for the explicit zeros the file wrote.
func (h *Health) setDefaults(path string, zeros map[string]bool) {
	def := dbhealth.DefaultThresholds()
	for _, f := range h.fields(&def) {
		if f.zeroOK && zeros[path+"."+f.key] {
			continue
		}
		switch v := f.val.(type) {
		case *int:
			if *v == 0 {
				*v = *f.def.(*int)
			}
		case *int64:
			if *v == 0 {
				*v = *f.def.(*int64)
			}
		case *Duration:
			if *v == 0 {
				*v = Duration(*f.def.(*time.Duration))
			}
		}
	}
}

// Thresholds converts the block for dbhealth; a nil block gives the
// defaults.
func (h *Health) Thresholds() dbhealth.Thresholds {
	if h == nil {
		return dbhealth.DefaultThresholds()
	}
	var t dbhealth.Thresholds
	for _, f := range h.fields(&t) {
		switch v := f.val.(type) {
		case *int:
			*f.def.(*int) = *v
		case *int64:
			*f.def.(*int64) = *v
		case *Duration:
			*f.def.(*time.Duration) = v.D()
		}
	}
	return t
}

// healthZeroOK reports whether an explicit 0 at path is meaningful.
func healthZeroOK(path string) bool {
	before, key, ok := cutLast(path, ".")
	if !ok || !strings.HasSuffix(before, ".health") {
		return false
	}
	var h Health
	var t dbhealth.Thresholds
	for _, f := range h.fields(&t) {
		if f.key == key {
			return f.zeroOK
		}
	}
	return false
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func (v *validator) health(path string, h *Health) {
	var t dbhealth.Thresholds
	for _, f := range h.fields(&t) {
		neg := false
		switch x := f.val.(type) {
		case *int:
			neg = *x < 0
		case *int64:
			neg = *x < 0
		case *Duration:
			neg = *x < 0
		}
		if neg {
			v.add(path+"."+f.key, "must not be negative")
		}
	}
	if err := h.Thresholds().Check(); err != nil {
		v.add(path, "%v", err)
	}
}
