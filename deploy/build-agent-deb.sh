#!/usr/bin/env bash
# Build the agent's Debian package with dpkg-deb alone:
#   deploy/build-agent-deb.sh [OUT_DIR]          (default ./dist)  → cmdb-agent_VERSION_all.deb
#
# Offline by design: the package holds only our Python code (agent/, collectors/model.py,
# collectors/host/, as the cmdb namespace in /usr/lib/cmdb-agent, off sys.path so it
# never meets another installation of cmdb) and runs it with Debian's python3 and Debian's psutil and
# netifaces (Depends:), so `dpkg -i` / `apt install ./cmdb-agent_*.deb` needs no network
# and no pip, on any architecture (Architecture: all). postinst compiles the bytecode.
#
# Contents: /usr/bin/cmdb-agent, /usr/lib/cmdb-agent/, the systemd units
# (cmdb-agent.service + cmdb-agent.timer, enabled; the service waits for
# /etc/cmdb-agent/token), /etc/cmdb-agent/agent.env (conffile: CMDB_SERVER=),
# /usr/share/doc/cmdb-agent/deployment.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/dist}")
VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/deploy/agent/pyproject.toml")}
PKG=$(mktemp -d)
trap 'rm -rf "$PKG"' EXIT
LIB=$PKG/usr/lib/cmdb-agent

"$ROOT/deploy/stage-agent.sh" "$LIB"
find "$LIB" -name __pycache__ -prune -exec rm -rf {} +

install -d "$PKG/usr/bin"
cat > "$PKG/usr/bin/cmdb-agent" <<'PY'
#!/usr/bin/python3 -I
"""cmdb-agent: the packaged agent (code in /usr/lib/cmdb-agent)."""
import os
import sys

# ../lib/cmdb-agent from this file: /usr/lib/cmdb-agent once installed, and the same
# place inside an unpacked package (dpkg-deb -x), which the tests and the bench run
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib", "cmdb-agent"))
from cmdb.agent.cli import main  # noqa: E402

sys.exit(main())
PY
chmod 0755 "$PKG/usr/bin/cmdb-agent"

install -D -m 0644 "$ROOT/deploy/systemd/cmdb-agent.service" "$PKG/lib/systemd/system/cmdb-agent.service"
install -D -m 0644 "$ROOT/deploy/systemd/cmdb-agent.timer" "$PKG/lib/systemd/system/cmdb-agent.timer"
install -D -m 0644 "$ROOT/docs/deployment.md" "$PKG/usr/share/doc/cmdb-agent/deployment.md"
install -d -m 0755 "$PKG/etc/cmdb-agent"
cat > "$PKG/etc/cmdb-agent/agent.env" <<'ENV'
# the cmdb server this host reports to (http:// or https://)
CMDB_SERVER=
# a private CA's certificate, when the server's is not in the system store
#CMDB_CAFILE=/etc/cmdb-agent/ca.pem
ENV
chmod 0644 "$PKG/etc/cmdb-agent/agent.env"

install -d "$PKG/DEBIAN"
SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
cat > "$PKG/DEBIAN/control" <<CTRL
Package: cmdb-agent
Version: $VERSION
Architecture: all
Maintainer: cmdb maintainers <cmdb@localhost>
Depends: python3 (>= 3.11), python3-psutil (>= 5.9), python3-netifaces
Section: admin
Priority: optional
Installed-Size: $SIZE
Description: cmdb host agent
 Collects this host's facts (system, OS, hardware, interfaces, addresses, packages,
 listening sockets, connections) and sends them to a cmdb server, spooling reports
 while the server is away. Runs hourly from a systemd timer, sandboxed.
CTRL
echo "/etc/cmdb-agent/agent.env" > "$PKG/DEBIAN/conffiles"
cat > "$PKG/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    python3 -m compileall -q /usr/lib/cmdb-agent >/dev/null || true
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        # the timer runs the service hourly; the service is skipped until the token exists
        systemctl enable --now cmdb-agent.timer || true
    fi
fi
exit 0
SH
cat > "$PKG/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    systemctl disable --now cmdb-agent.timer || true
fi
find /usr/lib/cmdb-agent -name __pycache__ -type d -prune -exec rm -rf {} + || true
exit 0
SH
cat > "$PKG/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
    # the spool and the delta state (DynamicUser keeps them under /var/lib/private)
    rm -rf /var/lib/private/cmdb-agent /var/lib/cmdb-agent
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
SH
chmod 0755 "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/prerm" "$PKG/DEBIAN/postrm"

mkdir -p "$OUT"
DEB=$OUT/cmdb-agent_${VERSION}_all.deb
dpkg-deb --root-owner-group --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
