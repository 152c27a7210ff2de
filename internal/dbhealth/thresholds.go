package dbhealth

import (
	"fmt"
	"time"
)

// Thresholds decide when a finding is a warning or critical. Percentages
// are whole percents (80 means 80%). [DefaultThresholds] documents the
// defaults; the configuration (endpoints.NAME.health) overrides them per
// endpoint.
type Thresholds struct {
	// UnusedIndexMinStatsAge: an index with no scans is reported only when
	// the statistics are at least this old (since the last stats reset, or
	// the server start when never reset), so a fresh reset does not condemn
	// every index.
	UnusedIndexMinStatsAge time.Duration
	// UnusedIndexMinBytes: smaller unused indexes are not worth a finding.
	UnusedIndexMinBytes int64

	// BloatWarningPercent and BloatCriticalPercent: estimated wasted space
	// as a share of a table's or index's size; BloatMinBytes: less wasted
	// space than this is not reported.
	BloatWarningPercent  int
	BloatCriticalPercent int
	BloatMinBytes        int64

	// ForeignKeyMinRows: foreign keys of tables with fewer rows (estimated)
	// are not reported when no index supports them.
	ForeignKeyMinRows int64

	// SequenceWarningPercent and SequenceCriticalPercent: share of a
	// sequence's usable range consumed (bounded by the column type).
	SequenceWarningPercent  int
	SequenceCriticalPercent int

	// XIDAgeWarning and XIDAgeCritical: transaction ID (and multixact ID)
	// age of the database and its tables; wraparound protection stops
	// writes near 2^31 (about 2.1 billion).
	XIDAgeWarning  int64
	XIDAgeCritical int64

	// DeadTupleWarningPercent and DeadTupleCriticalPercent: dead tuples as a
	// share of a table's tuples, counted once at least DeadTupleMinRows are
	// dead.
	DeadTupleWarningPercent  int
	DeadTupleCriticalPercent int
	DeadTupleMinRows         int64
	// AnalyzeStalePercent: rows modified since the last analyze, as a share
	// of the table, beyond which statistics are stale (once at least
	// AnalyzeMinRows are modified; a table with AnalyzeMinRows rows that was
	// never analyzed is reported too).
	AnalyzeStalePercent int
	AnalyzeMinRows      int64

	// ConnectionWarningPercent and ConnectionCriticalPercent: connections in
	// use as a share of max_connections less the reserved ones.
	ConnectionWarningPercent  int
	ConnectionCriticalPercent int
	// IdleConnectionAge: the remedy for too many connections terminates
	// sessions of this database idle for longer than this.
	IdleConnectionAge time.Duration

	// IdleInTransactionWarning and IdleInTransactionCritical: how long a
	// session may sit idle inside an open transaction.
	IdleInTransactionWarning  time.Duration
	IdleInTransactionCritical time.Duration
	// LongQueryWarning and LongQueryCritical: how long a statement may run.
	LongQueryWarning  time.Duration
	LongQueryCritical time.Duration
	// LockWaitWarning and LockWaitCritical: how long a session may wait for
	// a lock.
	LockWaitWarning  time.Duration
	LockWaitCritical time.Duration

	// CacheHitWarningPercent and CacheHitCriticalPercent: buffer cache hit
	// ratio of tables and of indexes below which the cache is too small,
	// judged once CacheHitMinBlocks blocks were read or hit.
	CacheHitWarningPercent  int
	CacheHitCriticalPercent int
	CacheHitMinBlocks       int64

	// ReplicationLagWarningBytes and ReplicationLagCriticalBytes: WAL a
	// standby has not replayed yet.
	ReplicationLagWarningBytes  int64
	ReplicationLagCriticalBytes int64
	// SlotRetainedWarningBytes and SlotRetainedCriticalBytes: WAL an
	// inactive replication slot keeps on disk.
	SlotRetainedWarningBytes  int64
	SlotRetainedCriticalBytes int64

	// MaxFindings caps the findings one check returns (the worst first);
	// the check's summary counts the rest.
	MaxFindings int
}

// DefaultThresholds returns the defaults (docs/intelligence.md explains
// each).
func DefaultThresholds() Thresholds {
	return Thresholds{
		UnusedIndexMinStatsAge: 7 * 24 * time.Hour,
		UnusedIndexMinBytes:    1 << 20,

		BloatWarningPercent:  50,
		BloatCriticalPercent: 80,
		BloatMinBytes:        10 << 20,

		ForeignKeyMinRows: 1000,

		SequenceWarningPercent:  75,
		SequenceCriticalPercent: 90,

		XIDAgeWarning:  1_000_000_000,
		XIDAgeCritical: 1_500_000_000,

		DeadTupleWarningPercent:  20,
		DeadTupleCriticalPercent: 50,
		DeadTupleMinRows:         1000,
		AnalyzeStalePercent:      20,
		AnalyzeMinRows:           1000,

		ConnectionWarningPercent:  80,
		ConnectionCriticalPercent: 95,
		IdleConnectionAge:         10 * time.Minute,

		IdleInTransactionWarning:  time.Minute,
		IdleInTransactionCritical: 10 * time.Minute,
		LongQueryWarning:          5 * time.Minute,
		LongQueryCritical:         30 * time.Minute,
		LockWaitWarning:           10 * time.Second,
		LockWaitCritical:          time.Minute,

		CacheHitWarningPercent:  95,
		CacheHitCriticalPercent: 80,
		CacheHitMinBlocks:       10_000,

		ReplicationLagWarningBytes:  256 << 20,
		ReplicationLagCriticalBytes: 1 << 30,
		SlotRetainedWarningBytes:    1 << 30,
		SlotRetainedCriticalBytes:   10 << 30,

		MaxFindings: 20,
	}
}

// Check returns the first inconsistency in t (a warning level beyond its
// critical level, a percentage out of range), naming the field.
func (t Thresholds) Check() error {
	pct := []struct {
		name       string
		warn, crit int
		descending bool // lower is worse (cache hit ratio)
	}{
		{"bloat", t.BloatWarningPercent, t.BloatCriticalPercent, false},
		{"sequence", t.SequenceWarningPercent, t.SequenceCriticalPercent, false},
		{"dead_tuple", t.DeadTupleWarningPercent, t.DeadTupleCriticalPercent, false},
		{"connection", t.ConnectionWarningPercent, t.ConnectionCriticalPercent, false},
		{"cache_hit", t.CacheHitWarningPercent, t.CacheHitCriticalPercent, true},
	}
	for _, p := range pct {
		switch {
		case p.warn < 1 || p.warn > 100:
			return fmt.Errorf("%s_warning_percent %d is out of range; use 1-100", p.name, p.warn)
		case p.crit < 1 || p.crit > 100:
			return fmt.Errorf("%s_critical_percent %d is out of range; use 1-100", p.name, p.crit)
		case !p.descending && p.crit < p.warn:
			return fmt.Errorf("%s_critical_percent %d is below %s_warning_percent %d", p.name, p.crit, p.name, p.warn)
		case p.descending && p.crit > p.warn:
			return fmt.Errorf("%s_critical_percent %d is above %s_warning_percent %d (a lower hit ratio is worse)", p.name, p.crit, p.name, p.warn)
		}
	}
	if t.AnalyzeStalePercent < 1 || t.AnalyzeStalePercent > 1000 {
		return fmt.Errorf("analyze_stale_percent %d is out of range; use 1-1000", t.AnalyzeStalePercent)
	}
	type pair struct {
		name       string
		warn, crit int64
	}
	for _, p := range []pair{
		{"xid_age", t.XIDAgeWarning, t.XIDAgeCritical},
		{"replication_lag", t.ReplicationLagWarningBytes, t.ReplicationLagCriticalBytes},
		{"slot_retained", t.SlotRetainedWarningBytes, t.SlotRetainedCriticalBytes},
		{"idle_in_transaction", int64(t.IdleInTransactionWarning), int64(t.IdleInTransactionCritical)},
		{"long_query", int64(t.LongQueryWarning), int64(t.LongQueryCritical)},
		{"lock_wait", int64(t.LockWaitWarning), int64(t.LockWaitCritical)},
	} {
		if p.warn < 0 || p.crit < p.warn {
			return fmt.Errorf("%s: the critical level must be at least the warning level, and neither negative", p.name)
		}
	}
	if t.MaxFindings < 1 {
		return fmt.Errorf("max_findings %d must be at least 1", t.MaxFindings)
	}
	return nil
}
