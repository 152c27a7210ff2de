#!/usr/bin/env bash
# Load matrix for docs/benchmarks.md: a separate `pgherd serve` process,
# measured by pgherd-load, for every combination of query × session mode ×
# sessions × server GOGC, repeated REPS times (interleaved, so a burst of
# noise on the machine hits one repetition of many cells rather than every
# repetition of one).
#
#   cmd/pgherd-load/bench.sh [results.jsonl]      # run, then print the table
#   cmd/pgherd-load/bench.sh --table results.jsonl # print the table again
#
# Needs Go, the PostgreSQL server binaries (as for make test) and jq.
# Settings (environment): REPS (3), WARMUP (3s), DURATION (8s),
# SESSIONS ("1 16 64"), MODES ("stateless stateful"), GOGCS ("100 400").
# The server's GOGC=400 run leaves GOGC unset: pgherd serve's own default.
# The client runs with GOGC=400 throughout, so only the server's setting
# changes between columns.
set -euo pipefail

table() {
	jq -rs '
	  def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
	  def ms: if . == null then "–" else (. / 1e6 * 100 | round / 100 | tostring) end;
	  def us: if . == null or . < 0 then "–" else (. / 1e3 | round | tostring) end;
	  group_by([.query, .mode, .sessions, .gogc])
	  | map({query: .[0].query, mode: .[0].mode, sessions: .[0].sessions, gogc: .[0].gogc, n: length,
	         cps: (map(.calls_per_sec) | median), p50: (map(.latency.p50_ns) | median),
	         p99: (map(.latency.p99_ns) | median),
	         server_cpu: (map(if .server_cpu_ns >= 0 then .server_cpu_ns / .calls else null end) | median),
	         client_cpu: (map(.client_cpu_ns / .calls) | median),
	         errors: (map(.tool_errors + .protocol_errors) | add),
	         spread: ((map(.calls_per_sec) | min | round | tostring) + "–" + (map(.calls_per_sec) | max | round | tostring))})
	  | sort_by(.query, .mode, .sessions, .gogc)
	  | (["query", "mode", "sessions", "server GOGC", "calls/s (median)", "min–max", "p50 ms", "p99 ms",
	      "server CPU µs/call", "client CPU µs/call", "errors"] | join(" | ") | "| " + . + " |"),
	    ("|" + ([range(11)] | map("---") | join("|")) + "|"),
	    (.[] | [.query, .mode, (.sessions | tostring), .gogc, (.cps | round | tostring), .spread,
	            (.p50 | ms), (.p99 | ms), (.server_cpu | us), (.client_cpu | us), (.errors | tostring)]
	         | join(" | ") | "| " + . + " |")
	' "$1"
}

if [[ "${1:-}" == "--table" ]]; then
	table "$2"
	exit
fi

cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-bench-results.jsonl}")
REPS=${REPS:-3} WARMUP=${WARMUP:-3s} DURATION=${DURATION:-8s}
SESSIONS=${SESSIONS:-"1 16 64"} MODES=${MODES:-"stateless stateful"} GOGCS=${GOGCS:-"100 400"}
declare -A QUERIES=(
	[select1]='{"sql":"SELECT 1"}'
	[rows100]='{"sql":"SELECT * FROM customers ORDER BY id LIMIT 100"}'
)

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
mkfifo "$tmp/uri"
"$tmp/pgherd-load" --pg-only >"$tmp/uri" 2>"$tmp/pg.log" &
pg_pid=$!
read -r uri <"$tmp/uri"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

{
	echo "# $(date -u +%FT%TZ) $(go version) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	echo "# REPS=$REPS WARMUP=$WARMUP DURATION=$DURATION"
} >&2

for rep in $(seq "$REPS"); do
	for mode in $MODES; do
		for gogc in $GOGCS; do
			cat >"$tmp/pgherd.yaml" <<-EOF
				server: {port: $port, session_mode: $mode}
				log: {level: warn}
				endpoints:
				  app1: {database_uri: "\${URI}", access_mode: user_ro}
			EOF
			if [[ "$gogc" == 400 ]]; then
				URI=$uri env -u GOGC -u GOMEMLIMIT "$tmp/pgherd" serve --config "$tmp/pgherd.yaml" 2>>"$tmp/serve.log" &
			else
				URI=$uri GOGC=$gogc env -u GOMEMLIMIT "$tmp/pgherd" serve --config "$tmp/pgherd.yaml" 2>>"$tmp/serve.log" &
			fi
			server_pid=$!
			until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
				kill -0 "$server_pid" || { cat "$tmp/serve.log" >&2; exit 1; }
				sleep 0.1
			done
			for query in "${!QUERIES[@]}"; do
				for sessions in $SESSIONS; do
					load=$(cut -d' ' -f1 /proc/loadavg)
					GOGC=400 "$tmp/pgherd-load" --json --url "http://127.0.0.1:$port/app1/mcp" --expect "$mode" \
						--args "${QUERIES[$query]}" --sessions "$sessions" --warmup "$WARMUP" --duration "$DURATION" \
						--server-pid "$server_pid" |
						jq -c --arg q "$query" --arg m "$mode" --arg g "$gogc" --arg l "$load" --argjson r "$rep" \
							'. + {query: $q, mode: $m, gogc: $g, rep: $r, loadavg: ($l | tonumber)}' |
						tee -a "$out" | jq -r '"\(.rep) \(.query) \(.mode) s=\(.sessions) GOGC=\(.gogc): \(.calls_per_sec | round) calls/s, p50 \(.latency.p50_ns / 1e6 * 100 | round / 100) ms, p99 \(.latency.p99_ns / 1e6 * 100 | round / 100) ms, errors \(.tool_errors + .protocol_errors), load \(.loadavg)"' >&2 ||
						true # failed calls are in the results; a run that could not start says why on stderr
				done
			done
			kill -TERM "$server_pid"
			wait "$server_pid" || true
			server_pid=""
		done
	done
done
table "$out"
