#!/usr/bin/env bash
# Build the light agent's wheel (distribution `cmdb-agent`) from this tree:
#   deploy/build-agent-wheel.sh [OUT_DIR]        (default ./dist)
# Stages agent/, collectors/__init__.py, collectors/model.py and collectors/host/ next to
# deploy/agent/pyproject.toml and builds it with pip (OFFLINE=1: --no-build-isolation, the
# running Python's setuptools and wheel). `pip install cmdb_agent-*.whl` then pulls psutil and
# netifaces-plus only; `cmdb-agent run --server URL --token-file FILE` is the command.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/dist}")
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
"$ROOT/deploy/stage-agent.sh" "$STAGE"
cp "$ROOT/deploy/agent/pyproject.toml" "$STAGE/"
mkdir -p "$OUT"
# offline: the running Python's setuptools and wheel (OFFLINE=1), else an isolated build env
ISOLATION=()
[ "${OFFLINE:-0}" = 1 ] && ISOLATION=(--no-build-isolation)
"$PYTHON" -m pip wheel --quiet --no-deps "${ISOLATION[@]}" --wheel-dir "$OUT" "$STAGE"
ls "$OUT"/cmdb_agent-*.whl
