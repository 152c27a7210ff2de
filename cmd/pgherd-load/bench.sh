#!/usr/bin/env bash
# Load matrix of issue #14 for docs/benchmarks.md: the workloads W1-W4 on the
# e-commerce dataset (cmd/pgherd-load/dataset.go), against a separate
# `pgherd serve` process (stateless and stateful Streamable HTTP) and
# `pgherd stdio`, each at every session count, with the raw-pgx baseline of
# W2-W4 in the same repetition so that every figure is a ratio to it. Then
# the two figures that are not calls/s: idle memory per stateful session
# (--workload idle, with and without each session's GET event stream) and
# cold start to the first answered call (--cold-start, each server kind),
# in a second table.
# Repetitions are interleaved, so a burst of load from elsewhere lands in one
# repetition of many cells rather than in every repetition of one.
#
#   cmd/pgherd-load/bench.sh [results.jsonl]       # run, then print the table
#   cmd/pgherd-load/bench.sh --table results.jsonl # print the table again
#
# Needs Go, the PostgreSQL server binaries (as for make test) and jq.
# Settings (environment): SCALE (0.1; 1 is the issue's full dataset: 100k
# customers, 10k products, 1M orders, 3M order items), REPS (3), WARMUP (2s),
# DURATION (6s), SESSIONS ("1 16"), MODES ("stateless stateful stdio"),
# WORKLOADS ("W1 W2 W3 W4"; empty: no matrix), IDLE_SESSIONS (1000), IDLE
# (25s: longer than two of pgherd's 10 s idle checks, so the memory a burst
# freed has been returned), COLD_RUNS (10), EXTRAS ("idle cold"; empty: none);
# PG_URI and PG_PID to reuse a cluster that
# `pgherd-load --pg-only --scale N` started (the full dataset takes minutes). pgherd serve runs with its own GC default
# (GOGC 400); the client with GOGC=400.
set -euo pipefail

table() {
	jq -rs '
	  def median: map(select(. != null)) | sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
	  def r2: if . == null then "–" else (. * 100 | round / 100 | tostring) end;
	  def ms: if . == null then "–" else (. / 1e6 * 100 | round / 100 | tostring) end;
	  def us: if . == null or . < 0 then "–" else (. / 1e3 | round | tostring) end;
	  def percall($f): if .[$f] != null and .[$f] >= 0 and .calls > 0 then .[$f] / .calls else null end;
	  map(select(.mode != "idle" and .mode != "cold")) # not the second table rows
	  | . as $all
	  | (map(select(.mode == "raw")) | map({key: "\(.rep) \(.workload) \(.sessions)", value: .}) | from_entries) as $raw
	  | map(select(.mode != "raw") | . + {ratio: ($raw["\(.rep) \(.workload) \(.sessions)"].calls_per_sec as $r | if $r then .calls_per_sec / $r else null end),
	                                     raw_db: ($raw["\(.rep) \(.workload) \(.sessions)"] | if . then percall("database_cpu_ns") else null end)})
	  | . + ($all | map(select(.mode == "raw")))
	  | group_by([.workload, .mode, .sessions])
	  | map({workload: .[0].workload, mode: .[0].mode, sessions: .[0].sessions, n: length,
	         cps: (map(.calls_per_sec) | median), ratio: (map(.ratio) | median),
	         ratios: (map(.ratio | select(. != null) | . * 100 | round / 100 | tostring) | join(", ")),
	         p50: (map(.latency.p50_ns) | median), p99: (map(.latency.p99_ns) | median),
	         server_cpu: (map(percall("server_cpu_ns")) | median),
	         db_cpu: (map(percall("database_cpu_ns")) | median),
	         raw_db: (map(.raw_db) | median),
	         client_cpu: (map(percall("client_cpu_ns")) | median),
	         bytes: (map(.response_bytes) | median),
	         rss: (map(.server_peak_rss_bytes | select(. != null and . > 0)) | median),
	         load: (map(.loadavg) | median),
	         errors: (map(.tool_errors + .protocol_errors) | add)})
	  | sort_by(.workload, (.mode | if . == "raw" then 0 elif . == "stateless" then 1 elif . == "stateful" then 2 else 3 end), .sessions)
	  | (["workload", "mode", "sessions", "calls/s", "ratio to raw (median; each rep)", "p50 ms", "p99 ms",
	      "server CPU µs/call", "db CPU µs/call (raw’s)", "client CPU µs/call", "response bytes", "server peak RSS MiB",
	      "load avg", "errors"] | join(" | ") | "| " + . + " |"),
	    ("|" + ([range(14)] | map("---") | join("|")) + "|"),
	    (.[] | [.workload, .mode, (.sessions | tostring), (.cps | round | tostring),
	            (if .ratio == null then "–" else (.ratio | r2) + " (" + .ratios + ")" end),
	            (.p50 | ms), (.p99 | ms), (.server_cpu | us),
	            ((.db_cpu | us) + (if .raw_db != null then " (" + (.raw_db | us) + ")" else "" end)),
	            (.client_cpu | us), (.bytes // "–" | tostring),
	            (if .rss == null then "–" else (.rss / 1048576 * 10 | round / 10 | tostring) end),
	            (.load | r2), (.errors | tostring)]
	         | join(" | ") | "| " + . + " |")
	' "$1"
}

# extras prints the idle-session and cold-start table.
extras() {
	jq -rs '
	  def kib($v): if $v == null then "–" else ($v / 1024 * 10 | round / 10 | tostring) end;
	  def ms: if . == null then "–" else (. / 1e6 * 10 | round / 10 | tostring) end;
	  def per($a; $b; $f; $n): if $a[$f] == null or $b[$f] == null or $a[$f] < 0 or $b[$f] < 0 then null else ($b[$f] - $a[$f]) / $n end;
	  (map(select(.mode == "idle")) | if length > 0 then
	    (["sessions", "GET stream", "RSS KiB/session as found (idle)", "RSS KiB/session after a GC", "heap KiB/session (GC)",
	      "stacks KiB/session", "goroutines/session", "open all s", "load avg"] | join(" | ") | "| " + . + " |"),
	    ("|" + ([range(9)] | map("---") | join("|")) + "|"),
	    (.[] | [(.sessions | tostring), (if .stream then "yes" else "no" end),
	            kib(per(.before; .after; "rss_bytes"; .sessions)), kib(per(.before_gc; .after_gc; "rss_bytes"; .sessions)),
	            kib(per(.before_gc; .after_gc; "heap_inuse_bytes"; .sessions)), kib(per(.before_gc; .after_gc; "stack_inuse_bytes"; .sessions)),
	            (per(.before_gc; .after_gc; "goroutines"; .sessions) | if . == null then "–" else (. * 10 | round / 10 | tostring) end),
	            (.open_all_ns / 1e9 * 10 | round / 10 | tostring), (.loadavg | tostring)] | join(" | ") | "| " + . + " |"),
	    ""
	  else empty end),
	  (map(select(.mode == "cold")) | if length > 0 then
	    (["server", "runs", "listening ms", "handshake ms", "first call ms (median)", "server CPU ms", "waiting for a CPU ms (all threads)",
	      "RSS MiB", "load avg"] | join(" | ") | "| " + . + " |"),
	    ("|" + ([range(9)] | map("---") | join("|")) + "|"),
	    (.[] | [.server, (.runs | length | tostring), (.median.listen_ns | if . == 0 then "–" else ms end), (.median.handshake_ns | ms),
	            (.median.first_call_ns | ms), (.median.server_cpu_ns | ms), (.median.run_queue_ns | ms),
	            (.median.rss_bytes / 1048576 * 10 | round / 10 | tostring), (.loadavg | tostring)] | join(" | ") | "| " + . + " |")
	  else empty end)
	' "$1"
}

if [[ "${1:-}" == "--table" ]]; then
	table "$2"
	echo
	extras "$2"
	exit
fi

cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-bench-results.jsonl}")
SCALE=${SCALE:-0.1} REPS=${REPS:-3} WARMUP=${WARMUP:-2s} DURATION=${DURATION:-6s}
SESSIONS=${SESSIONS:-"1 16"} MODES=${MODES:-"stateless stateful stdio"} WORKLOADS=${WORKLOADS-"W1 W2 W3 W4"}
IDLE_SESSIONS=${IDLE_SESSIONS:-1000} IDLE=${IDLE:-25s} COLD_RUNS=${COLD_RUNS:-10} EXTRAS=${EXTRAS-"idle cold"}

tmp=$(mktemp -d)
pg_pid="" server_pid=""
cleanup() {
	[[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	[[ -n "$pg_pid" ]] && kill "$pg_pid" 2>/dev/null && wait "$pg_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/pgherd" ./cmd/pgherd
go build -o "$tmp/pgherd-load" ./cmd/pgherd-load
if [[ -n "${PG_URI:-}" ]]; then
	# A cluster that already holds the dataset (pgherd-load --pg-only) and
	# its postmaster's process id.
	uri=$PG_URI db_pid=${PG_PID:?PG_PID: the postmaster of PG_URI}
else
	mkfifo "$tmp/uri"
	echo "# creating the dataset at scale $SCALE…" >&2
	"$tmp/pgherd-load" --pg-only --scale "$SCALE" >"$tmp/uri" 2>"$tmp/pg.log" &
	pg_pid=$!
	read -r uri <"$tmp/uri" || { cat "$tmp/pg.log" >&2; exit 1; }
	db_pid=$(pgrep -P "$pg_pid" -x postgres)
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

{
	echo "# $(date -u +%FT%TZ) $(go version) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	echo "# SCALE=$SCALE REPS=$REPS WARMUP=$WARMUP DURATION=$DURATION"
} >&2

config() {
	cat >"$tmp/pgherd.yaml" <<-EOF
		server: {port: $port, session_mode: $1, max_sessions_per_tenant: $((IDLE_SESSIONS + 10))}
		log: {level: warn}
		endpoints:
		  app1: {database_uri: "\${URI}", access_mode: user_ro, limits: {max_result_bytes: 1048576}}
	EOF
}

# measure WORKLOAD SESSIONS MODE [pgherd-load flags…]
measure() {
	local workload=$1 sessions=$2 mode=$3 load
	shift 3
	load=$(cut -d' ' -f1 /proc/loadavg)
	URI=$uri GOGC=400 "$tmp/pgherd-load" --json --workload "$workload" --sessions "$sessions" \
		--warmup "$WARMUP" --duration "$DURATION" --db-pid "$db_pid" "$@" |
		jq -c --arg w "$workload" --arg m "$mode" --arg l "$load" --argjson r "$rep" \
			'. + {workload: $w, mode: $m, rep: $r, loadavg: ($l | tonumber)}' |
		tee -a "$out" |
		jq -r '"\(.rep) \(.workload) \(.mode) s=\(.sessions): \(.calls_per_sec | round) calls/s, p50 \(.latency.p50_ns / 1e6 * 100 | round / 100) ms, errors \(.tool_errors + .protocol_errors), load \(.loadavg)"' >&2 ||
		true # failed calls are in the results; a run that could not start says why on stderr
}

for rep in $(seq "$REPS"); do
	for workload in $WORKLOADS; do
		[[ "$workload" == W1 ]] && continue # tools/list has no database counterpart
		for sessions in $SESSIONS; do
			measure "$workload" "$sessions" raw --raw-dsn "$uri"
		done
	done
	for mode in $MODES; do
		if [[ "$mode" == stdio ]]; then
			config stateless
			for workload in $WORKLOADS; do
				for sessions in $SESSIONS; do
					measure "$workload" "$sessions" stdio --transport stdio -- \
						env -u GOGC -u GOMEMLIMIT URI="$uri" "$tmp/pgherd" stdio --config "$tmp/pgherd.yaml" --endpoint app1
				done
			done
			continue
		fi
		config "$mode"
		URI=$uri env -u GOGC -u GOMEMLIMIT "$tmp/pgherd" serve --config "$tmp/pgherd.yaml" 2>>"$tmp/serve.log" &
		server_pid=$!
		until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
			kill -0 "$server_pid" || { cat "$tmp/serve.log" >&2; exit 1; }
			sleep 0.1
		done
		for workload in $WORKLOADS; do
			for sessions in $SESSIONS; do
				measure "$workload" "$sessions" "$mode" --url "http://127.0.0.1:$port/app1/mcp" --expect "$mode" --server-pid "$server_pid"
			done
		done
		kill -TERM "$server_pid"
		wait "$server_pid" || true
		server_pid=""
	done
done
if [[ " $EXTRAS " == *" idle "* ]]; then
	# Idle stateful sessions against a fresh server, which writes a heap
	# profile at each reading (PGHERD_HEAP_PROFILE: a diagnostic).
	config stateful
	URI=$uri PGHERD_HEAP_PROFILE=$tmp/heap.prof env -u GOGC -u GOMEMLIMIT "$tmp/pgherd" serve --config "$tmp/pgherd.yaml" 2>>"$tmp/serve.log" &
	server_pid=$!
	until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
		kill -0 "$server_pid" || { cat "$tmp/serve.log" >&2; exit 1; }
		sleep 0.1
	done
	for stream in true false; do
		rm -f "$tmp"/heap.prof*
		load=$(cut -d' ' -f1 /proc/loadavg)
		"$tmp/pgherd-load" --json --workload idle --sessions "$IDLE_SESSIONS" --duration "$IDLE" --idle-stream="$stream" \
			--url "http://127.0.0.1:$port/app1/mcp" --server-pid "$server_pid" --server-heap-profile "$tmp/heap.prof" |
			jq -c --arg l "$load" '. + {mode: "idle", loadavg: ($l | tonumber)}' | tee -a "$out" |
			jq -r '"idle stream=\(.stream): RSS \((.after.rss_bytes - .before.rss_bytes) / .sessions / 1024 | round) KiB/session as found, \((.after_gc.rss_bytes - .before_gc.rss_bytes) / .sessions / 1024 | round) after a GC"' >&2 ||
			true
	done
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=""
fi
if [[ " $EXTRAS " == *" cold "* ]]; then
	# Cold start: exec to the first answered SELECT 1, each server kind.
	for server in stateless stateful stdio; do
		if [[ "$server" == stdio ]]; then
			config stateless
			cmd=(--transport stdio -- env -u GOGC -u GOMEMLIMIT URI="$uri" "$tmp/pgherd" stdio --config "$tmp/pgherd.yaml" --endpoint app1)
		else
			config "$server"
			cmd=(--url "http://127.0.0.1:$port/app1/mcp" -- env -u GOGC -u GOMEMLIMIT URI="$uri" "$tmp/pgherd" serve --config "$tmp/pgherd.yaml")
		fi
		load=$(cut -d' ' -f1 /proc/loadavg)
		"$tmp/pgherd-load" --json --workload W2 --cold-start "$COLD_RUNS" "${cmd[@]}" |
			jq -c --arg s "$server" --arg l "$load" '. + {mode: "cold", server: $s, loadavg: ($l | tonumber)}' | tee -a "$out" |
			jq -r '"cold \(.server): first call \(.median.first_call_ns / 1e6 | round) ms (median of \(.runs | length))"' >&2 ||
			true
	done
fi
table "$out"
echo
extras "$out"
