"""The agent's report sequence: a persisted integer that only ever grows.

The server orders an agent's reports by this number and its own receive time, never by
the host's clock. Each number is ``max(last + 1, now in milliseconds)``: it grows by
at least one per report whatever the clock does (a CMOS reset to 2001 cannot make it
go back), and an agent whose state directory was wiped starts again above every number
it handed out before, as long as its clock is not behind the time it last ran.

The file holds a fixed-width number and is overwritten in place, so that it can still
be advanced on a full disk (rewriting allocated blocks needs no new ones).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path

from cmdb.agent.files import FILE_MODE, disk_problem, private_dir, write_private

log = logging.getLogger("cmdb.agent.sequence")

WIDTH = 20


class Sequence:
    """The counter, and the id of this agent install (``instance``): the server compares
    sequence numbers only within one instance, so a wiped state directory (a new
    instance) can never make a host's reports look old."""

    def __init__(self, state_dir: str | Path, clock=time.time) -> None:
        self.path = private_dir(state_dir) / "sequence"
        self.clock = clock
        self.last = self._read()
        self.instance = self._instance(private_dir(state_dir) / "instance")

    @staticmethod
    def _instance(path: Path) -> str:
        try:
            text = path.read_text(encoding="ascii").strip()
            if text:
                return text
        except (OSError, ValueError):
            pass
        value = uuid.uuid4().hex
        try:
            write_private(path, (value + "\n").encode())
        except OSError as exc:  # a full disk: this run's reports still carry one instance
            log.warning("cannot persist the agent instance id: %s", disk_problem(exc))
        return value

    def _read(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s (%s); starting from the clock", self.path, exc)
            return 0
        if text.isdigit():
            return int(text)
        log.warning("%s holds %r, not a number; starting from the clock", self.path, text[:40])
        return 0

    def next(self) -> int:
        """The next number, persisted before it is returned when the disk allows."""
        value = max(self.last + 1, int(self.clock() * 1000))
        self.last = value
        self._write(value)
        return value

    def _write(self, value: int) -> None:
        data = f"{value:0{WIDTH}d}\n".encode()
        try:
            fd = os.open(self.path, os.O_WRONLY)
        except FileNotFoundError:
            fd = None
        except OSError as exc:
            log.warning("cannot persist the report sequence: %s", disk_problem(exc))
            return
        try:
            if fd is None:
                write_private(self.path, data)
                return
            try:
                os.fchmod(fd, FILE_MODE)
                if os.pwrite(fd, data, 0) == len(data):
                    os.ftruncate(fd, len(data))
                    os.fsync(fd)
                    return
            finally:
                os.close(fd)
            write_private(self.path, data)
        except OSError as exc:
            # the in-memory value still grows; the next run starts from the clock
            log.warning("cannot persist the report sequence: %s", disk_problem(exc))
