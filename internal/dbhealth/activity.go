package dbhealth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// guard is the WHERE clause that makes a pg_cancel_backend or
// pg_terminate_backend remedy hit only the session that was seen: process
// IDs are reused, backend start times are not.
func guard(pid int32, backendStart string) string {
	return fmt.Sprintf("FROM pg_stat_activity WHERE pid = %d AND backend_start = %s::timestamptz", pid, quoteLiteral(backendStart))
}

// startText is a backend_start rendered so that it reads back exactly.
const startText = `to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'`

// connections compares the client connections with max_connections (less
// the slots reserved for superusers and pg_use_reserved_connections).
func connections(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	var maxConns, reservedSU, reserved, total, active, idle, idleTx, oldIdle int64
	err := q.QueryRow(ctx, `
SELECT current_setting('max_connections')::bigint, current_setting('superuser_reserved_connections')::bigint,
       coalesce(current_setting('reserved_connections', true), '0')::bigint,
       count(*), count(*) FILTER (WHERE state = 'active'), count(*) FILTER (WHERE state = 'idle'),
       count(*) FILTER (WHERE state LIKE 'idle in transaction%'),
       count(*) FILTER (WHERE state = 'idle' AND datname = current_database() AND state_change < now() - $1::interval AND pid <> pg_backend_pid())
  FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend'`, e.th.IdleConnectionAge).
		Scan(&maxConns, &reservedSU, &reserved, &total, &active, &idle, &idleTx, &oldIdle)
	if err != nil {
		return nil, err
	}
	usable := maxConns - reservedSU - reserved
	pct := percent(float64(total), float64(usable))
	out := &outcome{summary: fmt.Sprintf("%d of %d usable connections in use (%.0f%%): %d active, %d idle, %d idle in transaction", total, usable, pct, active, idle, idleTx)}
	st := level(pct, float64(e.th.ConnectionWarningPercent), float64(e.th.ConnectionCriticalPercent))
	if st == OK {
		return out, nil
	}
	type db struct {
		Database string
		Count    int64
	}
	perDB, err := collect[db](q.Query(ctx, `SELECT coalesce(datname, ''), count(*) FROM pg_catalog.pg_stat_activity
	  WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`))
	if err != nil {
		return nil, err
	}
	byDB := map[string]int64{}
	for _, d := range perDB {
		byDB[d.Database] = d.Count
	}
	f := Finding{
		Status:  st,
		Summary: fmt.Sprintf("%d of %d usable connections are in use (%.0f%%); new connections fail once they run out", total, usable, pct),
		Evidence: map[string]any{"connections": total, "max_connections": maxConns, "superuser_reserved_connections": reservedSU,
			"reserved_connections": reserved, "active": active, "idle": idle, "idle_in_transaction": idleTx, "by_database": byDB,
			"idle_here_longer_than_threshold": oldIdle},
		Advice: "put a connection pooler (PgBouncer) in front, shrink the applications' pools, set idle_session_timeout (PostgreSQL 14+), " +
			"or raise max_connections (ALTER SYSTEM SET max_connections = …; takes a restart, and every connection costs memory)",
	}
	if oldIdle > 0 {
		f.Remedy = []string{fmt.Sprintf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "+
			"AND backend_type = 'client backend' AND state = 'idle' AND state_change < now() - %s AND pid <> pg_backend_pid();", interval(e.th.IdleConnectionAge))}
		f.Advice = fmt.Sprintf("%d session(s) of this database have been idle for more than %s; the statement ends them (their applications reconnect). Then ",
			oldIdle, durText(e.th.IdleConnectionAge)) + f.Advice
	}
	out.findings = append(out.findings, f)
	return out, nil
}

// session is a row of pg_stat_activity as the session checks read it.
type session struct {
	PID          int32
	User         string
	App          string
	Client       string
	State        string
	StateAge     time.Duration
	XactAge      *time.Duration
	QueryAge     *time.Duration
	Query        string
	BackendStart string
	HasXID       bool
	XminAge      *int64
	WaitEvent    string
}

const sessionColumns = `pid, coalesce(usename::text, ''), coalesce(application_name, ''), coalesce(host(client_addr), 'local'),
       coalesce(state, ''), now() - coalesce(state_change, now()), now() - xact_start, now() - query_start,
       left(coalesce(query, ''), 400), ` + startText + `, backend_xid IS NOT NULL, age(backend_xmin)::bigint,
       coalesce(wait_event_type || ': ' || wait_event, '')`

func (s *session) evidence() map[string]any {
	ev := map[string]any{"pid": s.PID, "user": s.User, "application": s.App, "client": s.Client, "state": s.State,
		"query": truncate(s.Query, 300), "backend_start": s.BackendStart}
	if s.XactAge != nil {
		ev["transaction_seconds"] = round1(s.XactAge.Seconds())
	}
	if s.WaitEvent != "" {
		ev["wait_event"] = s.WaitEvent
	}
	if s.XminAge != nil {
		ev["holds_xmin_age"] = *s.XminAge
	}
	return ev
}

// idleInTransaction finds sessions of this database sitting in an open
// transaction without running anything: they hold locks and keep vacuum
// from removing dead rows everywhere.
func idleInTransaction(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	rows, err := collect[session](q.Query(ctx, `SELECT `+sessionColumns+`
  FROM pg_catalog.pg_stat_activity
 WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
   AND state LIKE 'idle in transaction%' AND now() - state_change >= $1::interval
 ORDER BY state_change`, e.th.IdleInTransactionWarning))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	for _, s := range rows {
		out.findings = append(out.findings, Finding{
			Status: level(s.StateAge, e.th.IdleInTransactionWarning, e.th.IdleInTransactionCritical),
			Summary: fmt.Sprintf("session %d (%s, %s) has been idle in an open transaction for %s; it holds its locks and keeps vacuum from cleaning up",
				s.PID, s.User, appName(s.App), durText(s.StateAge)),
			Evidence: s.evidence(),
			Remedy:   []string{"SELECT pg_terminate_backend(pid) " + guard(s.PID, s.BackendStart) + ";"},
			Advice: "ending the session rolls its transaction back. Fix the application (a missing COMMIT or ROLLBACK) and let PostgreSQL end such sessions: " +
				"ALTER ROLE … SET idle_in_transaction_session_timeout = '5min'",
		})
	}
	return out, nil
}

// longQueries finds statements of this database that have been running
// for long.
func longQueries(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	rows, err := collect[session](q.Query(ctx, `SELECT `+sessionColumns+`
  FROM pg_catalog.pg_stat_activity
 WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
   AND state = 'active' AND now() - query_start >= $1::interval
 ORDER BY query_start`, e.th.LongQueryWarning))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	for _, s := range rows {
		d := *s.QueryAge
		ev := s.evidence()
		ev["running_seconds"] = round1(d.Seconds())
		out.findings = append(out.findings, Finding{
			Status:   level(d, e.th.LongQueryWarning, e.th.LongQueryCritical),
			Summary:  fmt.Sprintf("session %d (%s, %s) has been running one statement for %s: %s", s.PID, s.User, appName(s.App), durText(d), truncate(s.Query, 120)),
			Evidence: ev,
			Remedy:   []string{"SELECT pg_cancel_backend(pid) " + guard(s.PID, s.BackendStart) + ";"},
			Advice: "cancelling stops the statement (its transaction is rolled back); if it does not stop, pg_terminate_backend ends the session. " +
				"Find out why it is slow (explain_query), and bound statements with statement_timeout",
		})
	}
	return out, nil
}

// lockWaits finds sessions of this database waiting for a lock, with the
// sessions blocking them; the remedy ends the blockers at the root of each
// chain.
func lockWaits(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	waitStart := "a.query_start"
	if e.version >= 140000 {
		waitStart = "coalesce((SELECT min(l.waitstart) FROM pg_catalog.pg_locks l WHERE l.pid = a.pid AND NOT l.granted), a.query_start)"
	}
	type waiter struct {
		session
		Waited   time.Duration
		Blockers []int32
	}
	cols := strings.ReplaceAll(sessionColumns, "\n", " ")
	rows, err := q.Query(ctx, `SELECT `+prefixed(cols, "a.")+`, now() - `+waitStart+`, pg_catalog.pg_blocking_pids(a.pid)
  FROM pg_catalog.pg_stat_activity a
 WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()
 ORDER BY a.query_start`)
	if err != nil {
		return nil, err
	}
	var waiters []waiter
	for rows.Next() {
		var w waiter
		s := &w.session
		if err := rows.Scan(&s.PID, &s.User, &s.App, &s.Client, &s.State, &s.StateAge, &s.XactAge, &s.QueryAge, &s.Query,
			&s.BackendStart, &s.HasXID, &s.XminAge, &s.WaitEvent, &w.Waited, &w.Blockers); err != nil {
			rows.Close()
			return nil, err
		}
		waiters = append(waiters, w)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := &outcome{}
	if len(waiters) == 0 {
		return out, nil
	}
	waiting := map[int32]bool{}
	var pids []int32
	for _, w := range waiters {
		waiting[w.PID] = true
		pids = append(pids, w.Blockers...)
	}
	blockers, err := collect[session](q.Query(ctx, `SELECT `+sessionColumns+` FROM pg_catalog.pg_stat_activity WHERE pid = ANY ($1)`, pids))
	if err != nil {
		return nil, err
	}
	byPID := map[int32]*session{}
	for i := range blockers {
		byPID[blockers[i].PID] = &blockers[i]
	}
	blockedBy := map[int32][]int32{}
	for _, w := range waiters {
		blockedBy[w.PID] = w.Blockers
	}
	short := 0
	for _, w := range waiters {
		st := level(w.Waited, e.th.LockWaitWarning, e.th.LockWaitCritical)
		if st == OK {
			short++
			continue
		}
		roots := rootBlockers(w.PID, blockedBy, waiting)
		ev := w.evidence()
		ev["waiting_seconds"] = round1(w.Waited.Seconds())
		ev["blocked_by"] = w.Blockers
		var rootEv []map[string]any
		var remedy []string
		for _, pid := range roots {
			b := byPID[pid]
			if b == nil {
				continue // ended meanwhile, or not visible
			}
			rootEv = append(rootEv, b.evidence())
			// A lone statement can be cancelled; a transaction keeps its
			// locks until it ends, so end the session.
			fn := "pg_terminate_backend"
			if b.State == "active" && b.XactAge != nil && b.QueryAge != nil && (*b.XactAge-*b.QueryAge).Abs() < time.Millisecond {
				fn = "pg_cancel_backend"
			}
			remedy = append(remedy, fmt.Sprintf("SELECT %s(pid) %s;", fn, guard(b.PID, b.BackendStart)))
		}
		ev["root_blockers"] = rootEv
		blockerText := "sessions that ended meanwhile"
		if len(rootEv) > 0 {
			var parts []string
			for _, r := range rootEv {
				parts = append(parts, fmt.Sprintf("%v (%v, %v)", r["pid"], r["state"], truncate(fmt.Sprint(r["query"]), 60)))
			}
			blockerText = strings.Join(parts, "; ")
		}
		out.findings = append(out.findings, Finding{
			Status:   st,
			Summary:  fmt.Sprintf("session %d has waited %s for a lock (%s), blocked by %s", w.PID, durText(w.Waited), w.WaitEvent, blockerText),
			Evidence: ev,
			Remedy:   remedy,
			Advice: "ending a blocker rolls back its transaction. A blocker idle in transaction is an application bug (missing COMMIT); " +
				"set lock_timeout so waiters give up instead of queueing",
		})
	}
	if short > 0 {
		out.notes = append(out.notes, fmt.Sprintf("%d session(s) wait for a lock for less than %s and are not reported", short, durText(e.th.LockWaitWarning)))
	}
	return out, nil
}

// rootBlockers follows the blocking graph from pid to the sessions that
// block others without waiting themselves.
func rootBlockers(pid int32, blockedBy map[int32][]int32, waiting map[int32]bool) []int32 {
	var roots []int32
	seen := map[int32]bool{pid: true}
	queue := slices.Clone(blockedBy[pid])
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		if waiting[p] && len(blockedBy[p]) > 0 {
			queue = append(queue, blockedBy[p]...)
			continue
		}
		roots = append(roots, p)
	}
	if len(roots) == 0 {
		// A deadlock-like cycle: every blocker waits; name the direct ones.
		roots = blockedBy[pid]
	}
	return roots
}

// prefixed qualifies the pg_stat_activity columns of sessionColumns with an
// alias.
func prefixed(cols, alias string) string {
	r := strings.NewReplacer(
		"pid,", alias+"pid,", "usename", alias+"usename", "application_name", alias+"application_name",
		"client_addr", alias+"client_addr", "coalesce(state,", "coalesce("+alias+"state,", "state_change", alias+"state_change",
		"xact_start", alias+"xact_start", "query_start", alias+"query_start", "coalesce(query,", "coalesce("+alias+"query,",
		"backend_start", alias+"backend_start", "backend_xid", alias+"backend_xid", "backend_xmin", alias+"backend_xmin",
		"wait_event_type", alias+"wait_event_type", "wait_event,", alias+"wait_event,")
	return r.Replace(cols)
}

func appName(app string) string {
	if app == "" {
		return "no application_name"
	}
	return app
}

// cacheHit compares buffer cache hits with reads for the tables and the
// indexes of this database, since the statistics were reset.
func cacheHit(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	var heapHit, heapRead, idxHit, idxRead, sbBytes int64
	var sb string
	err := q.QueryRow(ctx, `
SELECT coalesce(sum(heap_blks_hit), 0)::bigint, coalesce(sum(heap_blks_read), 0)::bigint,
       coalesce(sum(idx_blks_hit), 0)::bigint, coalesce(sum(idx_blks_read), 0)::bigint,
       current_setting('shared_buffers'), pg_catalog.pg_size_bytes(current_setting('shared_buffers'))
  FROM pg_catalog.pg_statio_user_tables`).Scan(&heapHit, &heapRead, &idxHit, &idxRead, &sb, &sbBytes)
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	var parts []string
	for _, k := range []struct {
		kind      string
		hit, read int64
		order     string
	}{
		{"tables", heapHit, heapRead, "heap_blks_read"},
		{"indexes", idxHit, idxRead, "coalesce(idx_blks_read, 0)"},
	} {
		all := k.hit + k.read
		if all == 0 {
			continue
		}
		ratio := percent(float64(k.hit), float64(all))
		parts = append(parts, fmt.Sprintf("%s %.1f%%", k.kind, ratio))
		if all < e.th.CacheHitMinBlocks || ratio >= float64(e.th.CacheHitWarningPercent) {
			continue
		}
		st := Warning
		if ratio < float64(e.th.CacheHitCriticalPercent) {
			st = Critical
		}
		top, err := collect[relReads](q.Query(ctx, `SELECT format('%I.%I', schemaname, relname), `+k.order+`::bigint, coalesce(`+
			strings.Replace(k.order, "read", "hit", 1)+`, 0)::bigint
		  FROM pg_catalog.pg_statio_user_tables ORDER BY 2 DESC NULLS LAST, 1 LIMIT 5`))
		if err != nil {
			return nil, err
		}
		var topEv []map[string]any
		for _, t := range top {
			topEv = append(topEv, map[string]any{"table": t.Table, "blocks_read": t.Read, "blocks_hit": t.Hit})
		}
		suggest := suggestSharedBuffers(sbBytes)
		out.findings = append(out.findings, Finding{
			Status: st,
			Summary: fmt.Sprintf("buffer cache hit ratio of %s is %.1f%% (below %d%%): %d of %d block accesses went to disk or the OS cache",
				k.kind, ratio, e.th.CacheHitWarningPercent, k.read, all),
			Evidence: map[string]any{"kind": k.kind, "hit_percent": ratio, "blocks_hit": k.hit, "blocks_read": k.read,
				"shared_buffers": sb, "most_read": topEv},
			Remedy: []string{fmt.Sprintf("ALTER SYSTEM SET shared_buffers = '%s';", suggest)},
			Advice: fmt.Sprintf("shared_buffers takes effect after a restart; keep it near 25%% of the server's memory (it is %s now). "+
				"The ratio counts since the last statistics reset, so after the change reset the counters of the tables listed "+
				"(SELECT pg_stat_reset_single_table_counters('%s'::regclass)) and judge again. A low ratio can also mean queries read "+
				"far more than they need: check get_top_queries with sort_by=io", sb, firstTable(top)),
		})
	}
	if len(parts) > 0 {
		out.summary = "hit ratio: " + strings.Join(parts, ", ")
		if len(out.findings) > 0 {
			out.summary = fmt.Sprintf("%d low hit ratio(s); %s", len(out.findings), out.summary)
		}
	}
	return out, nil
}

// relReads is a table's block reads and hits.
type relReads struct {
	Table string
	Read  int64
	Hit   int64
}

func firstTable(top []relReads) string {
	if len(top) == 0 {
		return "TABLE"
	}
	return strings.ReplaceAll(top[0].Table, "'", "''")
}

// suggestSharedBuffers doubles the current setting, in MB.
func suggestSharedBuffers(cur int64) string {
	mb := 2 * cur / (1 << 20)
	if mb < 128 {
		mb = 128
	}
	if mb%1024 == 0 {
		return fmt.Sprintf("%dGB", mb/1024)
	}
	return fmt.Sprintf("%dMB", mb)
}

// replication reports standbys lagging behind (on a primary), inactive
// replication slots retaining WAL, and, on a standby, its own replay lag.
func replication(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	var standby bool
	if err := q.QueryRow(ctx, `SELECT pg_catalog.pg_is_in_recovery()`).Scan(&standby); err != nil {
		return nil, err
	}
	out := &outcome{}
	if standby {
		var paused bool
		var lag *int64
		var since *time.Duration
		err := q.QueryRow(ctx, `SELECT pg_catalog.pg_is_wal_replay_paused(),
		  pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn())::bigint,
		  now() - pg_catalog.pg_last_xact_replay_timestamp()`).Scan(&paused, &lag, &since)
		if err != nil {
			return nil, err
		}
		ev := map[string]any{"replay_paused": paused}
		if lag != nil {
			ev["received_not_replayed_bytes"] = *lag
		}
		if since != nil {
			ev["last_replayed_transaction_seconds_ago"] = round1(since.Seconds())
		}
		st := OK
		if lag != nil {
			st = level(*lag, e.th.ReplicationLagWarningBytes, e.th.ReplicationLagCriticalBytes)
		}
		switch {
		case paused:
			out.findings = append(out.findings, Finding{Status: Warning.Worse(st), Summary: "this standby's WAL replay is paused: it falls further behind the primary",
				Evidence: ev, Remedy: []string{"SELECT pg_wal_replay_resume();"}, Advice: "needs a superuser or EXECUTE on pg_wal_replay_resume"})
		case st != OK:
			out.findings = append(out.findings, Finding{Status: st, Summary: fmt.Sprintf("this standby has received %s of WAL it has not replayed yet", bytesText(*lag)),
				Evidence: ev, Advice: "replay is slower than the primary writes: check this server's I/O, and queries conflicting with replay (max_standby_streaming_delay)"})
		}
		out.summary = "standby"
		if len(out.findings) == 0 {
			out.summary = "standby, replaying normally"
		}
		return out, nil
	}
	type replica struct {
		App, Client, State, Sync string
		Lag                      *int64
		ReplayLag                *time.Duration
	}
	reps, err := collect[replica](q.Query(ctx, `
SELECT coalesce(application_name, ''), coalesce(host(client_addr), 'local'), coalesce(state, ''), coalesce(sync_state, ''),
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn)::bigint, replay_lag
  FROM pg_catalog.pg_stat_replication ORDER BY 5 DESC NULLS FIRST`))
	if err != nil {
		return nil, err
	}
	for _, r := range reps {
		ev := map[string]any{"application_name": r.App, "client": r.Client, "state": r.State, "sync_state": r.Sync}
		if r.ReplayLag != nil {
			ev["replay_lag_seconds"] = round1(r.ReplayLag.Seconds())
		}
		if r.Lag == nil {
			continue
		}
		ev["replay_lag_bytes"] = *r.Lag
		st := level(*r.Lag, e.th.ReplicationLagWarningBytes, e.th.ReplicationLagCriticalBytes)
		if st == OK {
			continue
		}
		out.findings = append(out.findings, Finding{
			Status:   st,
			Object:   r.App,
			Summary:  fmt.Sprintf("standby %s (%s) has not replayed %s of WAL", appName(r.App), r.Client, bytesText(*r.Lag)),
			Evidence: ev,
			Remedy:   []string{"SELECT pg_wal_replay_resume();"},
			Advice: "run the statement on the standby if SELECT pg_is_wal_replay_paused() there says true; otherwise the standby's disk, CPU " +
				"or network cannot keep up, or queries on it conflict with replay. The primary keeps the WAL it needs meanwhile",
		})
	}
	type slot struct {
		Name, Type, Database string
		Retained             *int64
		WALStatus            string
	}
	walStatus := "''"
	if e.version >= 130000 {
		walStatus = "coalesce(wal_status, '')"
	}
	slots, err := collect[slot](q.Query(ctx, `
SELECT slot_name::text, slot_type, coalesce(database::text, ''),
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint, `+walStatus+`
  FROM pg_catalog.pg_replication_slots WHERE NOT active ORDER BY 4 DESC NULLS LAST, 1`))
	if err != nil {
		return nil, err
	}
	for _, s := range slots {
		ev := map[string]any{"slot": s.Name, "type": s.Type, "database": s.Database, "wal_status": s.WALStatus}
		st := OK
		if s.Retained != nil {
			ev["retained_wal_bytes"] = *s.Retained
			st = level(*s.Retained, e.th.SlotRetainedWarningBytes, e.th.SlotRetainedCriticalBytes)
		}
		summary := fmt.Sprintf("inactive %s replication slot %s keeps %s of WAL on disk", s.Type, s.Name, bytesText(deref(s.Retained)))
		if s.WALStatus == "lost" {
			st = Critical
			summary = fmt.Sprintf("replication slot %s has lost WAL its consumer needs: the consumer cannot resume from it", s.Name)
		}
		if st == OK {
			continue
		}
		out.findings = append(out.findings, Finding{
			Status:   st,
			Object:   s.Name,
			Summary:  summary,
			Evidence: ev,
			Remedy:   []string{fmt.Sprintf("SELECT pg_drop_replication_slot(%s);", quoteLiteral(s.Name))},
			Advice: "drop the slot only if its consumer (a standby, a subscription, a change-data-capture tool) is gone for good; " +
				"otherwise bring the consumer back. max_slot_wal_keep_size bounds what a slot may retain",
		})
	}
	out.summary = fmt.Sprintf("%d standby(s) connected, %d inactive slot(s)", len(reps), len(slots))
	if n := len(out.findings); n > 0 {
		out.summary = fmt.Sprintf("%d replication problem(s); %s", n, out.summary)
	}
	return out, nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
