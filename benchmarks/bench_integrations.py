"""Benchmark the integrations (``make bench-integrations``): desk webhooks in, the outbox out.

1. Starts the real server (``feedback-nlp serve``, uvicorn on loopback) over a model folder with a Zendesk
   secret, and posts signed ``zen:event-type:ticket.created`` webhooks built from the sample's tickets, one at
   a time: latency of a first delivery (verify, map, score, store, receipt) and of a retry of it (answered
   from the receipt, nothing scored).
2. In this process, drains an outbox of Slack messages into an HTTP receiver and of e-mails into aiosmtpd
   (both on loopback): messages per second for one sender, each claimed, delivered and marked one by one.

Prints a Markdown table to paste into ``benchmarks/README.md``.

    python benchmarks/bench_integrations.py --models-dir models [--webhooks 100] [--messages 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from bench_service import free_port, load_texts, percentile, wait_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))
SECRET = "bench-zendesk-secret"
OWNER = "@bench-team"


def start_server(models_dir: Path, workdir: Path, port: int) -> subprocess.Popen:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FEEDBACK_NLP_")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "FEEDBACK_NLP_API_KEYS": "bench-key",
            "FEEDBACK_NLP_DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite",
            "FEEDBACK_NLP_RELOAD_POLL_SECONDS": "0",
            "FEEDBACK_NLP_ZENDESK_WEBHOOK_SECRET": SECRET,
            "FEEDBACK_NLP_RATE_LIMIT": "",
        }
    )
    command = [sys.executable, "-m", "feedback_nlp.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with open(workdir / "server.log", "w", encoding="utf-8") as log:
        return subprocess.Popen(
            [*command, "--models-dir", str(models_dir.resolve())],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def ticket_body(index: int, text: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    detail = {"id": str(900000 + index), "subject": "", "description": text, "created_at": now}
    event = {"type": "zen:event-type:ticket.created", "id": f"bench-{index}", "time": now, "detail": detail}
    return json.dumps(event).encode()


def post_all(client: httpx.Client, bodies: list[bytes], expect: str) -> list[float]:
    from feedback_nlp.desks import zendesk_signature

    latencies = []
    for body in bodies:
        timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Signature": zendesk_signature(SECRET, timestamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        }
        started = time.perf_counter()
        response = client.post("/v1/webhooks/zendesk", content=body, headers=headers)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200 or response.json()["status"] != expect:
            raise SystemExit(f"webhook answered {response.status_code}: {response.text[:300]}")
    return latencies


def bench_webhooks(models_dir: Path, texts: list[str]) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        process = start_server(models_dir, workdir, port)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, process, workdir / "server.log")
            bodies = [ticket_body(i, text) for i, text in enumerate(texts)]
            with httpx.Client(base_url=base, timeout=120) as client:
                post_all(client, bodies[:5], "scored")  # warm-up, not counted
                first = post_all(client, bodies[5:], "scored")
                retry = post_all(client, bodies[5:], "duplicate")
                score = score_all(client, texts[5:])
        finally:
            process.terminate()
            process.wait(30)
    return {"first": first, "retry": retry, "score": score}


def score_all(client: httpx.Client, texts: list[str]) -> list[float]:
    """The same texts through POST /v1/score, in the same run: the reference for the webhook's figure."""
    latencies = []
    for index, text in enumerate(texts):
        body = {"id": f"score-{index}", "text": text, "source": "ticket"}
        started = time.perf_counter()
        response = client.post("/v1/score", json=body, headers={"X-API-Key": "bench-key"})
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"/v1/score answered {response.status_code}: {response.text[:300]}")
    return latencies


def bench_outbox(messages: int) -> dict[str, float]:
    from email.message import EmailMessage

    from local_receivers import http_receiver, smtp_server

    from feedback_nlp.notify.config import parse_notifications
    from feedback_nlp.notify.outbox import Outbox, OutboxMessage
    from feedback_nlp.notify.sender import Sender
    from feedback_nlp.settings import Settings
    from feedback_nlp.store import open_store

    rates = {}
    with tempfile.TemporaryDirectory() as tmp, http_receiver() as receiver, smtp_server() as inbox:
        store = open_store(f"sqlite:///{tmp}/outbox.sqlite")
        outbox = Outbox(store.engine)
        for i in range(messages):
            outbox.enqueue(
                OutboxMessage(f"slack-{i}", "alert", OWNER, "slack", json.dumps({"text": f"m{i}"}))
            )
            email = EmailMessage()
            email["Subject"], email["From"], email["To"] = f"m{i}", "bench@example.com", "owner@example.com"
            email.set_content("hello")
            outbox.enqueue(
                OutboxMessage(f"email-{i}", "alert", "owner@example.com", "email", email.as_string())
            )
        config = parse_notifications(
            {
                "owners": {
                    OWNER: {"slack_webhook_url": receiver.url},
                    "owner@example.com": {"email": "owner@example.com"},
                }
            }
        )
        settings = Settings(_env_file=None, smtp_host=inbox.host, smtp_port=inbox.port, smtp_security="none")
        sender = Sender(outbox, config, settings)
        started = time.perf_counter()
        summary = sender.drain()
        elapsed = time.perf_counter() - started
        store.close()
        if (
            summary.sent != 2 * messages
            or len(receiver.received) != messages
            or len(inbox.messages) != messages
        ):
            raise SystemExit(f"outbox drain incomplete: {summary}")
    rates["both"] = 2 * messages / elapsed
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--texts", type=Path, default=REPO_ROOT / "examples" / "feedback" / "tickets.csv")
    parser.add_argument("--webhooks", type=int, default=100)
    parser.add_argument("--messages", type=int, default=300, help="Slack messages and as many e-mails")
    args = parser.parse_args(argv)
    texts = load_texts(args.texts, args.webhooks + 5)
    webhooks = bench_webhooks(args.models_dir, texts)
    outbox = bench_outbox(args.messages)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| measure | p50 | p99 | mean |")
    print("|---|---|---|---|")
    for name, label in (
        ("first", "Zendesk webhook, first delivery (scored and stored)"),
        ("retry", "the same delivery again (duplicate)"),
        ("score", "reference: the same texts through POST /v1/score"),
    ):
        values = webhooks[name]
        print(
            f"| {label}, n={len(values)} | {percentile(values, 50) * 1000:.1f} ms | "
            f"{percentile(values, 99) * 1000:.1f} ms | {statistics.mean(values) * 1000:.1f} ms |"
        )
    print(
        f"| outbox drain, one sender, {2 * args.messages} messages (half Slack, half SMTP) | | | "
        f"{outbox['both']:.0f} messages/s |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
