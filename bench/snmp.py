"""SNMP collector benchmarks, side by side with net-snmp, on loopback simulators.

1. per device: ``collect_device`` (every MIB area) against ``snmpget`` of the
   system scalars plus one ``snmpbulkwalk`` per subtree the collector reads
   (same subtrees, same 50 var-binds per response), median of ``--runs``.
2. sweep: 250 loopback addresses, ``--devices`` of them served by snmpsim
   (127.0.5.1..; 127.0.2.X is the failure cases'), the rest silent;
   ``sweep()`` probes all and inventories those that answer, ``--concurrency``
   at a time.

    PYTHONPATH=. .venv/bin/python -m bench.snmp [--runs 5] [--devices 50]
        [--addresses 250] [--concurrency 64] [--json out.json] [--skip-sweep]

Measured on the shared 2-core dev machine (other jobs running, load ~2.5):

    device           ours ms  PDUs  net-snmp ms  ratio
    cisco-c3750        842     41      1777      0.47
    cisco-n5000       1451     89      1516      0.96
    arista-7150s      1030     91      1325      0.78
    hpe-procurve       605     53      1303      0.46
    paloalto-pa5000    355     28      1227      0.29
    juniper-mx960      303     33       842      0.36
    h3c-e528           225     31       681      0.33
    huawei-s5720       447     37       943      0.47
    total             5257              9615      0.55   (median of 3)

    sweep: 250 addresses, 50 simulated, concurrency 64, timeout 0.5 s x 2:
    26.5 s wall, 50 answered (50 complete), 200 timeouts, 1.89 devices/s

net-snmp's time includes one process start per subtree (about 50 per device);
ours reads a table's columns side by side in one GETBULK stream, so it sends
fewer PDUs. Both sides are bounded by snmpsim (pure Python) answering.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cmdb.collectors.snmp.inventory import SUBTREES, collect_device  # noqa: E402
from cmdb.collectors.snmp.session import Credential, open_session  # noqa: E402
from cmdb.collectors.snmp.sweep import sweep  # noqa: E402
from deploy.snmpsim import simulator  # noqa: E402

BUDGET = 50  # var-binds per GETBULK response, both sides


def netsnmp_inventory(host: str, port: int) -> tuple[float, int]:
    """Time net-snmp reading the same subtrees; returns (seconds, var-binds)."""
    target = f"{host}:{port}"
    base = ["-v2c", "-c", simulator.COMMUNITY, "-On", "-Oq", "-t", "3", "-r", "1"]
    t0 = time.perf_counter()
    lines = 0
    out = subprocess.run(
        ["snmpget", *base, target, *SUBTREES["system"]], capture_output=True, text=True
    )
    lines += out.stdout.count("\n")
    for section, subtrees in SUBTREES.items():
        if section == "system":
            continue
        for oid in subtrees:
            out = subprocess.run(
                ["snmpbulkwalk", *base, f"-Cr{BUDGET}", target, oid],
                capture_output=True,
                text=True,
            )
            lines += sum(1 for ln in out.stdout.splitlines() if ln.startswith("."))
    return time.perf_counter() - t0, lines


async def ours_inventory(host: str, port: int) -> tuple[float, int, int]:
    session = await open_session(host, port=port, timeout=3, retries=1, max_repetitions=BUDGET)
    t0 = time.perf_counter()
    inv = await collect_device(session)
    dt = time.perf_counter() - t0
    if inv.notes:
        raise RuntimeError(f"{host}: {inv.notes}")
    rows = sum(len(getattr(inv, s) or ()) for s in inv.delivered_sections if s != "system")
    return dt, inv.stats.requests, rows


async def per_device(runs: int) -> list[dict]:
    sim = simulator.start_snmpsim(simulator.TEST_DEVICES, log_name="test")
    out = []
    try:
        for host, name in simulator.TEST_DEVICES.items():
            await ours_inventory(host, sim.port)  # warm the agent's file handles
            netsnmp_inventory(host, sim.port)
            ours, theirs, reqs, rows, vbs = [], [], 0, 0, 0
            for _ in range(runs):
                dt, reqs, rows = await ours_inventory(host, sim.port)
                ours.append(dt)
                dt, vbs = netsnmp_inventory(host, sim.port)
                theirs.append(dt)
            row = {
                "device": name,
                "host": host,
                "ours_ms": round(statistics.median(ours) * 1000, 1),
                "netsnmp_ms": round(statistics.median(theirs) * 1000, 1),
                "requests": reqs,
                "records": rows,
                "netsnmp_varbinds": vbs,
            }
            row["ratio"] = round(row["ours_ms"] / row["netsnmp_ms"], 2)
            out.append(row)
            print(
                f"  {name:16} ours {row['ours_ms']:7.1f} ms ({reqs:3} PDUs)   "
                f"net-snmp {row['netsnmp_ms']:7.1f} ms ({vbs} var-binds)   "
                f"ratio {row['ratio']:.2f}",
                flush=True,
            )
    finally:
        sim.stop()
    return out


async def run_sweep(devices: int, addresses: int, concurrency: int) -> dict:
    served = simulator.sweep_devices(devices)
    t0 = time.perf_counter()
    sim = simulator.start_snmpsim(served, log_name="sweep")
    started_s = time.perf_counter() - t0
    try:
        hosts = [f"{simulator.SWEEP_BASE}{i}" for i in range(1, addresses + 1)]
        creds = [Credential("2c", community=simulator.COMMUNITY, name="public")]
        t0 = time.perf_counter()
        results = await sweep(
            hosts, creds, concurrency=concurrency, timeout=0.5, retries=1, port=sim.port
        )
        wall = time.perf_counter() - t0
    finally:
        sim.stop()
    status = Counter(r.status for r in results)
    complete = sum(1 for r in results if r.inventory is not None and r.inventory.complete)
    per_dev = sorted(r.duration_ms for r in results if r.status == "answered")
    row = {
        "addresses": addresses,
        "simulated_devices": devices,
        "concurrency": concurrency,
        "simulator_start_s": round(started_s, 1),
        "wall_s": round(wall, 1),
        "answered": status["answered"],
        "timeout": status["timeout"],
        "error": status["error"],
        "complete_inventories": complete,
        "devices_per_s": round(status["answered"] / wall, 2),
        "addresses_per_s": round(addresses / wall, 1),
        "median_device_ms_under_load": per_dev[len(per_dev) // 2] if per_dev else None,
    }
    print(
        f"  {addresses} addresses, {devices} simulated: {row['wall_s']} s, "
        f"{row['answered']} answered ({complete} complete), {row['timeout']} timeouts, "
        f"{row['devices_per_s']} devices/s",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--devices", type=int, default=50)
    p.add_argument("--addresses", type=int, default=250)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--skip-sweep", action="store_true")
    p.add_argument("--skip-devices", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    result: dict = {}
    if not args.skip_devices:
        print(f"per-device full inventory, median of {args.runs} (target ratio <= 1.5):")
        rows = asyncio.run(per_device(args.runs))
        ours = sum(r["ours_ms"] for r in rows)
        theirs = sum(r["netsnmp_ms"] for r in rows)
        result["per_device"] = rows
        result["total_ratio"] = round(ours / theirs, 2)
        print(f"  total ours {ours:.0f} ms, net-snmp {theirs:.0f} ms, ratio {ours / theirs:.2f}")
    if not args.skip_sweep:
        print("sweep (target < 60 s):")
        result["sweep"] = asyncio.run(run_sweep(args.devices, args.addresses, args.concurrency))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
