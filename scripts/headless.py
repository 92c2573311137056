"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe.

`--remote-debugging-pipe` makes Chromium read protocol messages from fd 3 and write its answers
to fd 4, each a JSON text ended by NUL: no port, no websocket library, no browser download.
`look(url, ...)` opens one page, waits for its load event, runs a JavaScript expression that
returns JSON, lists what the page logged as errors (console, uncaught exceptions, CSP
violations, failed loads) and saves a full-page PNG screenshot.

    python -m scripts.headless build/report/index.html --screenshot build/report.png
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
DEFAULT_TIMEOUT = 15.0


class BrowserError(Exception):
    """Chromium is missing, failed to start, answered with an error or not in time."""


@dataclass
class Look:
    """What `look` saw: the expression's value, the page's errors, the screenshot."""

    value: Any
    errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None


def find_chromium() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError("chromium not found: `make setup` installs Debian's chromium package")


class Chromium:
    """One headless browser process and its protocol pipe (a context manager)."""

    def __init__(self, *, width: int = 1280, height: int = 900, timeout: float = DEFAULT_TIMEOUT):
        self.width, self.height, self.timeout = width, height, timeout
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._buffer = b""
        self._pid = 0
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        self._log = Path(self._profile.name) / "chromium.log"

    def __enter__(self) -> Chromium:
        binary = find_chromium()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        argv = [
            binary,
            "--headless=new",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}",
            f"--window-size={self.width},{self.height}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--metrics-recording-only",
            "--mute-audio",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            # root (this machine, CI) has no user namespace sandbox to drop into
            *(["--no-sandbox"] if os.geteuid() == 0 else []),
            "about:blank",
        ]
        log_fd = os.open(self._log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self._pid = os.posix_spawn(
                binary,
                argv,
                {**os.environ, "HOME": self._profile.name},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, to_browser_r, 3),
                    (os.POSIX_SPAWN_DUP2, from_browser_w, 4),
                    (os.POSIX_SPAWN_DUP2, log_fd, 1),
                    (os.POSIX_SPAWN_DUP2, log_fd, 2),
                ],
                setsid=True,
            )
        finally:
            for fd in (to_browser_r, from_browser_w, log_fd):
                os.close(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._pid:
                with contextlib.suppress(BrowserError):  # it is reaped or killed below
                    self.call("Browser.close", timeout=3)
                self._reap()
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)
            self._profile.cleanup()

    def _reap(self) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self._pid, os.WNOHANG)
            if pid:
                return
            time.sleep(0.05)
        os.killpg(self._pid, signal.SIGKILL)  # its own session (setsid): only what it started
        os.waitpid(self._pid, 0)

    def _log_tail(self) -> str:
        try:
            lines = self._log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-5:])

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"chromium: no answer in time ({self._log_tail()})")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium exited ({self._log_tail()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one command and wait for its answer (events meanwhile go to `events`)."""
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") != ident:
                self.events.append(answer)
                continue
            if "error" in answer:
                raise BrowserError(f"{method}: {answer['error'].get('message')}")
            result: dict[str, Any] = answer.get("result", {})
            return result

    def wait_for(self, event: str, deadline: float) -> dict[str, Any]:
        """The first `event` seen (already or from now on)."""
        while True:
            for seen in self.events:
                if seen.get("method") == event:
                    return seen
            self.events.append(self._read_message(deadline))

    def open(self, url: str) -> str:
        """Attach to the page, enable what `errors` reads, load `url`; the page's session."""
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        session = str(
            self.call("Target.attachToTarget", {"targetId": page, "flatten": True})["sessionId"]
        )
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", time.monotonic() + self.timeout)
        return session

    def errors(self) -> list[str]:
        """What the page reported as errors so far, one line each."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = params.get("args", [])
                found.append(
                    "console: " + " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                described = details.get("exception", {}).get("description") or details.get("text")
                found.append(f"exception: {described}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                found.append(f"{entry.get('source')}: {entry.get('text')}")
            elif method == "Network.loadingFailed":
                found.append(f"network: {params.get('errorText')} ({params.get('type')})")
        return found

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=session,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluate: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, session: str, path: Path) -> Path:
        """A PNG of the whole page (not only the viewport)."""
        metrics = self.call("Page.getLayoutMetrics", session=session)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        height = max(self.height, int(size["height"]))
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        shot = self.call("Page.captureScreenshot", {"format": "png"}, session=session)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def look(
    url: str,
    *,
    expression: str = "document.title",
    screenshot: Path | None = None,
    width: int = 1280,
    timeout: float = DEFAULT_TIMEOUT,
) -> Look:
    """Open `url` in a fresh headless Chromium; evaluate `expression` after the load event."""
    with Chromium(width=width, timeout=timeout) as browser:
        session = browser.open(url)
        value = browser.evaluate(session, expression)
        shot = browser.screenshot(session, screenshot) if screenshot else None
        return Look(value, browser.errors(), shot)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="an HTML file")
    parser.add_argument("--screenshot", type=Path, required=True)
    args = parser.parse_args(argv)
    seen = look(args.page.resolve().as_uri(), screenshot=args.screenshot)
    for error in seen.errors:
        print(error, file=sys.stderr)
    print(seen.screenshot)
    return 1 if seen.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
