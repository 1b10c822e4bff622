#!/usr/bin/env bash
# Copy the agent's code, and only it, into DIR: agent/, collectors/__init__.py,
# collectors/model.py, collectors/host/ (no server, graph or SNMP code). Shared by
# build-agent-wheel.sh and build-agent-deb.sh so both ship the same files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:?usage: stage-agent.sh DIR}
mkdir -p "$DEST/agent" "$DEST/collectors/host"
cp "$ROOT"/agent/*.py "$DEST/agent/"
cp "$ROOT/collectors/__init__.py" "$ROOT/collectors/model.py" "$DEST/collectors/"
cp "$ROOT"/collectors/host/*.py "$DEST/collectors/host/"
