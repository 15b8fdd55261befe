"""A sender killed mid-run (SIGKILL, no clean-up) loses nothing: a restarted sender delivers the rest.

``feedback-nlp send-outbox`` runs as a real process against a slow HTTP receiver on loopback; it is killed
while deliveries are under way and started again once the killed one's lease has run out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from local_receivers import http_receiver

from feedback_nlp.notify.outbox import Outbox, OutboxMessage
from feedback_nlp.store import open_store

REPO_ROOT = Path(__file__).resolve().parents[1]
OWNER = "@payments-team"
MESSAGES = 12
LEASE_S = 1.0

pytestmark = pytest.mark.slow


def sender_env(tmp_path: Path, notifications: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACK_NLP_")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            "FEEDBACK_NLP_DATABASE_URL": f"sqlite:///{tmp_path}/outbox.sqlite",
            "FEEDBACK_NLP_NOTIFICATIONS_FILE": str(notifications),
            "FEEDBACK_NLP_OUTBOX_LEASE_SECONDS": str(LEASE_S),
        }
    )
    return env


def test_killing_the_sender_drops_nothing_and_repeats_at_most_the_message_in_flight(tmp_path):
    with http_receiver(delay_s=0.25) as receiver:
        notifications = tmp_path / "notifications.yaml"
        notifications.write_text(json.dumps({"owners": {OWNER: {"slack_webhook_url": receiver.url}}}))
        store = open_store(f"sqlite:///{tmp_path}/outbox.sqlite")
        outbox = Outbox(store.engine)
        keys = [f"alert:item-{i}:{OWNER}:slack" for i in range(MESSAGES)]
        for key in keys:
            outbox.enqueue(OutboxMessage(key, "alert", OWNER, "slack", json.dumps({"text": key})))
        env = sender_env(tmp_path, notifications)
        command = [sys.executable, "-m", "feedback_nlp.cli", "send-outbox", "--poll-seconds", "0.1"]
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while len(receiver.received) < MESSAGES // 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(10)
        counts = outbox.counts()
        assert 0 < counts["sent"] < MESSAGES  # killed mid-run: some delivered, some not
        time.sleep(LEASE_S + 0.5)  # the killed sender's lease runs out
        second = subprocess.run([*command, "--once"], env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert outbox.counts() == {"pending": 0, "sending": 0, "sent": MESSAGES, "dead": 0}
        store.close()
    arrived = Counter(message.headers["X-Idempotency-Key"] for message in receiver.received)
    assert set(arrived) == set(keys)  # nothing dropped
    # at most the one message in flight at the kill arrived twice, with the same idempotency key
    assert sum(arrived.values()) - MESSAGES <= 1
