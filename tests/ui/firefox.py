"""A small WebDriver BiDi client for Debian's ``firefox-esr`` (tests only).

Playwright's Firefox is a patched build that cannot be downloaded here; stock Firefox
speaks W3C WebDriver BiDi itself (``--remote-debugging-port``), so the browser tests drive
it directly: one websocket to ``ws://127.0.0.1:PORT/session``, JSON commands
(``session.new``, ``browsingContext.*``, ``script.*``, ``input.performActions``) and events
(``log.entryAdded`` collects the page's JavaScript errors).

The API is synchronous, like Playwright's sync API the Chromium tests use: an asyncio loop
runs the websocket in a thread of its own and every call waits for its answer.

Firefox starts with a fresh profile whose prefs keep it off the network: updates,
telemetry, safe browsing, remote settings and captive-portal probes are off, and every
non-loopback request goes to a dead proxy (127.0.0.1:1), so a stray fetch fails instead of
leaving the machine. Loopback addresses are never proxied (Firefox's default).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

# prefs written to the fresh profile's user.js (Firefox's remote agent adds its own
# "recommended" set, remote.prefs.recommended, on top)
OFFLINE_PREFS: dict[str, Any] = {
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.newtabpage.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.search.update": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.server": "",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "services.settings.server": "http://127.0.0.1:1/",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "network.trr.mode": 5,
    "media.gmp-manager.url": "",
    "geo.provider.network.url": "",
    # everything but loopback through a proxy that is not there
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 1,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 1,
    "network.proxy.allow_hijacking_localhost": False,
}
# layout.css.prefers-color-scheme.content-override: what pages see as the user's
# preference (0 dark, 1 light); BiDi has no colour-scheme emulation (Firefox 153)
COLOR_SCHEME_PREF = "layout.css.prefers-color-scheme.content-override"
COLOR_SCHEMES = {"dark": 0, "light": 1}
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")


class BiDiError(RuntimeError):
    """A command the browser answered with an error (``error``, ``message``), or a script
    that threw."""


class _Connection:
    """The websocket, its loop thread, and the pending commands by id."""

    def __init__(self, url: str, timeout: float) -> None:
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.pending: dict[int, asyncio.Future] = {}
        self.events: list[dict] = []
        self.next_id = 0
        self._run(self._open(url))

    def _run(self, coro, timeout: float | None = None):
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout if timeout is not None else self.timeout + 5)

    async def _open(self, url: str) -> None:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(url, max_msg_size=64 * 1024 * 1024)
        self.reader = self.loop.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            future = self.pending.pop(data.get("id"), None) if "id" in data else None
            if future is not None and not future.done():
                future.set_result(data)
            elif data.get("type") == "event":
                self.events.append(data)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(BiDiError("the browser closed the connection"))

    async def _send(self, method: str, params: dict, timeout: float) -> dict:
        self.next_id += 1
        ident = self.next_id
        future = self.loop.create_future()
        self.pending[ident] = future
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(ident, None)

    def send(self, method: str, params: dict, timeout: float | None = None) -> dict:
        wait = timeout if timeout is not None else self.timeout
        answer = self._run(self._send(method, params, wait), wait + 5)
        if answer.get("type") == "error":
            raise BiDiError(f"{method}: {answer.get('error')}: {answer.get('message')}")
        return answer["result"]

    def close(self) -> None:
        async def shut() -> None:
            await self.ws.close()
            await self.http.close()

        try:
            self._run(shut(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def deserialize(value: dict) -> Any:
    """A BiDi ``RemoteValue`` as Python: primitives, arrays, objects and maps (nodes and
    other references come back as their ``{"type": ..., "sharedId": ...}`` dict)."""
    kind = value.get("type")
    if kind in ("undefined", "null"):
        return None
    if kind in ("string", "boolean"):
        return value["value"]
    if kind == "number":
        number = value["value"]
        if isinstance(number, str):  # NaN, -0, Infinity, -Infinity
            return float(number.replace("Infinity", "inf"))
        return number
    if kind == "bigint":
        return int(value["value"])
    if kind in ("array", "set"):
        return [deserialize(v) for v in value.get("value", [])]
    if kind in ("object", "map"):
        out = {}
        for key, item in value.get("value", []):
            out[key if isinstance(key, str) else str(deserialize(key))] = deserialize(item)
        return out
    return value


def serialize(value: Any) -> dict:
    """A Python argument as a BiDi ``LocalValue`` (JSON-like values only)."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int | float):
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, list | tuple):
        return {"type": "array", "value": [serialize(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "object", "value": [[str(k), serialize(v)] for k, v in value.items()]}
    raise TypeError(f"cannot pass {type(value).__name__} to the page")


class Tab:
    """One top-level browsing context (a tab): navigate, run script, type and click."""

    def __init__(self, browser: Firefox, context: str) -> None:
        self.browser = browser
        self.context = context

    # --- navigation -----------------------------------------------------------------
    def goto(self, url: str) -> None:
        """Load ``url`` and wait until its document and sub-resources have loaded."""
        self.browser.send(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    @property
    def url(self) -> str:
        return self.evaluate("location.href")

    def wait_for_url(self, pattern: str, timeout: float = 20) -> str:
        """Wait until the tab's URL matches the regular expression ``pattern`` and its
        document has loaded (after a click that navigates)."""
        return self.wait_for(
            "document.readyState === 'complete' && new RegExp(arguments[0]).test(location.href)"
            " ? location.href : null",
            pattern,
            timeout=timeout,
        )

    # --- script ---------------------------------------------------------------------
    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.browser.send(
            "script.evaluate",
            {
                "expression": expression,
                "target": {"context": self.context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
        )
        return self._value(result)

    def call(self, function: str, *args: Any) -> Any:
        """Call a JavaScript function declaration with JSON-like ``args``."""
        result = self.browser.send(
            "script.callFunction",
            {
                "functionDeclaration": function,
                "arguments": [serialize(a) for a in args],
                "target": {"context": self.context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
        )
        return self._value(result)

    def wait_for(self, expression: str, *args: Any, timeout: float = 20) -> Any:
        """Poll a JavaScript expression (``arguments[i]`` are ``args``) until it is truthy;
        its value. Errors while the page is between documents are retried."""
        function = f"function () {{ return ({expression}); }}"
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = self.call(function, *args)
                if value:
                    return value
            except BiDiError as exc:  # navigation in progress: the realm went away
                last = exc
            time.sleep(0.1)
        raise TimeoutError(f"{expression!r} stayed falsy for {timeout} s (last error: {last})")

    @staticmethod
    def _value(result: dict) -> Any:
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BiDiError(f"script threw: {details.get('text')}")
        return deserialize(result["result"])

    # --- input (real key and pointer events, as a user's) ---------------------------
    def _element(self, selector: str) -> dict:
        nodes = self.browser.send(
            "browsingContext.locateNodes",
            {"context": self.context, "locator": {"type": "css", "value": selector}},
        )["nodes"]
        if not nodes:
            raise BiDiError(f"no element matches {selector!r}")
        return {"sharedId": nodes[0]["sharedId"]}

    def click(self, selector: str) -> None:
        """A left click in the middle of the first element matching ``selector``."""
        self.call(
            "function (s) { document.querySelector(s).scrollIntoView({block: 'center'}); }",
            selector,
        )
        origin = {"type": "element", "element": self._element(selector)}
        self._pointer_click(origin, 0, 0)

    def click_at(self, x: float, y: float) -> None:
        """A left click at viewport coordinates (CSS pixels)."""
        self._pointer_click("viewport", round(x), round(y))

    def _pointer_click(self, origin: Any, x: int, y: int) -> None:
        self.browser.send(
            "input.performActions",
            {
                "context": self.context,
                "actions": [
                    {
                        "type": "pointer",
                        "id": "mouse",
                        "parameters": {"pointerType": "mouse"},
                        "actions": [
                            {"type": "pointerMove", "x": x, "y": y, "origin": origin},
                            {"type": "pointerDown", "button": 0},
                            {"type": "pointerUp", "button": 0},
                        ],
                    }
                ],
            },
        )

    def fill(self, selector: str, text: str) -> None:
        """Focus the field, clear it and type ``text`` key by key."""
        self.call(
            "function (s) { var e = document.querySelector(s); e.focus();"
            " if (e.select) e.select(); }",
            selector,
        )
        self.press("\ue003")  # Backspace: clears the selection
        self.press(*text)

    def press(self, *keys: str) -> None:
        """Key presses in order (one character each; WebDriver codes such as ``\\ue007``
        for Enter)."""
        actions = []
        for key in keys:
            actions += [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]
        self.browser.send(
            "input.performActions",
            {
                "context": self.context,
                "actions": [{"type": "key", "id": "keyboard", "actions": actions}],
            },
        )

    def screenshot(self, path: Path) -> None:
        """The viewport as a PNG file."""
        data = self.browser.send("browsingContext.captureScreenshot", {"context": self.context})
        Path(path).write_bytes(base64.b64decode(data["data"]))

    def set_viewport(self, width: int, height: int) -> None:
        self.browser.send(
            "browsingContext.setViewport",
            {"context": self.context, "viewport": {"width": width, "height": height}},
        )


ENTER = "\ue007"


class Firefox:
    """A headless Firefox and its BiDi session (``launch`` makes one)."""

    def __init__(self, process: subprocess.Popen, profile: Path, url: str, timeout: float):
        self.process = process
        self.profile = profile
        self.connection = _Connection(url, timeout)
        caps = self.send("session.new", {"capabilities": {"alwaysMatch": {}}})["capabilities"]
        self.version = caps.get("browserVersion", "")
        self.send("session.subscribe", {"events": ["log.entryAdded"]})

    def send(self, method: str, params: dict, timeout: float | None = None) -> dict:
        """One BiDi command's ``result``; BiDiError when the browser answers an error."""
        return self.connection.send(method, params, timeout)

    def new_tab(self, width: int = 1366, height: int = 800) -> Tab:
        """A fresh tab in its own user context (no cookies or storage shared with other
        tabs: a new "incognito" user each time)."""
        user_context = self.send("browser.createUserContext", {})["userContext"]
        context = self.send("browsingContext.create", {"type": "tab", "userContext": user_context})[
            "context"
        ]
        tab = Tab(self, context)
        tab.set_viewport(width, height)
        return tab

    def close_tab(self, tab: Tab) -> None:
        self.send("browsingContext.close", {"context": tab.context})

    def script_errors(self) -> list[str]:
        """JavaScript errors the pages logged so far (uncaught exceptions and
        ``console.error``), as text."""
        return [
            str(e["params"].get("text"))
            for e in list(self.connection.events)
            if e.get("method") == "log.entryAdded" and e["params"].get("level") == "error"
        ]

    def close(self) -> None:
        try:
            try:
                self.send("session.end", {}, timeout=5)
            except (BiDiError, TimeoutError, OSError):
                pass
            self.connection.close()
        finally:
            _stop(self.process)
            shutil.rmtree(self.profile, ignore_errors=True)


def _stop(process: subprocess.Popen) -> None:
    # Firefox runs content processes in its own process group (start_new_session below)
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        except ProcessLookupError:
            pass


@contextmanager
def launch(
    binary: str = "firefox-esr",
    color_scheme: str | None = None,
    timeout: float = 30,
    log_path: Path | None = None,
) -> Iterator[Firefox]:
    """A headless Firefox on a fresh profile, its BiDi port chosen by the system (port 0,
    read back from its stderr); closed and its profile removed on exit. ``color_scheme``
    ("dark" or "light") is what pages see as ``prefers-color-scheme``."""
    profile = Path(tempfile.mkdtemp(prefix="cmdb-firefox-"))
    prefs = dict(OFFLINE_PREFS)
    if color_scheme is not None:
        prefs[COLOR_SCHEME_PREF] = COLOR_SCHEMES[color_scheme]
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())
    )
    process = subprocess.Popen(
        [binary, "--headless", "--remote-debugging-port=0", "--profile", str(profile)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1"},
    )
    log = open(log_path or os.devnull, "w")  # noqa: SIM115 - closed below
    url: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        # Firefox says where it listens on stderr; the rest of stderr goes to the log
        for line in process.stderr:
            log.write(line)
            log.flush()
            match = LISTENING.search(line)
            if match and not url:
                url.append(match.group(1) + "/session")
                ready.set()
        ready.set()

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    browser = None
    try:
        if not ready.wait(timeout) or not url:
            raise RuntimeError(
                f"{binary} did not open its WebDriver BiDi port within {timeout} s "
                f"(exit code {process.poll()})"
            )
        browser = Firefox(process, profile, url[0], timeout)
        yield browser
    finally:
        if browser is not None:
            browser.close()
        else:
            _stop(process)
            shutil.rmtree(profile, ignore_errors=True)
        drainer.join(10)
        log.close()
