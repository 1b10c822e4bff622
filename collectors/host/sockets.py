"""The kernel socket tables (/proc/net/tcp, tcp6, udp, udp6) and their owning processes.

Shared by ``listening`` and ``connections``. We read /proc directly rather than
``psutil.net_connections``: one pass gives the socket inode, and the owner is
found by mapping inodes to pids through /proc/<pid>/fd, stopping as soon as
every wanted inode is found. A socket whose owner is in another pid namespace
(or has exited) keeps pid None.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from dataclasses import dataclass

PROC = "/proc"
PROTOCOLS = ("tcp", "tcp6", "udp", "udp6")

# include/net/tcp_states.h
TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
    "0C": "NEW_SYN_RECV",
}


@dataclass(frozen=True, slots=True)
class RawSocket:
    protocol: str
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    state: str
    inode: int


def decode_endpoint(hexpair: str, byteorder: str = sys.byteorder) -> tuple[str, int]:
    """``0100007F:0016`` -> ("127.0.0.1", 22). The kernel prints each 32-bit word
    of the address in host byte order; the port is plain big-endian hex."""
    host, _, port = hexpair.partition(":")
    fmt = "<" if byteorder == "little" else ">"
    words = [int(host[i : i + 8], 16) for i in range(0, len(host), 8)]
    raw = struct.pack(f"{fmt}{len(words)}I", *words)
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port, 16)


def parse_table(protocol: str, text: str, byteorder: str = sys.byteorder) -> list[RawSocket]:
    """Rows of one /proc/net/<protocol> file."""
    result = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            local, lport = decode_endpoint(fields[1], byteorder)
            remote, rport = decode_endpoint(fields[2], byteorder)
            inode = int(fields[9])
        except (ValueError, OSError, struct.error):
            continue
        state = TCP_STATES.get(fields[3].upper(), fields[3])
        result.append(RawSocket(protocol, local, lport, remote, rport, state, inode))
    return result


def read_tables(proc: str = PROC, protocols: tuple[str, ...] = PROTOCOLS) -> list[RawSocket]:
    """Every socket of the given protocols; raises OSError if none of the files is readable."""
    result = []
    errors = []
    for protocol in protocols:
        try:
            with open(os.path.join(proc, "net", protocol), encoding="ascii") as f:
                result.extend(parse_table(protocol, f.read()))
        except FileNotFoundError:
            errors.append(protocol)  # e.g. IPv6 disabled: absent, not an error
    if len(errors) == len(protocols):
        raise FileNotFoundError(f"no socket table under {proc}/net")
    return result


@dataclass(frozen=True, slots=True)
class Owner:
    pid: int
    name: str | None
    exe: str | None


def find_owners(inodes: set[int], proc: str = PROC) -> dict[int, Owner]:
    """Owning process of each socket inode that a visible process holds open."""
    wanted = {f"socket:[{i}]": i for i in inodes if i}
    owners: dict[int, Owner] = {}
    if not wanted:
        return owners
    try:
        pids = [int(n) for n in os.listdir(proc) if n.isdigit()]
    except OSError:
        return owners
    for pid in sorted(pids):
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        found = []
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            inode = wanted.pop(target, None)
            if inode is not None:
                found.append(inode)
        if found:
            owner = _owner(pid, proc)
            for inode in found:
                owners[inode] = owner
            if not wanted:
                break
    return owners


def _owner(pid: int, proc: str) -> Owner:
    try:
        with open(f"{proc}/{pid}/comm", encoding="utf-8", errors="replace") as f:
            name: str | None = f.read().strip() or None
    except OSError:
        name = None
    try:
        exe: str | None = os.readlink(f"{proc}/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        exe = None
    return Owner(pid, name, exe)


# ---------------------------------------------------------------- aggregation
def _family(protocol: str) -> str:
    return protocol[:-1] if protocol.endswith("6") else protocol


def _sort_key(row: dict) -> tuple:
    return (
        row["protocol"],
        row["local_address"],
        -1 if row["local_port"] is None else row["local_port"],
        row["remote_address"],
        -1 if row["remote_port"] is None else row["remote_port"],
        row.get("process") or "",
        row.get("status") or "",
    )


def aggregate_connections(rows: list[dict], listening: list[dict] | None) -> list[dict]:
    """Report rows of connections grouped, each group with a ``count`` (pure).

    A busy host holds tens of thousands of connections that differ only in an ephemeral
    port, so the side that is ephemeral is dropped (None) and equal rows are counted:

    - outbound (the local port is not one this host listens on): grouped by process,
      local address, remote address, remote port, protocol and state; ``local_port``
      None. The remote port is the service this host depends on.
    - inbound (the local port is a listening port, as ``listening`` says, the same rule
      the server uses to skip the server halves of connections): grouped by process,
      local address and port, remote address, protocol and state; ``remote_port`` None.

    Without a ``listening`` section inbound cannot be told from outbound, so only rows
    equal in every field are merged. ``pid`` is kept when the whole group shares it.
    Rows that already carry a ``count`` add it. The result is sorted, so an unchanged
    host gives an unchanged section.
    """
    listens = (
        None
        if listening is None
        else {(_family(s["protocol"]), s["port"]) for s in listening if "port" in s}
    )
    groups: dict[tuple, dict] = {}
    for row in rows:
        protocol = row["protocol"]
        local_port, remote_port = row.get("local_port"), row.get("remote_port")
        if listens is not None:
            if (_family(protocol), local_port) in listens:
                remote_port = None
            else:
                local_port = None
        key = (
            protocol,
            row.get("local_address"),
            local_port,
            row.get("remote_address"),
            remote_port,
            row.get("process"),
            row.get("status"),
        )
        count = row.get("count") or 1
        group = groups.get(key)
        if group is None:
            groups[key] = {
                "protocol": protocol,
                "local_address": row.get("local_address"),
                "local_port": local_port,
                "remote_address": row.get("remote_address"),
                "remote_port": remote_port,
                "pid": row.get("pid"),
                "process": row.get("process"),
                "status": row.get("status"),
                "count": count,
            }
        else:
            group["count"] += count
            if group["pid"] != row.get("pid"):
                group["pid"] = None
    return sorted(groups.values(), key=_sort_key)
