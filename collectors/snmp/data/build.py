"""Regenerate the vendor data files shipped with the SNMP collectors.

    python -m cmdb.collectors.snmp.data.build [ENTERPRISES_TSV] [OUI_TXT]

* ``enterprises.tsv.gz``: IANA private enterprise number -> organisation, from
  Wireshark's ``enterprises.tsv`` (Debian ``libwireshark-data``).
* ``oui.tsv.gz``: IEEE MA-L prefix (6 hex digits, upper case) -> organisation,
  from ``oui.txt`` (Debian ``ieee-data``).

Both are plain ``key<TAB>value`` lines sorted by key, gzip'd with a fixed
mtime so a rebuild from the same input gives the same bytes.
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENTERPRISES_SRC = Path("/usr/share/wireshark/enterprises.tsv")
OUI_SRC = Path("/usr/share/ieee-data/oui.txt")

_URL_SUFFIX = re.compile(r"\s*\((?:https?://|www\.)[^)]*\)\s*$")
_OUI_LINE = re.compile(r"^([0-9A-Fa-f]{2})-([0-9A-Fa-f]{2})-([0-9A-Fa-f]{2})\s+\(hex\)\s+(.*)$")


def _clean(name: str) -> str:
    name = re.split(r"\s#\s", name, maxsplit=1)[0]  # drops "\t# formerly ..." remarks
    return " ".join(_URL_SUFFIX.sub("", name).replace("\t", " ").split())


def parse_enterprises(text: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        num, _, name = line.partition("\t")
        if not num.strip().isdigit():
            continue
        name = _clean(name)
        if name:
            out[int(num)] = name
    return out


def parse_oui(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _OUI_LINE.match(line.strip())
        if m:
            name = _clean(m.group(4))
            if name:
                out["".join(m.group(1, 2, 3)).upper()] = name
    return out


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    body = "".join(f"{k}\t{v}\n" for k, v in rows).encode()
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(body)


def main(argv: list[str]) -> int:
    ent_src = Path(argv[0]) if argv else ENTERPRISES_SRC
    oui_src = Path(argv[1]) if len(argv) > 1 else OUI_SRC
    ents = parse_enterprises(ent_src.read_text(encoding="utf-8", errors="replace"))
    _write(HERE / "enterprises.tsv.gz", [(str(k), v) for k, v in sorted(ents.items())])
    ouis = parse_oui(oui_src.read_text(encoding="utf-8", errors="replace"))
    _write(HERE / "oui.tsv.gz", sorted(ouis.items()))
    print(f"{len(ents)} enterprises, {len(ouis)} OUIs written to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
