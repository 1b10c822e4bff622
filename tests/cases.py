"""Replay the real-world failure cases of ``tests/fixtures/cases`` (copied from the shared
case collection; its README gives every case's right answer).

A host case is a folder of reports sent in file-name order. Their ``collected_at`` is a
placeholder: ``load_case`` gives them consecutive times just before now (one minute
apart), except where ``keep_times`` is set (the clock-skew case, whose times are the point).
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CASES = Path(__file__).resolve().parent / "fixtures" / "cases"


def case_files(kind: str, name: str) -> list[Path]:
    """The report files of one case, in the order they are sent."""
    folder = CASES / kind / name
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".json", ".json.gz")))
    if not files:
        raise FileNotFoundError(f"case {kind}/{name} has no report files in {folder}")
    return files


def read_report(path: Path) -> dict[str, Any]:
    if path.name.endswith(".gz"):
        return json.loads(gzip.decompress(path.read_bytes()))
    return json.loads(path.read_text())


def stamp(index: int, count: int, step: timedelta = timedelta(minutes=1)) -> str:
    """The ``index``-th of ``count`` consecutive times ending one step before now (UTC)."""
    at = datetime.now(UTC) - step * (count - index)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_case(name: str, kind: str = "host", keep_times: bool = False) -> dict[str, dict]:
    """File stem -> report, in send order (dicts keep insertion order)."""
    files = case_files(kind, name)
    reports: dict[str, dict] = {}
    for index, path in enumerate(files):
        report = read_report(path)
        if not keep_times:
            report["collected_at"] = stamp(index, len(files))
        reports[path.name.split(".")[0]] = report
    return reports


async def replay(ingestor: Any, reports: dict[str, dict]) -> dict[str, dict]:
    """Send every report through ``ingestor.ingest`` in order; file stem -> answer."""
    return {stem: await ingestor.ingest(report) for stem, report in reports.items()}
