"""A real headless Chromium driven over the Chrome DevTools Protocol, for
tests of the HTML report. The protocol runs over a pipe
(`--remote-debugging-pipe`: commands on fd 3, replies on fd 4, each message
JSON ending in a NUL byte), so there is no port to race for and no Python
dependency: the browser is Debian's `chromium` (the Makefile installs it).

Usage: `with Browser() as browser: page = browser.open(path)`; `page`
records every console message, uncaught exception and request of the load."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "chromium")


def chromium_path() -> str | None:
    return shutil.which(CHROMIUM)


class BrowserError(RuntimeError):
    pass


@dataclass
class PageLoad:
    """What happened while a page loaded: console messages by level, uncaught
    exceptions and every URL the page requested."""
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return self.exceptions + [text for level, text in self.console if level in ("error", "assert")] \
            + [f"request failed: {url}" for url in self.failed_requests]


class Browser:
    """One headless Chromium process with one page. Always closed (killed) on exit."""

    def __init__(self, width: int = 1400, height: int = 1000, timeout: float = 30.0):
        self.width, self.height, self.timeout = width, height, timeout
        self._next_id, self._buffer, self._events = 0, b"", []

    def __enter__(self) -> "Browser":
        executable = chromium_path()
        if executable is None:
            raise BrowserError(f"{CHROMIUM} not found: install it (make setup does: apt-get install chromium)")
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        commands_r, self._commands = os.pipe()
        self._replies, replies_w = os.pipe()

        def as_fds_3_and_4():  # in the child, before exec: the protocol's fixed descriptors
            high_r, high_w = os.dup(commands_r), os.dup(replies_w)  # above 4, so dup2 cannot clobber them
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self._process = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={self._profile}", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--mute-audio", "--hide-scrollbars", f"--window-size={self.width},{self.height}",
             "about:blank"],
            pass_fds=(3, 4), preexec_fn=as_fds_3_and_4, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(commands_r)
        os.close(replies_w)
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, 9)  # its own session: the renderer and GPU children go too
            process.wait(timeout=10)
        for fd in (getattr(self, "_commands", None), getattr(self, "_replies", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._commands = self._replies = None
        shutil.rmtree(getattr(self, "_profile", ""), ignore_errors=True)

    def open(self, path: Path) -> PageLoad:
        """Load a file and wait for its load event; return what the page did meanwhile."""
        self._events.clear()
        self.call("Page.navigate", session=True, url=Path(path).resolve().as_uri())
        self._wait_event("Page.loadEventFired")
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # painted
        return self.activity()

    def activity(self) -> PageLoad:
        """What the page did since it was opened (so far as the browser has told us)."""
        load = PageLoad()
        for event in self._events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                load.console.append((params.get("type", ""), text))
            elif method == "Log.entryAdded":
                entry = params["entry"]
                load.console.append((entry.get("level", ""), f"{entry.get('source')}: {entry.get('text')}"))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                load.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif method == "Network.requestWillBeSent":
                load.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                load.failed_requests.append(params.get("requestId", "") + " " + params.get("errorText", ""))
        return load

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited); an exception raises."""
        reply = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                          awaitPromise=True)
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression[:80]}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, full_page: bool = True) -> bytes:
        """A PNG of the page: the whole document when `full_page`, else the viewport."""
        params = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["width"],
                                                              "height": size["height"], "scale": 1})
        return base64.b64decode(self.call("Page.captureScreenshot", session=True, **params)["data"])

    def call(self, method: str, session: bool = False, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        reply = self._read(lambda m: m.get("id") == message["id"])
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _wait_event(self, method: str) -> None:
        if not any(e.get("method") == method for e in self._events):
            self._read(lambda m: m.get("method") == method)

    def _read(self, wanted) -> dict:
        """Messages until `wanted` matches one; events met on the way are kept."""
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self._events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise BrowserError(f"no reply from chromium within {self.timeout} s")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the DevTools pipe (did it crash?)")
            self._buffer += chunk
