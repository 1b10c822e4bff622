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
from collections import namedtuple

from cmdb.collectors.host import _common

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


# One row of a kernel socket table: protocol (tcp, tcp6, udp, udp6), local_address,
# local_port, remote_address, remote_port (str, int), state (a TCP_STATES name, else the
# file's code), inode (int; 0 for a socket no file holds, e.g. TIME_WAIT). A named tuple,
# not a dataclass: a busy host has tens of thousands of rows, and these build fastest.
RawSocket = namedtuple(
    "RawSocket",
    ("protocol", "local_address", "local_port", "remote_address", "remote_port", "state", "inode"),
)


def decode_endpoint(hexpair: str, byteorder: str = sys.byteorder) -> tuple[str, int]:
    """``0100007F:0016`` -> ("127.0.0.1", 22). The kernel prints each 32-bit word
    of the address in host byte order; the port is plain big-endian hex."""
    host, _, port = hexpair.partition(":")
    return _decode_host(host, byteorder), int(port, 16)


def _decode_host(host: str, byteorder: str) -> str:
    fmt = "<" if byteorder == "little" else ">"
    words = [int(host[i : i + 8], 16) for i in range(0, len(host), 8)]
    raw = struct.pack(f"{fmt}{len(words)}I", *words)
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw)


def parse_table(
    protocol: str,
    text: str,
    byteorder: str = sys.byteorder,
    states: frozenset[str] | None = None,
) -> list[RawSocket]:
    """Rows of one /proc/net/<protocol> file; with ``states`` (the file's hex codes, e.g.
    "0A"), only rows in those states (the others are not decoded at all)."""
    result = []
    # a busy host has tens of thousands of rows on a few addresses: decode each once
    hosts: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        code = fields[3].upper()
        if states is not None and code not in states:
            continue
        try:
            local, lport = _endpoint(fields[1], byteorder, hosts)
            remote, rport = _endpoint(fields[2], byteorder, hosts)
            inode = int(fields[9])
        except (ValueError, OSError, struct.error):
            continue
        state = TCP_STATES.get(code, fields[3])
        result.append(RawSocket(protocol, local, lport, remote, rport, state, inode))
    return result


def _endpoint(hexpair: str, byteorder: str, hosts: dict[str, str]) -> tuple[str, int]:
    host, _, port = hexpair.partition(":")
    address = hosts.get(host)
    if address is None:
        address = hosts[host] = _decode_host(host, byteorder)
    return address, int(port, 16)


def _read_table(proc: str, protocol: str, states: frozenset[str] | None) -> list[RawSocket]:
    """One table's rows; FileNotFoundError when the kernel has no such table."""
    # binary, then decoded: /proc/net/* is ASCII, and this is faster than text mode
    with open(os.path.join(proc, "net", protocol), "rb") as f:
        return parse_table(protocol, f.read().decode("ascii"), states=states)


def read_tables(proc: str = PROC, protocols: tuple[str, ...] = PROTOCOLS) -> list[RawSocket]:
    """Every socket of the given protocols; raises OSError if none of the files is readable.

    Within one collection (``cmdb.collectors.host._common.collection``) the tables are
    read once for ``listening`` and ``connections`` together, keeping only the rows
    either can use (TCP in LISTEN or ESTABLISHED, all UDP): see :func:`shared_view`."""
    result = []
    errors = []
    for protocol in protocols:
        try:
            result.extend(_read_table(proc, protocol, None))
        except FileNotFoundError:
            errors.append(protocol)  # e.g. IPv6 disabled: absent, not an error
    if len(errors) == len(protocols):
        raise FileNotFoundError(f"no socket table under {proc}/net")
    return result


# the rows listening and connections use: TCP in LISTEN or ESTABLISHED; UDP in any state
_USED_STATES = {"tcp": frozenset({"0A", "01"}), "tcp6": frozenset({"0A", "01"})}


def is_listening(s: RawSocket) -> bool:
    """TCP in LISTEN, or UDP bound to a port and not connected."""
    if s.protocol.startswith("tcp"):
        return s.state == "LISTEN"
    return s.local_port != 0 and s.remote_port == 0


# ---------------------------------------------------------------- sock_diag
# The same rows from the kernel's sock_diag netlink interface (what ss(8) uses), asking
# only for the states we keep: /proc/net/tcp prints every socket of the hash tables,
# TIME_WAIT and all, as text, which costs the kernel ~10 ms on a host with a few hundred.
# The dump walks the same hash tables in the same order, so the rows come in file order.
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_DIAG = {
    # protocol: (family, IP protocol, states wanted: a bit per TCP_STATES code)
    "tcp": (socket.AF_INET, socket.IPPROTO_TCP, (1 << 0x0A) | (1 << 0x01)),
    "tcp6": (socket.AF_INET6, socket.IPPROTO_TCP, (1 << 0x0A) | (1 << 0x01)),
    "udp": (socket.AF_INET, socket.IPPROTO_UDP, 0xFFFFFFFF),
    "udp6": (socket.AF_INET6, socket.IPPROTO_UDP, 0xFFFFFFFF),
}
_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_PORTS = struct.Struct(">HH")  # inet_diag_sockid: sport, dport (big-endian)
_INODE = struct.Struct("=I")
_ERROR = struct.Struct("=i")  # struct nlmsgerr: a negative errno first
_STATE_NAMES = tuple(TCP_STATES.get(f"{code:02X}", f"{code:02X}") for code in range(256))
# struct inet_diag_msg offsets: family 0, state 1, sockid 4 (ports 4, src 8, dst 24),
# uid 64, inode 68; 72 bytes in all
_MSG_MIN = 72


def _diag_table(protocol: str) -> list[RawSocket]:
    """One table's rows in the states ``_view`` keeps, from sock_diag. OSError when the
    kernel does not answer (netlink not allowed, no udp_diag module): read /proc then."""
    family, ipproto, states = _DIAG[protocol]
    # struct inet_diag_req_v2: family, protocol, ext, pad, states, a zero inet_diag_sockid
    request = struct.pack("=BBBBI48x", family, ipproto, 0, 0, states)
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(request), _SOCK_DIAG_BY_FAMILY,
                            _NLM_F_REQUEST_DUMP, 1, 0)  # fmt: skip
    width = 4 if family == socket.AF_INET else 16
    hosts: dict[bytes, str] = {}
    rows = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as nl:
        nl.send(header + request)
        while True:
            data = nl.recv(1 << 16)
            if not data:
                raise OSError("sock_diag: the dump ended without NLMSG_DONE")
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind = _NLMSGHDR.unpack_from(data, offset)[:2]
                if kind == _NLMSG_DONE:
                    return rows
                if kind == _NLMSG_ERROR:
                    code = -_ERROR.unpack_from(data, offset + _NLMSGHDR.size)[0]
                    raise OSError(code, f"sock_diag {protocol}: {os.strerror(code)}")
                msg = offset + _NLMSGHDR.size
                if length < _NLMSGHDR.size + _MSG_MIN or kind != _SOCK_DIAG_BY_FAMILY:
                    raise OSError(f"sock_diag {protocol}: unexpected message type {kind}")
                sport, dport = _PORTS.unpack_from(data, msg + 4)
                src, dst = data[msg + 8 : msg + 8 + width], data[msg + 24 : msg + 24 + width]
                local, remote = hosts.get(src), hosts.get(dst)
                if local is None:
                    local = hosts[src] = socket.inet_ntop(family, src)
                if remote is None:
                    remote = hosts[dst] = socket.inet_ntop(family, dst)
                inode = _INODE.unpack_from(data, msg + 68)[0]
                rows.append(
                    RawSocket(
                        protocol, local, sport, remote, dport, _STATE_NAMES[data[msg + 1]], inode
                    )
                )
                offset += (length + 3) & ~3
    return rows  # pragma: no cover - the loop returns or raises


def _table(proc: str, protocol: str) -> list[RawSocket]:
    """The rows ``_view`` keeps of one table: from sock_diag when reading this host's
    /proc, else (or when netlink fails) from the file; FileNotFoundError when the kernel
    has no such table (IPv6 disabled: /proc/net/tcp6 is absent)."""
    if proc == PROC and os.path.exists(os.path.join(proc, "net", protocol)):
        try:
            return _diag_table(protocol)
        except OSError:
            pass
    return _read_table(proc, protocol, _USED_STATES.get(protocol))


def _view(proc: str) -> tuple[dict[str, list[RawSocket] | None], dict[int, Owner]]:
    tables: dict[str, list[RawSocket] | None] = {}
    for protocol in PROTOCOLS:
        try:
            tables[protocol] = _table(proc, protocol)
        except FileNotFoundError:
            tables[protocol] = None
    inodes = {
        s.inode
        for rows in tables.values()
        for s in rows or ()
        if is_listening(s) or (s.protocol.startswith("tcp") and s.state == "ESTABLISHED")
    }
    return tables, find_owners(inodes, proc)


def shared_view(
    protocols: tuple[str, ...], proc: str = PROC
) -> tuple[list[RawSocket], dict[int, Owner]]:
    """The sockets ``listening`` and ``connections`` look at (TCP in LISTEN or
    ESTABLISHED, all UDP) of ``protocols``, and the owners of those that either keeps.

    Within one collection the tables are read and the owners found once for both
    sections (reading /proc/net/tcp and every /proc/PID/fd link are most of their
    cost); outside one, each call reads afresh. Raises OSError like ``read_tables``."""
    tables, owners = _common.shared(("sockets", proc), lambda: _view(proc))
    missing = [p for p in protocols if tables[p] is None]
    if len(missing) == len(protocols):
        raise FileNotFoundError(f"no socket table under {proc}/net")
    return [s for p in protocols for s in tables[p] or ()], owners


# The process that holds a socket open: pid (int), name (comm) and exe (str or None).
Owner = namedtuple("Owner", ("pid", "name", "exe"))


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
    readlink = os.readlink
    for pid in sorted(pids):
        # every open file of every process is looked at (most of this section's cost):
        # each link is read relative to its open fd directory, not by a path from /
        try:
            dir_fd = os.open(f"{proc}/{pid}/fd", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        found = []
        try:
            for fd in os.listdir(dir_fd):
                try:
                    target = readlink(fd, dir_fd=dir_fd)
                except OSError:
                    continue
                inode = wanted.pop(target, None)
                if inode is not None:
                    found.append(inode)
        except OSError:
            continue
        finally:
            os.close(dir_fd)
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
