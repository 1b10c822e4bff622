"""Simulated SNMP devices on loopback addresses, for tests and benchmarks.

Two kinds of agent:

* ``snmpsim-command-responder`` serving recordings of real devices from the
  ``snmpsim_data`` package, one device per loopback address (127.0.1.X:1161),
  community ``public``. Recordings are decompressed once into a persistent cache
  (``.cache/snmpsim`` under the repository) and snmpsim's own indexes are kept
  there too, so only the first start pays for indexing.
* Debian ``snmpd`` as a live SNMPv3 authPriv agent (SHA-256 + AES) on
  127.0.0.20:1162 with a user created from its configuration file.

* the real-world failure cases of ``tests/fixtures/cases/snmp`` (one
  ``CASE/DEVICE/public.snmprec`` per device), each device on its own address
  127.0.2.X:1161 (``case_devices``, ``start_cases``), with the cases' own
  variation modules (``varmods/``) beside snmpsim's (``delay``).

Every address is on 127.0.0.0/8; nothing here ever talks to another network.
Address blocks: 127.0.1.X test recordings, 127.0.2.X failure cases, 127.0.5.X
the benchmark sweep, 127.0.0.20 snmpd.

Usage from a shell::

    python -m deploy.snmpsim.simulator start [test|sweep|cases]   # serve, Ctrl-C stops
    python -m deploy.snmpsim.simulator snmpd
"""

from __future__ import annotations

import bz2
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_ROOT = Path(os.environ.get("SNMPSIM_CACHE", REPO / ".cache" / "snmpsim"))
SIM_PORT = 1161
COMMUNITY = "public"

# Short name -> recording path under snmpsim_data/data. Chosen for what they
# carry: ENTITY-MIB chassis rows, LLDP and CDP neighbours, bridge FDB.
RECORDINGS: dict[str, str] = {
    "cisco-c3750": "network/switch/cisco-c3750",  # ENTITY, CDP, FDB
    "cisco-n5000": "network/switch/cisco-n5000-uk9",  # ENTITY, LLDP, CDP
    "arista-7150s": "cloud/arista-dcs-7150s-52-cl",  # ENTITY, LLDP, FDB
    "hpe-procurve": "network/switch/hpe-procurve-516733-b21",  # ENTITY, LLDP, CDP, FDB
    "paloalto-pa5000": "network/firewall/paloalto-pa-5000",  # ENTITY
    "juniper-mx960": "network/router/juniper-mx960-13-3r9-13",  # LLDP, FDB
    "h3c-e528": "network/switch/h3c-e528-2",  # ENTITY, LLDP
    "huawei-s5720": "network/router/huawei-s5720",  # ENTITY, FDB
}

# The devices the test-suite uses: address -> recording short name.
TEST_DEVICES: dict[str, str] = {f"127.0.1.{i}": name for i, name in enumerate(RECORDINGS, start=1)}


# The failure cases (recordings kept in the repository, one folder per case).
CASES_ROOT = REPO / "tests" / "fixtures" / "cases" / "snmp"
CASES_BASE = "127.0.2."
SWEEP_BASE = "127.0.5."


def sweep_devices(count: int = 50, base: str = SWEEP_BASE) -> dict[str, str]:
    """``count`` simulated devices on ``base``1.. cycling through the recordings."""
    names = list(RECORDINGS)
    return {f"{base}{i}": names[(i - 1) % len(names)] for i in range(1, count + 1)}


@dataclass(frozen=True)
class V3Agent:
    host: str = "127.0.0.20"
    port: int = 1162
    user: str = "cmdbtest"
    auth_protocol: str = "SHA-256"
    auth_password: str = "authpass-cmdb-1"
    priv_protocol: str = "AES"
    priv_password: str = "privpass-cmdb-1"
    sys_name: str = "cmdb-snmpd-v3"


# ------------------------------------------------------------------ helpers
def data_dir() -> Path:
    import snmpsim_data

    return Path(snmpsim_data.__file__).resolve().parent / "data"


def responder_path() -> str:
    exe = Path(sys.executable).parent / "snmpsim-command-responder"
    return str(exe) if exe.exists() else "snmpsim-command-responder"


def recording_file(name: str, cache_root: Path = CACHE_ROOT) -> Path:
    """Decompress one recording into the cache (once) and return its path."""
    # recordings/<name>/public.snmprec sits at the same depth as
    # datadirs/<address>/public.snmprec: snmpsim names a linked file by the
    # resolved path's components below the data dir's depth.
    out = cache_root / "recordings" / name / f"{COMMUNITY}.snmprec"
    if out.exists():
        return out
    src = data_dir() / f"{RECORDINGS[name]}.snmprec.bz2"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with bz2.open(src, "rb") as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    tmp.replace(out)
    return out


def prepare(devices: Mapping[str, str], cache_root: Path = CACHE_ROOT) -> dict[str, Path]:
    """One data dir per recording holding ``public.snmprec`` -> the recording.

    The file is a symlink: snmpsim resolves links before naming its index, so
    the index lives once in the cache whatever the data dir.
    Returns {recording short name: data dir}.
    """
    dirs: dict[str, Path] = {}
    for name in sorted(set(devices.values())):
        target = recording_file(name, cache_root)
        d = cache_root / "datadirs" / name
        d.mkdir(parents=True, exist_ok=True)
        link = d / f"{COMMUNITY}.snmprec"
        if not (link.is_symlink() and Path(os.readlink(link)) == target):
            if link.exists() or link.is_symlink():
                link.unlink()
            link.symlink_to(target)
        dirs[name] = d
    return dirs


def _probe_packet(community: str = COMMUNITY, request_id: int = 0x4242) -> bytes:
    """A minimal SNMPv2c GET of sysObjectID.0, hand-encoded (BER)."""

    def tlv(tag: int, body: bytes) -> bytes:
        assert len(body) < 128
        return bytes([tag, len(body)]) + body

    oid = bytes([0x2B, 6, 1, 2, 1, 1, 2, 0])  # 1.3.6.1.2.1.1.2.0
    varbind = tlv(0x30, tlv(0x06, oid) + b"\x05\x00")
    rid = request_id.to_bytes(2, "big")
    pdu = tlv(0xA0, tlv(0x02, rid) + b"\x02\x01\x00" + b"\x02\x01\x00" + tlv(0x30, varbind))
    return tlv(0x30, b"\x02\x01\x01" + tlv(0x04, community.encode()) + pdu)


def answers(host: str, port: int = SIM_PORT, timeout: float = 0.5) -> bool:
    """Does an SNMPv2c agent answer a GET on (host, port)?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(_probe_packet(), (host, port))
            data, _ = s.recvfrom(65535)
        except OSError:
            return False
        return data[:1] == b"\x30"


def wait_until_answering(
    hosts: Iterable[str], port: int, deadline_s: float, proc: subprocess.Popen | None = None
) -> list[str]:
    """Poll until every host answers; return the ones that still do not."""
    pending = list(hosts)
    end = time.monotonic() + deadline_s
    while pending and time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            break
        pending = [h for h in pending if not answers(h, port)]
        if pending:
            time.sleep(0.5)
    return pending


# ------------------------------------------------------------------ snmpsim
@dataclass
class Simulator:
    devices: dict[str, str]  # address -> recording short name
    port: int
    proc: subprocess.Popen | None  # None when an already running one is reused
    log_path: Path | None = None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start_snmpsim(
    devices: Mapping[str, str],
    port: int = SIM_PORT,
    cache_root: Path = CACHE_ROOT,
    ready_timeout: float = 300.0,
    log_name: str = "responder",
) -> Simulator:
    """Serve each recording on its own address; reuse a simulator already answering."""
    devices = dict(devices)
    if all(answers(h, port) for h in devices):
        return Simulator(devices, port, None)
    dirs = prepare(devices, cache_root)
    # One engine per recording, listening on every address that serves it: a
    # data file is opened once however many addresses share it (snmpsim keeps
    # at most 31 files open and reopens on every miss).
    engines = [(d, [h for h, n in devices.items() if n == name]) for name, d in dirs.items()]
    return _run_responder(devices, engines, port, cache_root, ready_timeout, log_name)


def _run_responder(
    devices: dict[str, str],
    engines: list[tuple[Path, list[str]]],
    port: int,
    cache_root: Path,
    ready_timeout: float,
    log_name: str,
    variation_dirs: Iterable[Path] = (),
) -> Simulator:
    """One snmpsim process: each (data dir, addresses) is one engine; wait until all answer."""
    index_dir = cache_root / "index"
    index_dir.mkdir(parents=True, exist_ok=True)
    cmd = [responder_path(), f"--cache-dir={index_dir}", "--log-level=error"]
    cmd += [f"--variation-modules-dir={d}" for d in variation_dirs]
    for d, hosts in engines:
        cmd += ["--v3-engine-id", "auto", f"--data-dir={d}"]
        cmd += [f"--agent-udpv4-endpoint={h}:{port}" for h in hosts]
    log_path = cache_root / f"{log_name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    sim = Simulator(devices, port, proc, log_path)
    missing = wait_until_answering(devices, port, ready_timeout, proc)
    if missing:
        sim.stop()
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(
            f"snmpsim did not answer on {', '.join(missing)} within {ready_timeout:.0f} s "
            f"(exit code {proc.poll()}); log {log_path}:\n{tail}"
        )
    return sim


# ------------------------------------------------------------------ failure cases
@dataclass(frozen=True)
class CaseDevice:
    """One recorded device of a failure case: ``CASE/NAME/public.snmprec``."""

    case: str
    name: str  # the device's folder name
    address: str
    data_dir: Path

    @property
    def blocking(self) -> bool:
        """Does the recording use snmpsim's ``delay`` module? It sleeps inside the
        responder, so such a device gets a process of its own (it would stall the
        others)."""
        return ":delay|" in (self.data_dir / f"{COMMUNITY}.snmprec").read_text(errors="replace")


def case_devices(root: Path = CASES_ROOT, base: str = CASES_BASE) -> dict[str, CaseDevice]:
    """address -> CaseDevice for every ``CASE/NAME/public.snmprec`` under ``root``.

    Addresses are given in (case, device) name order from ``base``1, so a case
    that is added later moves the addresses after it: look devices up by name.
    """
    found = sorted(
        (p.parent.parent.name, p.parent.name, p.parent)
        for p in root.glob(f"*/*/{COMMUNITY}.snmprec")
    )
    if len(found) > 254:
        raise ValueError(f"{len(found)} case devices do not fit in {base}0/24")
    return {
        f"{base}{i}": CaseDevice(case, name, f"{base}{i}", d)
        for i, (case, name, d) in enumerate(found, start=1)
    }


def variation_dirs(root: Path = CASES_ROOT) -> list[Path]:
    """The cases' own variation modules, then snmpsim's (``delay``): naming a
    directory replaces snmpsim's default search path, so both are given."""
    import snmpsim

    dirs = [root / "varmods", Path(snmpsim.__file__).resolve().parent / "variation"]
    return [d for d in dirs if d.is_dir()]


@dataclass
class CaseSimulators:
    devices: dict[str, CaseDevice]  # address -> device
    port: int
    sims: list[Simulator]  # empty when already running ones are reused

    def addresses(self, case: str) -> dict[str, str]:
        """Device folder name -> address for one case."""
        found = {d.name: a for a, d in self.devices.items() if d.case == case}
        if not found:
            known = sorted({d.case for d in self.devices.values()})
            raise KeyError(f"no SNMP case {case!r}; known: {', '.join(known)}")
        return found

    def stop(self) -> None:
        for sim in self.sims:
            sim.stop()


def start_cases(
    root: Path = CASES_ROOT,
    port: int = SIM_PORT,
    cache_root: Path = CACHE_ROOT,
    ready_timeout: float = 120.0,
    base: str = CASES_BASE,
) -> CaseSimulators:
    """Serve every case device on its own address; reuse responders already answering.

    Devices whose recording sleeps (``delay``) get one process each; the rest
    share one process.
    """
    devices = case_devices(root, base)
    if not devices:
        raise FileNotFoundError(f"no */*/{COMMUNITY}.snmprec under {root}")
    if all(answers(a, port) for a in devices):
        return CaseSimulators(devices, port, [])
    groups: list[list[CaseDevice]] = [[d for d in devices.values() if not d.blocking]]
    groups += [[d] for d in devices.values() if d.blocking]
    sims: list[Simulator] = []
    try:
        for n, group in enumerate(g for g in groups if g):
            served = {d.address: f"{d.case}/{d.name}" for d in group}
            engines = [(d.data_dir, [d.address]) for d in group]
            sims.append(
                _run_responder(
                    served,
                    engines,
                    port,
                    cache_root,
                    ready_timeout,
                    f"cases-{n}",
                    variation_dirs(root),
                )
            )
    except BaseException:
        for sim in sims:
            sim.stop()
        raise
    return CaseSimulators(devices, port, sims)


# ------------------------------------------------------------------ snmpd (v3)
@dataclass
class Snmpd:
    agent: V3Agent
    proc: subprocess.Popen | None
    workdir: Path

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def snmpd_v3_answers(agent: V3Agent, timeout: float = 2.0) -> bool:
    cmd = [
        "snmpget",
        "-v3",
        "-l",
        "authPriv",
        "-u",
        agent.user,
        "-a",
        agent.auth_protocol,
        "-A",
        agent.auth_password,
        "-x",
        agent.priv_protocol,
        "-X",
        agent.priv_password,
        "-r",
        "0",
        "-t",
        "1",
        "-Oqv",
        f"udp:{agent.host}:{agent.port}",
        "1.3.6.1.2.1.1.5.0",
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 3)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and agent.sys_name in out.stdout


def start_snmpd(
    agent: V3Agent | None = None, cache_root: Path = CACHE_ROOT, ready_timeout: float = 30.0
) -> Snmpd:
    """Run Debian snmpd as an SNMPv3 authPriv agent; reuse one already answering."""
    agent = agent or V3Agent()
    workdir = cache_root / "snmpd"
    if snmpd_v3_answers(agent):
        return Snmpd(agent, None, workdir)
    persist = workdir / "persist"
    if persist.exists():  # a stale usmUser from another password would win
        shutil.rmtree(persist)
    persist.mkdir(parents=True)
    conf = workdir / "snmpd.conf"
    conf.write_text(
        f"createUser {agent.user} {agent.auth_protocol} {agent.auth_password} "
        f"{agent.priv_protocol} {agent.priv_password}\n"
        f"rouser {agent.user} priv\n"
        f"sysName {agent.sys_name}\n"
        "sysLocation loopback test rack\n"
        "sysContact cmdb tests\n"
    )
    snmpd = shutil.which("snmpd") or "/usr/sbin/snmpd"
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(persist))
    log = open(workdir / "snmpd.log", "wb")  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(
        [snmpd, "-f", "-Lo", "-C", "-c", str(conf), f"udp:{agent.host}:{agent.port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    log.close()
    end = time.monotonic() + ready_timeout
    while time.monotonic() < end and proc.poll() is None:
        if snmpd_v3_answers(agent):
            return Snmpd(agent, proc, workdir)
        time.sleep(0.3)
    d = Snmpd(agent, proc, workdir)
    d.stop()
    tail = (workdir / "snmpd.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"snmpd did not answer SNMPv3 on {agent.host}:{agent.port}:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    what = args[0] if args else "start"
    if what == "start":
        which = args[1] if len(args) > 1 else "test"
        if which == "cases":
            cases = start_cases()
            for address, d in cases.devices.items():
                print(f"  {address}:{cases.port} community={COMMUNITY} {d.case}/{d.name}")
            if not cases.sims:
                print("(already running; reused)")
                return 0
            try:
                cases.sims[0].proc.wait()  # type: ignore[union-attr]
            except KeyboardInterrupt:
                pass
            cases.stop()
            return 0
        devices = TEST_DEVICES if which == "test" else sweep_devices()
        t0 = time.monotonic()
        sim = start_snmpsim(devices, log_name=which)
        print(f"{len(devices)} devices answering after {time.monotonic() - t0:.1f} s")
        for host, name in devices.items():
            print(f"  {host}:{sim.port} community={COMMUNITY} {name}")
    elif what == "snmpd":
        d = start_snmpd()
        print(f"snmpd v3 on {d.agent.host}:{d.agent.port} user={d.agent.user}")
        sim = d  # type: ignore[assignment]
    else:
        print(__doc__)
        return 2
    if getattr(sim, "proc", None) is None:
        print("(already running; reused)")
        return 0
    try:
        sim.proc.wait()
    except KeyboardInterrupt:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
