#!/usr/bin/env bash
# Copy the agent's code, and only it, into DIR/cmdb (the namespace): agent/, collectors/__init__.py,
# collectors/model.py, collectors/host/ (no server, graph or SNMP code). Shared by
# build-agent-wheel.sh and build-agent-deb.sh so both ship the same files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:?usage: stage-agent.sh DIR}
mkdir -p "$DEST/cmdb/agent" "$DEST/cmdb/collectors/host"
cp "$ROOT"/agent/*.py "$DEST/cmdb/agent/"
cp "$ROOT/collectors/__init__.py" "$ROOT/collectors/model.py" "$DEST/cmdb/collectors/"
cp "$ROOT"/collectors/host/*.py "$DEST/cmdb/collectors/host/"
