#!/usr/bin/env bash
# Observability overhead for docs/benchmarks.md: the CPU time per call of a
# separate `pgherd serve` process (from /proc, which neighbours on a shared
# machine disturb least), measured by pgherd-load with
#   plain:    the log line only (what every call did before the observers),
#   observed: every observer on — metrics scraped every second, the audit
#             log to a file, OTLP traces with trace_sql to a sink that
#             discards them;
#   untraced: observed without the traces (only with VARIANTS).
# The variants alternate REPS times, so a burst of load from elsewhere lands
# on each; the table gives each repetition's figures and the median ratios
# to plain.
#
#   cmd/pgherd-load/observe.sh [results.jsonl]
#   cmd/pgherd-load/observe.sh --table results.jsonl
#
# Needs Go, the PostgreSQL server binaries (as for make test), curl and jq.
# Settings (environment): REPS (5), WARMUP (3s), DURATION (15s),
# SESSIONS (16), MODE (stateful), ARGS ('{"sql":"SELECT 1"}'),
# VARIANTS ("plain observed"; "plain untraced observed" separates the cost
# of the traces).
set -euo pipefail

table() {
	jq -rs '
	  def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
	  def us: . / 1e3 * 10 | round / 10;
	  def pct: (. - 1) * 1000 | round / 10 | tostring + " %";
	  map(. + {cpu: (.server_cpu_ns / .calls)}) as $all
	  | ($all | map(.variant) | unique | map(select(. != "plain"))) as $vs
	  | ($all | group_by(.rep) | map({rep: .[0].rep, by: (map({key: .variant, value: .}) | from_entries)})
	     | map(select(.by.plain != null))) as $reps
	  | (["rep", "plain µs/call"] + ($vs | map(. + " µs/call (overhead)")) + ["calls/s", "load avg"] | join(" | ") | "| " + . + " |"),
	    ("|" + ([range(4 + ($vs | length))] | map("---") | join("|")) + "|"),
	    ($reps[] | . as $r | [($r.rep | tostring), ($r.by.plain.cpu | us | tostring)]
	      + ($vs | map(. as $v | $r.by[$v] | if . == null then "" else (.cpu | us | tostring) + " (" + (.cpu / $r.by.plain.cpu | pct) + ")" end))
	      + [([$r.by.plain] + ($vs | map($r.by[.])) | map(select(. != null) | .calls_per_sec | round | tostring) | join(", ")),
	         ([$r.by.plain] + ($vs | map($r.by[.])) | map(select(. != null) | .loadavg | tostring) | join(", "))]
	      | join(" | ") | "| " + . + " |"),
	    ($vs[] as $v | "median overhead, " + $v + ": "
	      + ($reps | map(select(.by[$v] != null) | .by[$v].cpu / .by.plain.cpu) | median | pct) + " of server CPU per call ("
	      + ($reps | map(.by.plain.cpu) | median | us | tostring) + " → "
	      + ($reps | map(select(.by[$v] != null) | .by[$v].cpu) | median | us | tostring) + " µs, medians)")
	' "$1"
}

if [[ "${1:-}" == "--table" ]]; then
	table "$2"
	exit
fi

cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-observe-results.jsonl}")
REPS=${REPS:-5} WARMUP=${WARMUP:-3s} DURATION=${DURATION:-15s} SESSIONS=${SESSIONS:-16} MODE=${MODE:-stateful}
ARGS=${ARGS:-'{"sql":"SELECT 1"}'} VARIANTS=${VARIANTS:-plain observed}

tmp=$(mktemp -d)
pg_pid="" sink_pid="" server_pid="" scraper_pid=""
cleanup() {
	for p in "$scraper_pid" "$server_pid" "$sink_pid" "$pg_pid"; do
		[[ -n "$p" ]] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/pgherd" ./cmd/pgherd
go build -o "$tmp/pgherd-load" ./cmd/pgherd-load
mkfifo "$tmp/uri" "$tmp/sink"
"$tmp/pgherd-load" --pg-only >"$tmp/uri" 2>"$tmp/pg.log" &
pg_pid=$!
read -r uri <"$tmp/uri"
"$tmp/pgherd-load" --otlp-sink 127.0.0.1:0 >"$tmp/sink" 2>"$tmp/sink.log" &
sink_pid=$!
read -r sink <"$tmp/sink"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

{
	echo "# $(date -u +%FT%TZ) $(go version) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	echo "# REPS=$REPS WARMUP=$WARMUP DURATION=$DURATION SESSIONS=$SESSIONS MODE=$MODE ARGS=$ARGS VARIANTS=$VARIANTS"
} >&2

for rep in $(seq "$REPS"); do
	for variant in $VARIANTS; do
		otlp=""
		[[ "$variant" == observed ]] && otlp=$sink
		if [[ "$variant" == plain ]]; then
			cat >"$tmp/pgherd.yaml" <<-EOF
				server: {port: $port, session_mode: $MODE, metrics: {enabled: false}}
				endpoints:
				  app1: {database_uri: "\${URI}", access_mode: user_ro, allow_privileged_role: true}
			EOF
			URI=$uri env -u GOGC -u GOMEMLIMIT -u OTEL_EXPORTER_OTLP_ENDPOINT "$tmp/pgherd" serve --config "$tmp/pgherd.yaml" 2>"$tmp/serve.log" &
		else
			rm -f "$tmp/audit.jsonl"
			cat >"$tmp/pgherd.yaml" <<-EOF
				server: {port: $port, session_mode: $MODE}
				endpoints:
				  app1: {database_uri: "\${URI}", access_mode: user_ro, allow_privileged_role: true}
				audit: {enabled: true, path: "$tmp/audit.jsonl", include_params: true}
				tracing: {trace_sql: true}
			EOF
			if [[ -n "$otlp" ]]; then
				URI=$uri OTEL_EXPORTER_OTLP_ENDPOINT=$otlp env -u GOGC -u GOMEMLIMIT "$tmp/pgherd" serve --config "$tmp/pgherd.yaml" 2>"$tmp/serve.log" &
			else
				URI=$uri env -u GOGC -u GOMEMLIMIT -u OTEL_EXPORTER_OTLP_ENDPOINT "$tmp/pgherd" serve --config "$tmp/pgherd.yaml" 2>"$tmp/serve.log" &
			fi
		fi
		server_pid=$!
		until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
			kill -0 "$server_pid" || { cat "$tmp/serve.log" >&2; exit 1; }
			sleep 0.1
		done
		if [[ "$variant" != plain ]]; then
			(while curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"; do sleep 1; done) &
			scraper_pid=$!
		fi
		load=$(cut -d' ' -f1 /proc/loadavg)
		GOGC=400 "$tmp/pgherd-load" --json --url "http://127.0.0.1:$port/app1/mcp" --expect "$MODE" \
			--args "$ARGS" --sessions "$SESSIONS" --warmup "$WARMUP" --duration "$DURATION" \
			--server-pid "$server_pid" |
			jq -c --arg v "$variant" --arg l "$load" --argjson r "$rep" '. + {variant: $v, rep: $r, loadavg: ($l | tonumber)}' |
			tee -a "$out" | jq -r '"\(.rep) \(.variant): \(.calls_per_sec | round) calls/s, server \(.server_cpu_ns / .calls / 1e3 | round) µs/call, errors \(.tool_errors + .protocol_errors), load \(.loadavg)"' >&2
		if [[ -n "$scraper_pid" ]]; then
			kill "$scraper_pid" 2>/dev/null || true
			wait "$scraper_pid" 2>/dev/null || true
			scraper_pid=""
		fi
		kill -TERM "$server_pid"
		wait "$server_pid" || true
		server_pid=""
		if [[ "$variant" != plain ]]; then
			echo "   audit records: $(wc -l <"$tmp/audit.jsonl")" >&2
		fi
	done
done
table "$out"
