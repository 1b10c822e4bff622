#!/usr/bin/env bash
# Set up and run the product on the embedded SQLite store: start the server, run the
# local agent once against it, print where to look, and keep the server running
# until Ctrl-C. Data lives in ./var (override with CMDB_DATA_DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
DATA="${CMDB_DATA_DIR:-$ROOT/var}"
LISTEN="${CMDB_LISTEN:-127.0.0.1:8080}"
URL="http://$LISTEN"

mkdir -p "$DATA"
echo "installing into .venv (log: $DATA/install.log) ..."
{
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e .
} >"$DATA/install.log" 2>&1 || { tail -n 30 "$DATA/install.log"; exit 1; }
CMDB="$ROOT/.venv/bin/cmdb"

# tokens are created once and kept (0600) beside the data
if [ ! -s "$DATA/agent.token" ]; then
    (umask 077; "$CMDB" token create --role agent --name local-agent --data-dir "$DATA" >"$DATA/agent.token")
    (umask 077; "$CMDB" token create --role admin --name quickstart-admin --data-dir "$DATA" >"$DATA/admin.token")
fi

# a person to sign in to the web UI as: admin, password generated once and kept (0600)
if [ ! -s "$DATA/admin.password" ]; then
    (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(15))' >"$DATA/admin.password")
    "$CMDB" user create admin --role admin --data-dir "$DATA" --password-file "$DATA/admin.password"
fi

"$CMDB" server --listen "$LISTEN" --data-dir "$DATA" >>"$DATA/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
    curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$DATA/server.log"; exit 1; }
    sleep 0.2
done

"$CMDB" agent run --once --server "$URL" --token-file "$DATA/agent.token" \
    --spool-dir "$DATA/agent-spool"

HOST_NAME=$(hostname -s 2>/dev/null || hostname)
cat <<MSG

The CMDB is running at $URL (embedded SQLite store in $DATA; log: $DATA/server.log).

Sign in to the web UI: open $URL/ as user 'admin' with the password in
$DATA/admin.password ( cat $DATA/admin.password ). More users:
  .venv/bin/cmdb user create NAME --role reader|editor|admin --data-dir $DATA

Look at this host's configuration items:
  export CMDB_SERVER=$URL CMDB_TOKEN=\$(cat $DATA/admin.token)
  .venv/bin/cmdb ci list --class Host
  .venv/bin/cmdb ci show $HOST_NAME          # attributes and relationships (a name, id, address or serial)
  .venv/bin/cmdb ci show $HOST_NAME --rel LISTENS_ON,HAS_INTERFACE   # its endpoints and interfaces
  .venv/bin/cmdb impact $HOST_NAME           # what fails with it (an endpoint: $HOST_NAME:PORT)
  .venv/bin/cmdb ci history $HOST_NAME       # what changed, when, and which source saw it
  .venv/bin/cmdb ci deps $HOST_NAME --depth 2
  curl -H "Authorization: Bearer \$CMDB_TOKEN" '$URL/api/v1/cis?class=Host'
  API description: $URL/api/v1/openapi.json

Ctrl-C stops the server.
MSG
wait "$server_pid"
