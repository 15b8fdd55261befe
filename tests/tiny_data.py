"""A small, hand-written feedback set and a model trained on it in seconds.

The texts below were written for the tests (not real customer feedback). The model uses the hashing
embedder, so no torch model is loaded; everything else (spaCy, clustering, router, artifact) is real.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

TOPIC_TEXTS = {
    "export": [
        "The CSV export times out when I export the full ledger",
        "Exporting transactions to CSV fails with a timeout",
        "CSV export of last quarter never finishes, it times out",
        "Please make the export faster, the CSV download keeps timing out",
        "Export to Excel or CSV is stuck and then times out",
    ],
    "sso": [
        "We need single sign-on with Okta for the admin console",
        "SSO with SAML is required by our security team before rollout",
        "Can admins log in through Azure AD single sign-on",
        "Our IT wants SAML SSO enforced for every user login",
        "Single sign-on via Okta would let us retire passwords",
    ],
    "card_declined": [
        "My card was declined at the hotel even though I have funds",
        "Card payment declined at a restaurant abroad for no reason",
        "Why does my company card keep getting declined at checkout",
        "The card got declined twice today at the fuel station",
        "Declined card payment when paying a supplier online",
    ],
    "refund": [
        "I am still waiting for a refund of a duplicate charge",
        "The merchant refund has not arrived on my card after two weeks",
        "Refund for a cancelled order is missing from my statement",
        "How long does a refund take to show up on the account",
        "The refund was promised by the shop but I never received it",
    ],
    "mobile_app": [
        "The mobile app crashes when I open the receipts tab on Android",
        "iPhone app freezes after the latest update on login screen",
        "The app keeps crashing when uploading a receipt photo",
        "Mobile app is very slow and crashes on my Android phone",
        "After updating the iOS app it crashes at startup",
    ],
}

ROADMAP = [
    {
        "id": "RM-1",
        "title": "Fast ledger export",
        "description": "Stream CSV and Excel exports of transactions so large exports never time out.",
        "owner": "maya@ledgerly.example",
        "status": "in_progress",
        "keywords": ["export", "csv", "timeout"],
    },
    {
        "id": "RM-2",
        "title": "SAML single sign-on",
        "description": "Single sign-on for the admin console with Okta and Azure AD over SAML.",
        "owner": "@identity-team",
        "status": "planned",
        "keywords": ["sso", "saml", "okta"],
    },
    {
        "id": "RM-3",
        "title": "Fewer false card declines",
        "description": "Improve authorisation so valid card payments are not declined.",
        "owner": "li@ledgerly.example",
        "status": "shipped",
        "keywords": ["card", "declined", "payment"],
    },
    {
        "id": "RM-4",
        "title": "Dark mode",
        "description": "A dark colour theme for the web dashboard.",
        "owner": "@design-team",
        "status": "parked",
        "keywords": ["dark", "theme", "colour"],
    },
]

_NOTE_OPENERS = [
    "Good call with the finance team, they just got back from holiday.",
    "Thanks for the time today, nice chat.",
]
_NOTE_CLOSERS = ["Next check-in in two weeks.", "Talk soon."]


def write_tiny_dataset(
    folder: Path, *, seed: int = 0, tickets_per_topic: int = 24, notes: int = 12
) -> tuple[list[Path], Path]:
    """Write tickets.csv, call_notes.jsonl and roadmap.yaml to ``folder``.

    Returns:
        (feedback files, roadmap file).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    start = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)
    topics = list(TOPIC_TEXTS)
    tickets = folder / "tickets.csv"
    with open(tickets, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["id", "text", "source", "created_at", "account_id", "account_arr", "segment", "channel"]
        )
        number = 0
        for topic in topics:
            for i in range(tickets_per_topic):
                number += 1
                base = TOPIC_TEXTS[topic][i % len(TOPIC_TEXTS[topic])]
                text = f"{base}. Reference {rng.randint(100, 999)}" if i >= len(TOPIC_TEXTS[topic]) else base
                when = start + timedelta(hours=rng.randint(0, 24 * 7 * 8))
                account = f"ACC-{rng.randint(1, 12):03d}"
                writer.writerow(
                    [
                        f"T-{number:04d}",
                        text,
                        "ticket",
                        when.isoformat().replace("+00:00", "Z"),
                        account,
                        1000 * int(account[-3:]),
                        "smb",
                        "email",
                    ]
                )
    notes_path = folder / "call_notes.jsonl"
    with open(notes_path, "w", encoding="utf-8") as handle:
        for n in range(notes):
            chosen = rng.sample(topics, 2)
            sentences = [rng.choice(_NOTE_OPENERS)]
            sentences += [rng.choice(TOPIC_TEXTS[t]) + "." for t in chosen]
            sentences.append(rng.choice(_NOTE_CLOSERS))
            when = start + timedelta(hours=rng.randint(0, 24 * 7 * 8))
            handle.write(
                json.dumps(
                    {
                        "id": f"N-{n + 1:03d}",
                        "text": " ".join(sentences),
                        "source": "call_note",
                        "created_at": when.isoformat(),
                        "account_id": f"ACC-{rng.randint(1, 12):03d}",
                        "account_arr": 50000,
                        "topics": chosen,
                    }
                )
                + "\n"
            )
    roadmap = folder / "roadmap.yaml"
    roadmap.write_text(yaml.safe_dump(ROADMAP, sort_keys=False), encoding="utf-8")
    return [tickets, notes_path], roadmap


def tiny_config(**overrides):
    """The training config of the tiny model: hashing embedder, small themes; ``overrides`` win."""
    from feedback_nlp.config import TrainingConfig

    values = dict(
        encoder="hashing",
        min_themes=3,
        max_themes=12,
        min_theme_size=5,
        min_similarity=0.05,
        roadmap_threshold=0.15,
        default_owner="triage@ledgerly.example",
        calibration="temperature",
    )
    values.update(overrides)
    return TrainingConfig(**values)


def train_tiny_model(
    models_dir: Path, *, seed: int = 0, data_dir: Path | None = None, **config_overrides
) -> Path:
    """Train a real model (hashing embedder) on the tiny data set; updates LATEST.

    Returns:
        the version folder.
    """
    from feedback_nlp.pipeline import train

    models_dir = Path(models_dir)
    data_dir = data_dir or models_dir.parent / f"tiny-data-{seed}"
    feedback, roadmap = write_tiny_dataset(data_dir, seed=seed)
    return train(feedback, roadmap, models_dir, tiny_config(random_state=seed, **config_overrides)).path
