"""A webhook sink: the local stand-in for a Microsoft Teams workflow and a Slack incoming
webhook, on 127.0.0.1 only.

`WebhookSink()` listens on a free loopback port in a thread; `url(path)` is a webhook URL to
put in a setting. Every POST is recorded (`received`), its body checked against the shape the
real service accepts, and answered as it would: Slack `200 ok`, a Teams workflow `202`; a body
of the wrong shape gets `400`, as the real ones refuse it. `fail(n, status)` answers the next n
requests with `status` instead (retries), `stop()` shuts it down.

What the services accept (only what the bot relies on):
- Slack incoming webhook (`/slack/...`): JSON with a non-empty `text` (the notification and
  fallback), optional `blocks`, each an object with a `type`.
- Teams workflow "When a Teams webhook request is received" (`/teams/...`): JSON
  `{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
  "content": {"type": "AdaptiveCard", "version": ..., "body": [...]}}]}`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ADAPTIVE = "application/vnd.microsoft.card.adaptive"


@dataclass
class Received:
    path: str
    body: Any
    content_type: str
    status: int


def slack_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
        return "no_text"
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        return "invalid_blocks"
    return None


def teams_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("type") != "message":
        return "type must be message"
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "no attachments"
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE:
            return "an attachment is not an Adaptive Card"
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return "content is not an AdaptiveCard"
        if not isinstance(card.get("version"), str) or not isinstance(card.get("body"), list):
            return "an AdaptiveCard needs version and body"
    return None


@dataclass
class WebhookSink:
    host: str = "127.0.0.1"
    received: list[Received] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the webhook sink listens on loopback only")
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                status, answer = sink._answer(self.path, body)
                with sink._lock:
                    sink.received.append(
                        Received(self.path, body, self.headers.get("Content-Type", ""), status)
                    )
                data = answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test reads `received`."""

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def _answer(self, path: str, body: Any) -> tuple[int, str]:
        with self._lock:
            if self._failures:
                return self._failures.pop(0), "failing as asked"
        if path.startswith("/slack/"):
            problem = slack_problem(body)
            return (400, problem) if problem else (200, "ok")
        if path.startswith("/teams/"):
            problem = teams_problem(body)
            return (400, problem) if problem else (202, "")
        return 404, "no such webhook"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def fail(self, times: int, status: int = 503) -> None:
        with self._lock:
            self._failures += [status] * times

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
