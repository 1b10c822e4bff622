"""``python -m cmdb.collectors.host [--sections a,b] [--indent N]``: print one JSON report."""

from __future__ import annotations

import argparse
import sys

from cmdb.collectors.host import collect_report
from cmdb.collectors.model import HOST_SECTIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cmdb.collectors.host", description=__doc__)
    parser.add_argument(
        "--sections",
        help=f"comma-separated subset of: {','.join(HOST_SECTIONS)} (default: all)",
    )
    parser.add_argument("--indent", type=int, default=None, help="pretty-print with N spaces")
    args = parser.parse_args(argv)
    sections = args.sections.split(",") if args.sections else None
    try:
        report = collect_report(sections)
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write(report.dumps(indent=args.indent))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
