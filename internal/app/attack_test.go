package app_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/sqlguard"
	"github.com/pgherd/pgherd/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite docs/attack-report.md from the attack replay")

// atkOnly narrows the replay to the vectors whose names match, one lane per
// mode: for working on a class of vectors without replaying them all
// (go test ./internal/app -run TestAttackReplay -attack.only 'owner|json').
var atkOnly = flag.String("attack.only", "", "replay only the corpus vectors whose names match this regular expression")

const atkReportPath = "../../docs/attack-report.md"

// atkParallel bounds the vectors running at once across all lanes.
const atkParallel = 6

// atkLanes is how many lanes share a mode's vectors (each lane runs its
// share one at a time). admin_rw has the most vectors that write, each of
// which costs a fresh copy.
var atkLanes = map[access.Mode]int{access.UserRO: 2, access.UserRW: 2, access.AdminRO: 2, access.AdminRW: 3}

// atkSideLanes is how many lanes share a mode's validator-off replay, and
// its superuser replay (in the long form).
const atkSideLanes = 2

// atkUnseenWrites are vectors that write although the validator judges
// them read-only: calls through attribute notation (a.touch_account) are
// column references in the parse tree. The validated modes refuse them
// after looking the name up in the catalog; in admin_rw, which runs any
// statement, the write is allowed, and the vector needs a fresh copy
// afterwards like any other write.
var atkUnseenWrites = map[string]string{
	"function-by-attribute-notation":               "attribute-notation call: the validator sees a column reference",
	"function-by-attribute-notation-parenthesized": "attribute-notation call: the validator sees a column reference",
}

// atkDisputed are corpus expectations that do not hold for the roles
// internal/roles makes, keyed by vector and mode; the subtest skips when
// it sees exactly the outcome explained (and asserts the corpus again once
// either side changes).
var atkDisputed = map[string]struct{ signature, why string }{}

// atkKnownBugs are outcomes caused by bugs outside this package, keyed by
// vector and mode; the subtest skips with the bug when it sees exactly that
// outcome (once fixed, it asserts the corpus's expectation again).
// None are open now; the map stays as the place to record one.
var atkKnownBugs = map[string]struct{ signature, bug string }{}

// atkResult is one vector in one mode.
type atkResult struct {
	v       *atkVector
	mode    access.Mode
	off     bool // replayed with the validator switched off
	priv    bool // replayed with a superuser login and allow_privileged_role
	got     atkAttempt
	wrote   []string // changes a vector allowed to write made (not findings)
	effects []string // side effects found where none is allowed
	skipped string   // why the subtest skipped: a known bug or a disputed expectation
	elapsed time.Duration
}

type atkResults struct {
	mu   sync.Mutex
	list []*atkResult
}

func (r *atkResults) add(res *atkResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, res)
}

// TestAttackReplay replays the attack corpus (testdata/attacks) in every
// access mode through the real path — go-sdk client, HTTP, pgherd,
// PostgreSQL — with each endpoint logged in as the least-privilege role
// internal/roles makes for its mode, and checks after every vector that
// nothing changed where nothing may. It then replays the vectors the corpus
// expects refused with the validator switched off (the endpoint's pool and
// transaction options, without sqlguard) and records which only the
// validator stops. It also replays every vector that reaches the database
// in user_ro, user_rw and admin_ro with the endpoint logged in as a
// superuser under allow_privileged_role: no role privilege holds there, so
// the validator and the executor must hold on their own. With -update it
// rewrites docs/attack-report.md.
//
// Each lane is a copy of the fixture that runs its vectors one at a time,
// so a change is attributed to the vector that made it. After a vector the
// corpus lets write in that mode has changed the database, the lane moves
// to a fresh copy; any other change is a finding.
//
// That is the long form (PGHERD_LONG=1, see testenv.Long; -update and
// -attack.only imply it): every vector in every mode, about 2,500 runs.
// By default the replay runs its short form, a quarter of that: every
// vector once, in one mode, the modes dealt out in turn within each
// category so that every category meets every mode (a category with fewer
// than four vectors replays some of them in more than one); the
// validator-off lanes replay the vectors each mode's lanes got that the
// corpus expects refused there; the superuser lanes replay every vector
// that reaches the database once, dealt out over user_ro, user_rw and
// admin_ro the same way. Each run asserts exactly what it asserts in the
// long form.
func TestAttackReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("the attack replay takes about a minute; run without -short")
	}
	started := time.Now()
	vectors := loadAttackVectors(t)
	lanes := atkLanes
	long := testenv.Long() || *update || *atkOnly != ""
	// in reports whether vector i runs in mode m on the lanes through MCP
	// (and so with the validator off); privIn, on the superuser lanes,
	// which replay only what reaches the database (atkReachesDatabase).
	in, privIn := atkEverywhere, atkEverywhere
	if !long {
		in = atkDeal(vectors, access.Modes, func(*atkVector, access.Mode) bool { return true })
		privIn = atkDeal(vectors, atkPrivilegedModes, atkReachesDatabase)
	}
	sideLanes := atkSideLanes
	if !long {
		// A quarter of the vectors: fewer lanes, each made once and kept
		// busy (admin_rw still needs the most fresh copies).
		lanes = map[access.Mode]int{access.UserRO: 1, access.UserRW: 1, access.AdminRO: 1, access.AdminRW: 2}
		sideLanes = 1
	}
	if *atkOnly != "" {
		re, err := regexp.Compile(*atkOnly)
		if err != nil {
			t.Fatalf("-attack.only: %v", err)
		}
		vectors = slices.DeleteFunc(vectors, func(v *atkVector) bool { return !re.MatchString(v.Name) })
		if *update {
			t.Fatal("-update rewrites the whole report: run it without -attack.only")
		}
		lanes = map[access.Mode]int{}
		for _, m := range access.Modes {
			lanes[m] = 1
		}
		sideLanes = 1
	}
	f := newAttackFixture(t)
	results := &atkResults{}
	sem := make(chan struct{}, atkParallel)

	var wg sync.WaitGroup
	replayed := 0
	for _, m := range access.Modes {
		var here, refusedHere []*atkVector
		for i, v := range vectors {
			if !in(i, m) {
				continue
			}
			here = append(here, v)
			if v.Expect[m] == atkRefused {
				refusedHere = append(refusedHere, v)
			}
		}
		replayed += len(here)
		// The lanes of a mode take the next vector from one queue, so a
		// lane slowed by fresh copies or a slow vector takes fewer.
		lanesOf := func(name string, n int, kind laneKind, vs []*atkVector) {
			queue := make(chan *atkVector, len(vs))
			for _, v := range vs {
				queue <- v
			}
			close(queue)
			for k := range n {
				wg.Go(func() {
					t.Run(fmt.Sprintf("%s/lane%d", name, k), func(t *testing.T) {
						atkReplayLane(t, f, m, kind, queue, sem, results)
					})
				})
			}
		}
		lanesOf(string(m), lanes[m], throughMCP, here)
		lanesOf("validator_off/"+string(m), sideLanes, validatorOff, refusedHere)
		if m == access.AdminRW {
			continue // not a validated mode: the login role is its boundary
		}
		var reaching []*atkVector
		for i, v := range vectors {
			if privIn(i, m) && (!long || atkReachesDatabase(v, m)) {
				reaching = append(reaching, v)
			}
		}
		lanesOf("privileged/"+string(m), sideLanes, throughMCPPrivileged, reaching)
	}
	wg.Wait()
	refreshes := 0
	for _, r := range results.list {
		if len(r.wrote)+len(r.effects) > 0 {
			refreshes++
		}
	}
	for _, r := range results.list {
		if r.elapsed > 3*time.Second {
			t.Logf("slow: %s in %s (validator off: %v): %s in %v", r.v.Name, r.mode, r.off, r.got, r.elapsed.Round(time.Millisecond))
		}
	}
	form := "long form: every vector in every mode"
	if !long {
		form = "short form: each vector in one mode; PGHERD_LONG=1 replays every vector in every mode"
	}
	t.Logf("attack replay (%s): %d vectors, %d runs through MCP, %d validator-off and superuser runs, %d fresh copies, in %v",
		form, len(vectors), replayed, len(results.list)-replayed, refreshes, time.Since(started).Round(time.Millisecond))

	if *update {
		if err := os.WriteFile(atkReportPath, []byte(atkReport(vectors, results.list)), 0o644); err != nil {
			t.Fatalf("writing the report: %v", err)
		}
	}
}

// atkPrivilegedModes are the modes the superuser lanes replay: the
// validated ones (admin_rw's boundary is its login role).
var atkPrivilegedModes = []access.Mode{access.UserRO, access.UserRW, access.AdminRO}

// atkEverywhere: the long form replays every vector in every mode.
func atkEverywhere(int, access.Mode) bool { return true }

// atkDeal deals the vectors out over modes for the short form. Within each
// category, in corpus order, each vector takes the next mode in turn in
// which ok holds (the turn starts one mode further on for each category);
// then every mode the category has not met yet, though one of its vectors
// could run there, gets the first such vector as well. So every vector
// that can run anywhere runs, mostly once, and every category meets every
// mode it can.
func atkDeal(vectors []*atkVector, modes []access.Mode, ok func(*atkVector, access.Mode) bool) func(i int, m access.Mode) bool {
	picked := make([]map[access.Mode]bool, len(vectors))
	byCat := map[string][]int{}
	var cats []string
	for i, v := range vectors {
		if byCat[v.Category] == nil {
			cats = append(cats, v.Category)
		}
		byCat[v.Category] = append(byCat[v.Category], i)
		picked[i] = map[access.Mode]bool{}
	}
	for c, cat := range cats {
		turn := c
		met := map[access.Mode]bool{}
		for _, i := range byCat[cat] {
			for k := range modes {
				m := modes[(turn+k)%len(modes)]
				if ok(vectors[i], m) {
					picked[i][m], met[m] = true, true
					turn += k + 1
					break
				}
			}
		}
		for _, m := range modes {
			for _, i := range byCat[cat] {
				if !met[m] && ok(vectors[i], m) {
					picked[i][m], met[m] = true, true
				}
			}
		}
	}
	return func(i int, m access.Mode) bool { return picked[i][m] }
}

// TestAttackShortFormCoverage: the short form of the replay still replays
// every vector and meets every category in every mode through MCP, and on
// the superuser lanes replays every vector that reaches the database in
// some mode and meets every category in every mode one of its vectors
// reaches the database in.
func TestAttackShortFormCoverage(t *testing.T) {
	vectors := loadAttackVectors(t)
	for _, set := range []struct {
		name  string
		modes []access.Mode
		ok    func(*atkVector, access.Mode) bool
	}{
		{"through MCP", access.Modes, func(*atkVector, access.Mode) bool { return true }},
		{"superuser", atkPrivilegedModes, atkReachesDatabase},
	} {
		in := atkDeal(vectors, set.modes, set.ok)
		met, could := map[string]map[access.Mode]bool{}, map[string]map[access.Mode]bool{}
		runs, eligible := 0, 0
		for i, v := range vectors {
			if met[v.Category] == nil {
				met[v.Category], could[v.Category] = map[access.Mode]bool{}, map[access.Mode]bool{}
			}
			n, canRun := 0, false
			for _, m := range access.Modes {
				if in(i, m) {
					if !slices.Contains(set.modes, m) || !set.ok(v, m) {
						t.Errorf("%s: vector %s dealt to %s, where it cannot run", set.name, v.Name, m)
					}
					n++
					met[v.Category][m] = true
				}
				if slices.Contains(set.modes, m) && set.ok(v, m) {
					canRun = true
					could[v.Category][m] = true
				}
			}
			if canRun {
				eligible++
				if n == 0 {
					t.Errorf("%s: vector %s runs in no mode", set.name, v.Name)
				}
			}
			runs += n
		}
		for c, modes := range could {
			for m := range modes {
				if !met[c][m] {
					t.Errorf("%s: category %s never runs in %s", set.name, c, m)
				}
			}
		}
		if runs > eligible+len(met)*len(set.modes) {
			t.Errorf("%s: %d runs for %d vectors: the short form should replay each vector about once", set.name, runs, eligible)
		}
		t.Logf("%s: %d of %d vectors can run, in %d categories: %d runs", set.name, eligible, len(vectors), len(met), runs)
	}
}

// atkReplayLane takes vectors from queue and runs them one after the other
// on one lane, made when the first arrives, and moves to a fresh lane
// after a vector changed anything. Making a lane counts against sem like
// running a vector.
func atkReplayLane(t *testing.T, f *atkFixture, m access.Mode, kind laneKind, queue <-chan *atkVector, sem chan struct{}, results *atkResults) {
	var l *lane
	one := func(v *atkVector) {
		sem <- struct{}{}
		defer func() { <-sem }() // also when making a lane fails the test
		if l == nil {
			l = newLane(t, f, m, kind)
		}
		var res *atkResult
		t.Run(v.Name, func(t *testing.T) {
			res = atkReplayOne(t, l, v, kind, results)
		})
		if res == nil || len(res.wrote)+len(res.effects) > 0 {
			l.close()
			l = nil
		}
	}
	for v := range queue {
		one(v)
	}
}

// atkReachesDatabase: the validator needs the database to decide v in m
// (it does not refuse v from its text alone). The privileged lanes replay
// only these: whatever the text alone refuses never reaches the server,
// whatever the login.
func atkReachesDatabase(v *atkVector, m access.Mode) bool {
	if v.guard(m) != atkRefused || v.Check[m] == atkAllowed {
		return true
	}
	_, err := sqlguard.Validate(v.sqlFor("atk_lane"), sqlguard.Options{Mode: m, Database: "atk_lane", ServerMajor: atkServerMajor})
	return err == nil
}

// atkMaxResponse is the most a tool result may take, encoded, over
// max_result_bytes: the JSON-RPC envelope, the columns and the footer.
const atkMaxResponse = atkMaxResultBytes + 4<<10

// atkMayWrite: the corpus lets v run in m, m writes, and the validator does
// not judge v read-only (or cannot see its write).
func atkMayWrite(v *atkVector, m access.Mode) bool {
	if m.ReadOnly() || v.Expect[m] != atkAllowed {
		return false
	}
	if atkUnseenWrites[v.Name] != "" {
		return true
	}
	verdict, err := sqlguard.Validate(v.sqlFor("atk_lane"), sqlguard.Options{Mode: m, Database: "atk_lane", ServerMajor: atkServerMajor})
	return err == nil && !verdict.ReadOnly
}

// atkReplayOne runs v on l, classifies the outcome and checks for side
// effects. Through MCP, a mismatch with the corpus or a forbidden side
// effect fails the test; with the validator off, the result is recorded
// (getting through is what that replay is there to find) and only a broken
// call fails.
func atkReplayOne(t *testing.T, l *lane, v *atkVector, kind laneKind, results *atkResults) *atkResult {
	t.Helper()
	// Through MCP a hung call is a finding; with the validator off, a
	// statement may hang where nothing but the caller's deadline ends it.
	timeout := 60 * time.Second
	if kind == validatorOff {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	res := &atkResult{v: v, mode: l.mode, off: kind == validatorOff, priv: kind == throughMCPPrivileged}
	begin := time.Now()
	res.got = l.runner.run(ctx, v.sqlFor(l.db))
	res.elapsed = time.Since(begin)
	cancel()
	if res.got.Broken != "" {
		t.Errorf("%s in %s: %s", v.Name, l.mode, res.got.Broken)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer ccancel()
	diffs := l.check(cctx)
	want := v.Expect[l.mode]
	if !res.off && res.got.Outcome == atkAllowed && atkMayWrite(v, l.mode) {
		// The corpus lets it write: changes to stored state are its
		// result; session state, locks and the sentinel still must not
		// be touched.
		for _, d := range diffs {
			if atkHygiene[strings.SplitN(d, ":", 2)[0]] {
				res.effects = append(res.effects, d)
			} else {
				res.wrote = append(res.wrote, d)
			}
		}
	} else {
		res.effects = diffs
	}
	if res.got.Leak != "" && !res.off {
		res.effects = append(res.effects, "leak: the result shows "+res.got.Leak)
	}
	if res.got.Size > atkMaxResponse && !res.off {
		res.effects = append(res.effects, fmt.Sprintf("output: the tool result takes %d bytes encoded, over max_result_bytes (%d) and its envelope", res.got.Size, atkMaxResultBytes))
	}
	results.add(res)
	if res.off {
		return res
	}
	if bug, ok := atkKnownBugs[v.Name+"/"+string(l.mode)]; ok && strings.Contains(res.got.Detail, bug.signature) && len(res.effects) == 0 {
		res.skipped = bug.bug
		t.Skip(bug.bug)
	}
	if d, ok := atkDisputed[v.Name+"/"+string(l.mode)]; ok && strings.Contains(res.got.Detail, d.signature) && len(res.effects) == 0 {
		res.skipped = d.why
		t.Skip(d.why)
	}
	switch {
	case res.priv:
		// No role privilege holds: what the validator refuses must be
		// refused; anything else may run, fail or be bounded, as long as
		// it changes and shows nothing it must not (checked below).
		if v.guard(l.mode) == atkRefused && res.got.Outcome != atkRefused {
			t.Errorf("%s in %s with a superuser login: got %s (%s), the validator must refuse it\nSQL: %s", v.Name, l.mode, res.got, res.got.Detail, v.SQL)
		}
	case res.got.Outcome != want:
		t.Errorf("%s in %s: got %s (%s), corpus expects %s\nSQL: %s", v.Name, l.mode, res.got, res.got.Detail, want, v.SQL)
	}
	if len(res.effects) > 0 {
		who := ""
		if res.priv {
			who = " with a superuser login"
		}
		t.Errorf("%s in %s%s (%s): side effects:\n  %s\nSQL: %s", v.Name, l.mode, who, res.got, strings.Join(res.effects, "\n  "), v.SQL)
	}
	return res
}

// atkOnlyValidatorWhy says, per category, why the executor and the role
// let such statements through, for docs/attack-report.md (docs/security.md
// sums them up).
var atkOnlyValidatorWhy = map[string]string{
	"multi_statement":      "empty text, comments or semicolons alone: the extended protocol runs them as an empty query (every string with two statements is refused by PostgreSQL, 42601, validator or not)",
	"transaction_control":  "BEGIN, SAVEPOINT, SET TRANSACTION and SET SESSION CHARACTERISTICS need no privilege; inside the executor's transaction they are warnings or no-ops (COMMIT and ROLLBACK are caught by the executor)",
	"side_effect_function": "set_config, setseed and the query_to_xml family are executable by PUBLIC and run with the caller's privileges: a setting ends with the transaction or DISCARD ALL, but set_config in a WHERE clause runs before the row-level security policy and reads another tenant's rows; nextval needs only the USAGE user_rw has for inserts",
	"obfuscation":          "the same functions and catalogs, spelled differently",
	"catalog_probe":        "every role may read the system catalogs, information_schema, pg_settings and pg_stat_activity and call the catalog functions; only the validator keeps the user modes in public",
	"explain_analyze":      "EXPLAIN needs only the privileges of the statement explained; in user_rw EXPLAIN ANALYZE of a write commits the write",
	"do_call":              "DO runs PL/pgSQL, which PUBLIC may use; CALL: schema.sql's REVOKE EXECUTE ON ALL FUNCTIONS does not cover procedures, so user_rw may call reset_balances()",
	"copy":                 "COPY … TO STDOUT reads what the role may SELECT anyway",
	"lock":                 "LOCK needs only the UPDATE or DELETE privilege user_rw has; the lock ends with the call",
	"listen_notify":        "LISTEN, NOTIFY and UNLISTEN need no privilege and work in a read-only transaction; a NOTIFY in a rolled-back transaction is never delivered, in user_rw it is; DISCARD ALL ends a LISTEN",
	"prepare_execute":      "PREPARE and DEALLOCATE need no privilege; DISCARD ALL drops the statement after the call",
	"cursor":               "DECLARE and CLOSE need no privilege; the cursor ends with the transaction",
	"settings":             "SET, RESET, DISCARD and SHOW need no privilege; the executor rolls the change back or resets the session after the call",
	"ddl":                  "ANALYZE by a role that does not own the table is a warning, and the table is skipped",
}

// atkReport renders docs/attack-report.md.
func atkReport(vectors []*atkVector, list []*atkResult) string {
	var cats []string
	catSize := map[string]int{}
	for _, v := range vectors {
		if catSize[v.Category] == 0 {
			cats = append(cats, v.Category)
		}
		catSize[v.Category]++
	}
	order := map[string]int{}
	for i, v := range vectors {
		order[v.Name] = i
	}
	var mcpRes, offRes, privRes []*atkResult
	for _, r := range list {
		if r.priv {
			privRes = append(privRes, r)
			continue
		}
		if r.off {
			offRes = append(offRes, r)
		} else {
			mcpRes = append(mcpRes, r)
		}
	}
	byVector := func(rs []*atkResult) {
		sort.SliceStable(rs, func(i, j int) bool {
			if order[rs[i].v.Name] != order[rs[j].v.Name] {
				return order[rs[i].v.Name] < order[rs[j].v.Name]
			}
			return slices.Index(access.Modes, rs[i].mode) < slices.Index(access.Modes, rs[j].mode)
		})
	}
	byVector(mcpRes)
	byVector(offRes)
	byVector(privRes)

	var b strings.Builder
	b.WriteString(`# Attack replay report

<!-- Generated by TestAttackReplay (internal/app/attack_test.go): go test ./internal/app -run TestAttackReplay -update -->

Every vector of the attack corpus (` + "`testdata/attacks/vectors.yaml`" + `, fixture ` + "`schema.sql`" + `) was sent to
` + "`execute_sql`" + ` in each access mode through the real path: go-sdk client → HTTP → pgherd → PostgreSQL. Each endpoint logs
in as the least-privilege role ` + "`internal/roles`" + ` makes for its mode (the fixture is loaded by, and owned by, the
admin_rw role), with a 2 s statement timeout, 1 s lock timeout, ` + fmt.Sprint(atkMaxRows) + ` rows, 1 MiB of result and one pooled
connection. After every vector the test compares the database with its state before: data of every table, relations,
columns, functions and their privileges, schemas, types, constraints, triggers, policies, rules, comments, default
privileges, extensions, the database's privileges, the cluster's roles, memberships, databases and role settings,
ALTER SYSTEM, sequence positions, large objects, prepared transactions, replication slots, locks held and statements
running in other sessions, extra sessions, a sentinel session of the same role (alive, and hearing no notification),
the files the corpus tries to write, and a probe through the same endpoint that reads the session state of its pooled
connection (settings, prepared statements, cursors, LISTEN channels, advisory locks, temporary tables). Every result
is also searched for what the role must not read: rows of ` + "`documents`" + ` that row-level security hides (no tenant is set),
and in the user modes anything from ` + "`secret.tokens`" + `.

Legend: **V** refused by the validator, **X** refused by the executor, **P** refused by PostgreSQL (role privileges,
read-only transaction, or the server's own rules), **B** bounded (statement timeout, row, byte or message cap,
temp_file_limit), **H** hung until the caller's deadline (nothing in pgherd or PostgreSQL ended it), **A** allowed.

## Outcomes by category and mode

| category | vectors |`)
	for _, m := range access.Modes {
		b.WriteString(" " + string(m) + " |")
	}
	b.WriteString("\n|---|---|")
	for range access.Modes {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	letter := func(a atkAttempt) string {
		switch {
		case strings.HasPrefix(a.By, "caller's deadline"):
			return "H"
		case a.Outcome == atkAllowed:
			return "A"
		case a.Outcome == atkBounded:
			return "B"
		case a.By == "validator":
			return "V"
		case a.By == "postgres":
			return "P"
		case a.Outcome == atkRefused:
			return "X"
		}
		return "?"
	}
	cell := func(rs []*atkResult) string {
		n := map[string]int{}
		for _, r := range rs {
			n[letter(r.got)]++
		}
		var parts []string
		for _, l := range []string{"V", "X", "P", "B", "H", "A", "?"} {
			if n[l] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", l, n[l]))
			}
		}
		return strings.Join(parts, " · ")
	}
	total := map[access.Mode][]*atkResult{}
	for _, c := range cats {
		fmt.Fprintf(&b, "| %s | %d |", c, catSize[c])
		for _, m := range access.Modes {
			var rs []*atkResult
			for _, r := range mcpRes {
				if r.v.Category == c && r.mode == m {
					rs = append(rs, r)
				}
			}
			total[m] = append(total[m], rs...)
			b.WriteString(" " + cell(rs) + " |")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "| **all** | %d |", len(vectors))
	for _, m := range access.Modes {
		b.WriteString(" " + cell(total[m]) + " |")
	}
	b.WriteString("\n")

	b.WriteString("\n## Mismatches with the corpus\n\n")
	var mism []*atkResult
	for _, r := range mcpRes {
		if r.got.Outcome != r.v.Expect[r.mode] || r.got.Broken != "" {
			mism = append(mism, r)
		}
	}
	if len(mism) == 0 {
		b.WriteString("None: every vector had the outcome the corpus expects, in every mode.\n")
	} else {
		b.WriteString("Each is either a bug (the subtest skips with it, naming the fix) or an expectation that does not hold for the roles\n" +
			"`internal/roles` makes; any other mismatch fails the test.\n\n")
		b.WriteString("| vector | mode | expected | got | detail | why |\n|---|---|---|---|---|---|\n")
		for _, r := range mism {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.v.Name, r.mode, r.v.Expect[r.mode], r.got, atkCell(r.got.Detail+r.got.Broken), atkCellN(r.skipped, 400))
		}
	}

	b.WriteString("\n## What stopped the vectors the validator let through\n\n" +
		"With the validator on, the statements it passed and that still did not run to completion, and who stopped them.\n\n" +
		"| vector | mode | outcome | detail |\n|---|---|---|---|\n")
	for _, r := range mcpRes {
		if r.got.Outcome == atkAllowed || r.got.By == "validator" || r.v.Category == "resource" {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.v.Name, r.mode, r.got, atkCell(r.got.Detail))
	}

	b.WriteString("\n## Resource attacks\n\n| vector |")
	for _, m := range access.Modes {
		b.WriteString(" " + string(m) + " |")
	}
	b.WriteString("\n|---|")
	for range access.Modes {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, v := range vectors {
		if v.Category != "resource" {
			continue
		}
		b.WriteString("| " + v.Name + " |")
		for _, m := range access.Modes {
			for _, r := range mcpRes {
				if r.v == v && r.mode == m {
					b.WriteString(" " + r.got.String() + " |")
				}
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\nBounded by: statement_timeout (SQLSTATE 57014); max_rows or max_result_bytes (a result with truncated=true);\n" +
		"the per-message cap (one row larger than the pool's max_message_bytes, 64 MiB: the tool error says so, the row is never\n" +
		"read); temp_file_limit (SQLSTATE 53400, the role's 256MB cap on temporary files, which a materialised\n" +
		"generate_series reaches before the timeout).\n")

	var unseen []*atkResult
	for _, r := range mcpRes {
		if atkUnseenWrites[r.v.Name] != "" && len(r.wrote) > 0 {
			unseen = append(unseen, r)
		}
	}
	if len(unseen) > 0 {
		b.WriteString("\n## Writes the validator judged read-only\n\nAllowed in the mode, but the validator's ReadOnly verdict was wrong, so the executor treated them as reads\n" +
			"(a cap would cancel them instead of draining):\n\n| vector | mode | why | changed |\n|---|---|---|---|\n")
		for _, r := range unseen {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.v.Name, r.mode, atkUnseenWrites[r.v.Name], atkCell(strings.Join(r.wrote, "; ")))
		}
	}

	b.WriteString("\n## Side effects\n\n")
	var eff []*atkResult
	for _, r := range mcpRes {
		if len(r.effects) > 0 {
			eff = append(eff, r)
		}
	}
	if len(eff) == 0 {
		b.WriteString("None: no refused, bounded or read-only vector changed anything, no vector left session state, locks,\n" +
			"running statements or extra sessions behind or disturbed the sentinel session, and no result showed rows the\n" +
			"role must not read, in any mode.\n")
	} else {
		b.WriteString("| vector | mode | outcome | side effects |\n|---|---|---|---|\n")
		for _, r := range eff {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.v.Name, r.mode, r.got, atkCell(strings.Join(r.effects, "; ")))
		}
	}

	b.WriteString("\n## With a superuser login\n\n" +
		"Every vector the validator cannot refuse from its text alone, replayed in user_ro, user_rw and admin_ro with the\n" +
		"endpoint logged in as a superuser under `allow_privileged_role: true` (the log and get_server_info warn). No role\n" +
		"privilege holds, row-level security does not apply, EXECUTE is never checked: what the corpus expects the validator\n" +
		"to refuse (its catalog lookups included) must be refused, and nothing may change or show what the mode must not\n" +
		"read (secret tokens in the user modes, password verifiers, user mapping passwords). Rows that row-level security\n" +
		"would hide are not counted: a superuser is not subject to it, which is why tenant_settings refuses such a login.\n\n")
	privCount := map[access.Mode]map[string]int{}
	var privEff []*atkResult
	for _, r := range privRes {
		if privCount[r.mode] == nil {
			privCount[r.mode] = map[string]int{}
		}
		privCount[r.mode]["all"]++
		privCount[r.mode][letter(r.got)]++
		if len(r.effects) > 0 {
			privEff = append(privEff, r)
		}
	}
	b.WriteString("| mode | replayed | V validator | X executor | P PostgreSQL | B bounded | A allowed | with side effects |\n|---|---|---|---|---|---|---|---|\n")
	for _, m := range access.Modes {
		n := privCount[m]
		if n == nil {
			continue
		}
		effs := 0
		for _, r := range privEff {
			if r.mode == m {
				effs++
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", m, n["all"], n["V"], n["X"], n["P"], n["B"], n["A"], effs)
	}
	if len(privEff) > 0 {
		b.WriteString("\n| vector | mode | outcome | side effects |\n|---|---|---|---|\n")
		for _, r := range privEff {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.v.Name, r.mode, r.got, atkCell(strings.Join(r.effects, "; ")))
		}
	}

	b.WriteString(`
## With the validator switched off

The vectors the corpus expects refused in a mode, run again through the endpoint's own pool and transaction options
(what ` + "`tenancy.Database.Resolve`" + ` gives ` + "`execute_sql`" + `) as the mode's role, without ` + "`sqlguard.Check`" + `. With no verdict there
is no hint that a statement leaves session state, so none is given; a statement PostgreSQL refuses inside a transaction
block is run again outside one in admin_rw, as a NoTransaction verdict would have it. The same side-effect checks run
after each.

| mode | refused vectors | X executor | P PostgreSQL | B bounded | H hung | got through | … and changed something |
|---|---|---|---|---|---|---|---|
`)
	for _, m := range access.Modes {
		n := map[string]int{}
		var through, changed int
		for _, r := range offRes {
			if r.mode != m {
				continue
			}
			n["all"]++
			n[letter(r.got)]++
			if r.got.Outcome == atkAllowed {
				through++
				if len(r.effects) > 0 {
					changed++
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", m, n["all"], n["X"], n["P"], n["B"], n["H"], through, changed)
	}

	b.WriteString("\n### Stopped only by the validator\n\nVectors that ran to completion with the validator off, by category; a vector is listed once with the modes\nit got through in. \"read …\" marks a result that showed rows the role must not read.\n")
	type entry struct {
		v       *atkVector
		modes   []string
		details []string
		effects []string
	}
	byCat := map[string][]*entry{}
	idx := map[string]*entry{}
	for _, r := range offRes {
		if r.got.Outcome != atkAllowed {
			continue
		}
		e := idx[r.v.Name]
		if e == nil {
			e = &entry{v: r.v}
			idx[r.v.Name] = e
			byCat[r.v.Category] = append(byCat[r.v.Category], e)
		}
		e.modes = append(e.modes, string(r.mode))
		e.details = append(e.details, r.got.Detail)
		for _, x := range r.effects {
			e.effects = append(e.effects, string(r.mode)+": "+x)
		}
	}
	for _, c := range cats {
		es := byCat[c]
		if len(es) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n**%s** (%d)", c, len(es))
		if why := atkOnlyValidatorWhy[c]; why != "" {
			b.WriteString(" — " + why)
		}
		b.WriteString("\n\n| vector | got through in | result | changed |\n|---|---|---|---|\n")
		for _, e := range es {
			changed := "nothing"
			if len(e.effects) > 0 {
				changed = atkCell(strings.Join(e.effects, "; "))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", e.v.Name, strings.Join(e.modes, ", "), atkCell(strings.Join(slices.Compact(e.details), ", ")), changed)
		}
	}

	b.WriteString("\n### Refused or bounded without the validator\n\n| vector | mode | outcome | detail |\n|---|---|---|---|\n")
	for _, r := range offRes {
		if r.got.Outcome == atkAllowed {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.v.Name, r.mode, r.got, atkCell(r.got.Detail))
	}
	return b.String()
}

// atkCell makes s safe for one Markdown table cell.
func atkCell(s string) string { return atkCellN(s, 200) }

func atkCellN(s string, n int) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// TestAttackCheckerDetects makes sure the replay's side-effect check is not
// blind: each case changes a fresh lane from outside, the way a vector
// might, and the check must name the aspect changed; an untouched lane
// must show nothing.
func TestAttackCheckerDetects(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the attack fixture; run without -short")
	}
	f := newAttackFixture(t)
	// superuser runs trusted SQL in the lane's database.
	superuser := func(t *testing.T, l *lane, sql string) {
		t.Helper()
		if _, err := atkSuperExec(context.Background(), l.db, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// hold opens a session as who (the lane's role, or "" for the
	// superuser) and runs sql in it, keeping it open until the test ends.
	hold := func(t *testing.T, l *lane, who, sql string) *pgx.Conn {
		t.Helper()
		uri := pgtest.URI(l.db)
		if who != "" {
			uri = pgtest.URIAs(l.db, who, f.password)
		}
		ctx := context.Background()
		c, err := pgx.Connect(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		if sql != "" {
			if _, err := c.Exec(ctx, sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		return c
	}
	cases := []struct {
		name   string
		mode   access.Mode
		kind   laneKind
		change func(t *testing.T, l *lane)
		want   string // aspect the check must name; "" means none at all
		alone  bool   // touches what every lane sees: runs before the parallel cases start
	}{
		{"untouched", access.UserRW, validatorOff, func(*testing.T, *lane) {}, "", false},
		{"untouched through MCP", access.UserRO, throughMCP, func(*testing.T, *lane) {}, "", false},
		{"row inserted", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "INSERT INTO pg_notes VALUES (99, 'x')")
		}, "rows public.pg_notes", false},
		{"row updated in place", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "UPDATE accounts SET balance = balance + 1 WHERE id = 1")
		}, "rows public.accounts", false},
		{"secret table emptied", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "DELETE FROM secret.tokens")
		}, "rows secret.tokens", false},
		{"table created", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "CREATE TABLE secret.stolen (x int)")
		}, "relations", false},
		{"column added", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "ALTER TABLE accounts ADD COLUMN pwned int")
		}, "columns", false},
		{"grant", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "GRANT SELECT ON secret.tokens TO PUBLIC")
		}, "relations", false},
		{"function created", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "CREATE FUNCTION public.pwn() RETURNS int LANGUAGE sql AS 'SELECT 1'")
		}, "functions", false},
		{"sequence advanced", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "SELECT nextval('invoice_seq')")
		}, "sequences", false},
		{"large object", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "SELECT lo_create(0)")
		}, "large_objects", false},
		{"comment", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "COMMENT ON TABLE accounts IS 'x'")
		}, "comments", false},
		{"policy dropped", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "DROP POLICY documents_tenant ON documents")
		}, "policies", false},
		{"role setting", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "ALTER ROLE "+pgx.Identifier{f.role[access.UserRW]}.Sanitize()+" IN DATABASE "+pgx.Identifier{l.db}.Sanitize()+" SET work_mem = '77MB'")
		}, "role_settings", false},
		{"database privilege", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "GRANT TEMPORARY ON DATABASE "+pgx.Identifier{l.db}.Sanitize()+" TO PUBLIC")
		}, "database", false},
		{"notification", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, "NOTIFY pgherd, 'x'")
		}, "notifications", false},
		{"advisory lock held by an idle session", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			hold(t, l, "", "SELECT pg_advisory_lock(42)")
		}, "locks", false},
		{"session idle in transaction", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			hold(t, l, "", "BEGIN; SELECT 1")
		}, "activity", false},
		{"extra session of the role", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			hold(t, l, f.role[access.UserRW], "")
		}, "extra_sessions", false},
		{"sentinel terminated", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			superuser(t, l, fmt.Sprintf("SELECT pg_terminate_backend(%d)", l.sentinelPID))
		}, "sentinel", false},
		{"file written", access.UserRW, validatorOff, func(t *testing.T, l *lane) {
			if err := os.WriteFile(atkFiles[1], nil, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(atkFiles[1]) })
		}, "files", true},
		{"pooled session's settings through MCP", access.UserRO, throughMCP, func(t *testing.T, l *lane) {
			// New sessions of the role get another TimeZone, and the
			// pool's session is replaced: the probe's timestamptz text
			// changes (or the call on the killed session fails).
			superuser(t, l, "ALTER ROLE "+pgx.Identifier{f.role[access.UserRO]}.Sanitize()+" IN DATABASE "+pgx.Identifier{l.db}.Sanitize()+" SET timezone = 'Asia/Tokyo'")
			superuser(t, l, fmt.Sprintf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND usename = %s AND pid <> %d",
				quoteLiteral(f.role[access.UserRO]), l.sentinelPID))
		}, "probe", false},
		{"pooled session's tenant setting through MCP", access.AdminRO, throughMCP, func(t *testing.T, l *lane) {
			superuser(t, l, "ALTER ROLE "+pgx.Identifier{f.role[access.AdminRO]}.Sanitize()+" IN DATABASE "+pgx.Identifier{l.db}.Sanitize()+" SET app.tenant_id = 'tenant_b'")
			superuser(t, l, fmt.Sprintf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND usename = %s AND pid <> %d",
				quoteLiteral(f.role[access.AdminRO]), l.sentinelPID))
		}, "probe", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.alone {
				t.Parallel() // a hygiene case waits out the check's settling time
			}
			l := newLane(t, f, tc.mode, tc.kind)
			tc.change(t, l)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			diffs := l.check(ctx)
			if tc.want == "" {
				if len(diffs) > 0 {
					t.Fatalf("check on an untouched lane = %q, want nothing", diffs)
				}
				return
			}
			for _, d := range diffs {
				if strings.HasPrefix(d, tc.want+":") {
					return
				}
			}
			t.Errorf("check = %q, want a difference in %s", diffs, tc.want)
		})
	}
}

func TestAttackLeakCheck(t *testing.T) {
	for _, tc := range []struct {
		mode access.Mode
		rls  bool
		out  string
		want string
	}{
		{access.UserRO, true, `[["tenant_b_marker"]]`, "documents rows row-level security hides"},
		{access.UserRW, true, `<row><title>tenant_a_marker</title></row>`, "documents rows row-level security hides"},
		{access.AdminRO, true, `[["tenant_b_marker"]]`, "documents rows row-level security hides"},
		{access.AdminRW, true, `[["tenant_b_marker"]]`, ""}, // the owner is not subject to the policy
		{access.UserRO, false, `[["tenant_b_marker"]]`, ""}, // a superuser login bypasses it
		{access.UserRO, true, `[["tenant_a_marker-secret-token"]]`, "secret.tokens"},
		{access.UserRO, false, `[["tenant_a_marker-secret-token"]]`, "secret.tokens"},
		{access.AdminRO, true, `[["tenant_a_marker-secret-token"]]`, ""}, // admin_ro may read secret
		{access.UserRW, true, `[["tenant_b_marker","tenant_b_marker-secret-token"]]`, "documents rows row-level security hides and secret.tokens"},
		{access.UserRO, true, `[["only the markers' names"]]`, ""},
		{access.AdminRO, true, `ERROR: x: SCRAM-SHA-256$4096:abc (SQLSTATE P0001)`, "a password verifier"},
		{access.AdminRO, false, `[["{md5deadbeefcafebabe0123456789abcdef}"]]`, "a password verifier"},
		{access.AdminRO, true, `[["password=atk-mapping-secret-admin"]]`, "a user mapping's password"},
		{access.AdminRW, true, `[["password=atk-mapping-secret-admin"]]`, ""},
	} {
		if got := atkLeak(tc.mode, tc.rls, tc.out); got != tc.want {
			t.Errorf("atkLeak(%s, %t, %s) = %q, want %q", tc.mode, tc.rls, tc.out, got, tc.want)
		}
	}
}
