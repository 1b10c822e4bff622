"""Readable output for people, JSON for machines.

* ``emit_table(rows, headers, footer)``: aligned columns, long cells cut with "…".
* ``emit_text(data)`` / ``to_text(data)``: nested dicts and lists as indented YAML-like
  text (``key: value``, ``- item``): never a Python repr (``None``, ``False``, quotes) and
  never one long line of JSON. Scalars print as YAML would read them: ``null``,
  ``true``/``false``, numbers, strings bare (quoted only when empty or when they would
  read as something else).
* ``emit_json(data)``: indented JSON, the ``--json`` form every command offers.
* ``show(args, data)``: ``--json`` → JSON, else the YAML-like text.
* ``terminal_safe()``: while a command runs, control characters in what it prints (a
  name from a device or a person holding ESC sequences) are shown escaped, never obeyed.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TextIO

INDENT = "  "
_RESERVED = {"", "~", "null", "true", "false", "yes", "no", "on", "off"}
# a plain string that starts like YAML syntax, or holds ": " / " #", would be misread
_SYNTAX = re.compile(r"^[\-?:,\[\]{}#&*!|>'\"%@`]|: |\s#|^\s|\s$")


# C0 controls but newline and tab, DEL, C1 controls, and the bidirectional overrides and
# isolates (text that reads backwards: CVE-2021-42574): printed as \uXXXX, which is also
# what they mean inside a JSON string
_UNSAFE = {
    c: f"\\u{c:04x}"
    for c in (
        *(c for c in range(0x20) if c not in (0x09, 0x0A)),
        *range(0x7F, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    )
}


class _Escaping:
    """A text stream that writes through to ``stream`` with ``_UNSAFE`` characters escaped."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text.translate(_UNSAFE))

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, ...
        return getattr(self._stream, name)


@contextlib.contextmanager
def terminal_safe() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` escape control characters until the block ends:
    a CI's name is data (a device's sysName, a declaration), and ESC sequences in it must
    not clear the screen or recolour what follows in an engineer's terminal."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Escaping(out), _Escaping(err)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def scalar(value: Any) -> str:
    """One value as text: ``null``, ``true``, ``3``, a bare or JSON-quoted string."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    if text.lower() in _RESERVED or _SYNTAX.search(text) or "\n" in text or "\t" in text:
        return json.dumps(text, ensure_ascii=False)
    try:
        float(text)  # "12", "1e3", "nan": a number to a reader
    except ValueError:
        return text
    return json.dumps(text)


def _lines(value: Any, depth: int) -> list[str]:
    pad = INDENT * depth
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        out = []
        for key, item in value.items():
            head = f"{pad}{scalar(key)}:"
            if isinstance(item, Mapping | list | tuple) and item:
                out.append(head)
                out.extend(_lines(item, depth + 1))
            else:
                out.append(f"{head} {_inline(item)}")
        return out
    if isinstance(value, list | tuple):
        if not value:
            return [pad + "[]"]
        out = []
        for item in value:
            if isinstance(item, Mapping) and item:
                # "- first: x" then the other keys aligned under it, as YAML writes it
                inner = _lines(item, depth + 1)
                out.append(pad + "- " + inner[0][len(pad) + len(INDENT) :])
                out.extend(inner[1:])
            elif isinstance(item, list | tuple) and item:
                out.append(pad + "-")
                out.extend(_lines(item, depth + 1))
            else:
                out.append(f"{pad}- {_inline(item)}")
        return out
    return [pad + scalar(value)]


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return scalar(value)


def to_text(data: Any, depth: int = 0) -> str:
    """``data`` as indented YAML-like lines (no trailing newline), ``depth`` levels in."""
    return "\n".join(_lines(data, depth))


def emit_text(data: Any, depth: int = 0) -> None:
    print(to_text(data, depth))


def inline(value: Any) -> str:
    """A nested value on one line, for a table cell: ``{a: 1, b: [x, y]}`` (flow style)."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{scalar(k)}: {inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    return scalar(value)


def show(args: Any, data: Any) -> int:
    """The common ``show`` answer: ``--json`` gives JSON, otherwise indented text."""
    if getattr(args, "json", False):
        emit_json(data)
    else:
        emit_text(data)
    return 0


def _cell(value: Any, width: int = 60) -> str:
    if isinstance(value, Mapping | list | tuple):
        text = inline(value) if value else ""
    else:
        text = "" if value is None else (scalar(value) if isinstance(value, bool) else str(value))
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def counted(n: int, noun: str) -> str:
    """``1 CI``, ``2 CIs``, ``0 services``: a count and its noun, plural unless one."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def emit_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], footer: str = "") -> None:
    print(table(rows, headers))
    if footer:
        print(footer)
