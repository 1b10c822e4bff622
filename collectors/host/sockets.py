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
