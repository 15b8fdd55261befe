"""``feedback-nlp ingest --format zendesk|intercom|salesforce-notes`` on the export samples in tests/data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback_nlp.desk_exports import check_exports, iter_export_feedback
from feedback_nlp.errors import InputError
from feedback_nlp.ingest import Quarantine

DATA = Path(__file__).parent / "data"


def read(name: str, export_format: str) -> tuple[list, Quarantine]:
    quarantine = Quarantine()
    records = list(iter_export_feedback([DATA / name], export_format, quarantine, max_text_chars=20_000))
    return records, quarantine


def test_zendesk_ticket_export():
    records, quarantine = read("zendesk_tickets_export.json", "zendesk")
    assert [r.id for r in records] == ["zendesk-35440", "zendesk-35441"]
    first = records[0]
    assert first.text.startswith("Export keeps failing\n\nThe CSV export times out")
    assert first.account_id == "509974" and first.channel == "zendesk:email"
    assert first.created_at == datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    # a bad date and a repeated id are quarantined with their reason, the rows themselves not kept
    assert dict(quarantine.counts) == {"bad_created_at": 1, "duplicate_id": 1}
    assert [row.line for row in quarantine.rows] == [3, 4]  # the position of the ticket in the export
    kept = json.dumps([row.to_dict() for row in quarantine.rows])
    assert "jane.doe@example.com" not in kept and "[EMAIL]" in kept


def test_intercom_conversation_export_gives_opening_messages_and_customer_replies():
    records, quarantine = read("intercom_conversations_export.ndjson", "intercom")
    assert [r.id for r in records] == [
        "intercom-147000000012",
        "intercom-147000000012-9002",  # the customer's reply; the agent's part is not feedback
        "intercom-147000000013",
    ]
    assert records[1].text == "Also: we need single sign-on with Okta for the admin console."
    assert records[2].created_at == datetime.fromtimestamp(1764580000, tz=UTC)
    assert len(quarantine) == 1 and quarantine.rows[0].line == 3  # the empty conversation


def test_salesforce_notes_are_call_notes_on_their_account():
    records, quarantine = read("salesforce_notes.csv", "salesforce-notes")
    assert [r.id for r in records] == ["sf-0025g00000AbCdEAAV", "sf-0025g00000AbCdGAAV"]
    qbr, renewal = records
    assert qbr.source == "call_note" and qbr.account_id == "0015g00000XyZ12AAB"
    assert qbr.text.startswith("QBR with finance\n\nGood call")
    assert qbr.created_at == datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    # the parent is an opportunity, not an account: kept as metadata, no account
    assert renewal.account_id is None and renewal.metadata["salesforce_parent_id"] == "0065g00000Opp01AAB"
    assert [row.reason for row in quarantine.rows] == ["IsDeleted: the note was deleted in Salesforce"]


def test_a_file_that_is_not_the_export_is_refused_before_any_work(tmp_path):
    notes = tmp_path / "notes.csv"
    notes.write_text("id,text\n1,hello\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a Salesforce notes export"):
        check_exports([notes], "salesforce-notes")
    with pytest.raises(InputError, match="no such file"):
        check_exports([tmp_path / "missing.json"], "zendesk")


@pytest.mark.slow
def test_ingest_format_zendesk_scores_and_stores(tiny_model_dir, tmp_path, capsys):
    from feedback_nlp.cli import main
    from feedback_nlp.store import open_store

    url = f"sqlite:///{tmp_path / 'feedback.sqlite'}"
    argv = ["ingest", "--model", str(tiny_model_dir), "--database-url", url, "--format", "zendesk"]
    assert main([*argv, str(DATA / "zendesk_tickets_export.json")]) == 0
    out = capsys.readouterr().out
    assert "read 4, accepted 2, quarantined 2, stored 2" in out
    store = open_store(url)
    try:
        stored = store.get_item("zendesk-35440")
        assert stored is not None and stored["account_id"] == "509974"
        assert "555 0134" not in json.dumps(stored, default=str)  # redacted like any feedback
    finally:
        store.close()
    assert main([*argv, "--column", "text=body", str(DATA / "zendesk_tickets_export.json")]) == 2
    assert "--column" in capsys.readouterr().err
