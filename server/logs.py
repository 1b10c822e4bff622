"""Structured logs: one JSON object per line, with the request id of the request that
caused the line (``cmdb.server.api.requestid``), and an access log with fields.

The standard library's logging with a JSON formatter, not structlog: every module keeps
``logging.getLogger(...)`` and its messages, and nothing new is installed. A line is::

    {"ts": "2026-05-01T12:00:00.123Z", "level": "info", "logger": "cmdb.ingest",
     "msg": "report r1 from web1: applied {...}", "request_id": "5f0c…"}

plus any ``extra={...}`` fields a caller gives (the access log gives method, path,
status, duration_ms, remote, bytes, user_agent), and ``exc`` (the whole traceback as one
string) when an exception is logged, so a traceback is one line, never many.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from cmdb.server.api.requestid import REQUEST_ID_KEY, current_request_id

# attributes every LogRecord has: anything else on a record came from ``extra``
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """A LogRecord as one JSON line (fields above); values JSON cannot hold become text."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            line["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic text line, with the request id in brackets when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None) or current_request_id()
        return f"{text} [{request_id}]" if request_id else text


def configure_logging(level: str = "info", fmt: str = "auto", stream=None) -> None:
    """Send the root logger's lines to ``stream`` (stderr) as JSON or text.

    ``fmt``: ``json``, ``text`` or ``auto`` (JSON unless the stream is a terminal: the
    journal, a container runtime or a file gets JSON, a person at a terminal text)."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if getattr(stream, "isatty", lambda: False)() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


class AccessLogger(AbstractAccessLogger):
    """One line per answered request, with fields rather than a format string."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        try:
            request_id = request.get(REQUEST_ID_KEY)
        except Exception:  # noqa: BLE001 - a protocol-level error has no request mapping
            request_id = None
        self.logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round(time * 1000, 1),
                "remote": request.remote,
                "bytes": response.body_length,
                "user_agent": request.headers.get("User-Agent"),
                "request_id": request_id,
            },
        )
