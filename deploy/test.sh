#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run it:
# system packages, the virtualenv, lint, a real Neo4j 5.26 (Maven jars, loopback),
# and pytest (whose fixtures start snmpsim and snmpd on loopback addresses).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
say() { echo "test.sh: $*" >&2; }

# --- system packages -------------------------------------------------------------
missing=()
command -v snmpd >/dev/null || missing+=(snmpd)
command -v snmpbulkwalk >/dev/null || missing+=(snmp)
command -v fusioninventory-agent >/dev/null || missing+=(fusioninventory-agent)
[ -f /usr/share/wireshark/enterprises.tsv ] || missing+=(libwireshark-data)
[ -f /usr/share/ieee-data/oui.txt ] || missing+=(ieee-data)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v ip >/dev/null || missing+=(iproute2)
[ -x /usr/bin/chromium ] || missing+=(chromium)  # the web UI's browser tests (tests/ui)
[ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)  # the same, in Firefox (WebDriver BiDi)
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >&2
fi

# --- python environment ----------------------------------------------------------
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >&2
.venv/bin/python -m pip install -q -e '.[test]' >&2

# --- a real Neo4j, started in the background while lint runs ----------------------
NEO4J_DIR="$ROOT/.cache/neo4j-test"
mkdir -p "$ROOT/.cache"
started_neo4j=0
if ! deploy/neo4j/neo4j-local status "$NEO4J_DIR" >/dev/null 2>&1; then
    started_neo4j=1
fi
export NEO4J_LOCAL_PYTHON="$ROOT/.venv/bin/python"
# the usual ports, unless something else holds them (another checkout's test server)
read -r BOLT_PORT HTTP_PORT < <(.venv/bin/python - <<'PY'
import socket
def free(preferred):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
print(free(7688), free(7475))
PY
)
if ((started_neo4j == 0)); then
    BOLT_PORT="$(deploy/neo4j/neo4j-local status "$NEO4J_DIR" | grep -o 'bolt://[^ ]*' | sed 's/.*://')"
fi
deploy/neo4j/neo4j-local start "$NEO4J_DIR" --bolt-port "$BOLT_PORT" --http-port "$HTTP_PORT" \
    >"$ROOT/.cache/neo4j-start.out" 2>"$ROOT/.cache/neo4j-start.err" &
neo4j_pid=$!
cleanup() {
    if ((started_neo4j)); then deploy/neo4j/neo4j-local stop "$NEO4J_DIR" >&2 || true; fi
}
trap cleanup EXIT

say "ruff check / ruff format --check"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

if ! wait "$neo4j_pid"; then
    cat "$ROOT/.cache/neo4j-start.err" >&2
    say "Neo4j did not start; the store tests need it"
    exit 1
fi
CMDB_TEST_NEO4J_URI="$(tail -n 1 "$ROOT/.cache/neo4j-start.out")"
CMDB_TEST_NEO4J_PASSWORD="$(cat "$NEO4J_DIR/password")"
export CMDB_TEST_NEO4J_URI CMDB_TEST_NEO4J_PASSWORD
say "Neo4j answering at $CMDB_TEST_NEO4J_URI"

# --- the suite ---------------------------------------------------------------------
.venv/bin/python -m pytest -p no:cacheprovider "$@"
