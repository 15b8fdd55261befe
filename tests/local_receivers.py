"""Receivers on loopback for the notification tests: an HTTP server standing in for Slack's incoming
webhooks (``http.server`` in a thread) and an SMTP server (``aiosmtpd``). Nothing leaves the machine."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records every POST; answers the next status of ``statuses`` (then 200), after ``delay_s``."""

    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


@contextlib.contextmanager
def http_receiver(statuses: list[int] | None = None, delay_s: float = 0.0) -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(list(statuses or []), delay_s)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(receiver.delay_s)
            status = receiver.next_status()
            if status < 300:  # what Slack accepted is what arrived
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
            answer = b"ok" if status < 300 else b"invalid_payload"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpInbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)


@contextlib.contextmanager
def smtp_server() -> Iterator[SmtpInbox]:
    """aiosmtpd on a free loopback port; every message it accepts lands in ``inbox.messages``."""
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox("127.0.0.1", 0)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            message = message_from_bytes(envelope.original_content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            inbox.messages.append(message)
            inbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            return "250 Message accepted for delivery"

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:  # aiosmtpd needs a fixed port
        probe.bind(("127.0.0.1", 0))
        inbox.port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
