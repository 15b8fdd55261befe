"""File adapters for support-desk and CRM exports: ``feedback-nlp ingest --format NAME``.

Each export is turned into feedback rows (the schema's columns plus metadata) and then goes through the same
validation, redaction and quarantine as any feedback file (:func:`feedback_nlp.ingest.iter_validated`): a
ticket becomes the same record as when it arrives by webhook (:mod:`feedback_nlp.desks`), and a rejected row
is kept only as a redacted preview.

Formats:

- ``zendesk``: a ticket export: JSON (``{"tickets": [...]}`` as the Tickets API and the incremental export
  return it, or a list of tickets) or NDJSON (one ticket per line).
- ``intercom``: a conversation export: JSON (``{"conversations": [...]}`` or a list) or NDJSON; each
  conversation gives its opening message and every reply the customer wrote.
- ``salesforce-notes``: a CSV of CRM notes as Salesforce's data export writes ``Note.csv`` (``Id``,
  ``ParentId``, ``Title``, ``Body``, ``CreatedDate``, ``IsDeleted``) or ``ContentNote`` (``TextPreview`` or
  ``Content`` instead of ``Body``). Notes are call notes; ``ParentId`` is taken as the account when it is
  an Account id (prefix ``001``), or an ``AccountId`` column names the account.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedback_nlp.desks import (
    DeskEvent,
    html_to_text,
    intercom_conversation_record,
    parse_unix_time,
    zendesk_record,
)
from feedback_nlp.errors import InputError, ValidationError
from feedback_nlp.ingest import Quarantine, first_of_each_id
from feedback_nlp.schemas import SOURCE_CALL_NOTE, FeedbackRecord

FORMAT_ZENDESK = "zendesk"
FORMAT_INTERCOM = "intercom"
FORMAT_SALESFORCE_NOTES = "salesforce-notes"
FORMATS = (FORMAT_ZENDESK, FORMAT_INTERCOM, FORMAT_SALESFORCE_NOTES)
_SALESFORCE_ACCOUNT_PREFIX = "001"  # the key prefix of Account record ids

RowResult = tuple[int, dict[str, Any] | None, str | None]


def _json_objects(path: Path, list_key: str) -> Iterator[tuple[int, Any]]:
    """``(position, object)`` from a JSON file (a list, or a mapping holding ``list_key``) or NDJSON."""
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and f'"{list_key}"' in stripped[:2000]):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            document = None  # NDJSON whose first object mentions the key: read line by line below
        if isinstance(document, Mapping):
            document = document.get(list_key)
        if isinstance(document, list):
            yield from enumerate(document, start=1)
            return
        if document is not None:
            raise InputError(f"{path}: expected a list of {list_key} or {{'{list_key}': [...]}}")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, ValidationError("line", f"not valid JSON ({exc.msg})")


def _row(event: DeskEvent, created_at: Any) -> dict[str, Any]:
    """The feedback row of a mapped desk record; ``created_at`` as the export has it (validated later)."""
    record = event.record
    return {
        "id": record.id,
        "text": record.text,
        "source": record.source,
        "created_at": created_at,
        "account_id": record.account_id,
        "account_arr": record.account_arr,
        "segment": record.segment,
        "channel": record.channel,
        **record.metadata,
    }


def _unix_iso(value: Any) -> Any:
    parsed = parse_unix_time(value)
    return parsed.isoformat() if parsed is not None else value


def _zendesk_rows(ticket: Any) -> list[dict[str, Any]]:
    if not isinstance(ticket, Mapping):
        raise ValidationError("ticket", "not a JSON object")
    return [_row(zendesk_record(ticket, "export", now=datetime.now(UTC)), ticket.get("created_at"))]


def _intercom_rows(conversation: Any) -> list[dict[str, Any]]:
    if not isinstance(conversation, Mapping):
        raise ValidationError("conversation", "not a JSON object")
    rows = [
        _row(
            intercom_conversation_record(conversation, None, "export"),
            _unix_iso(conversation.get("created_at")),
        )
    ]
    holder = conversation.get("conversation_parts")
    parts = holder.get("conversation_parts") if isinstance(holder, Mapping) else None
    for part in parts if isinstance(parts, list) else []:
        author = part.get("author") if isinstance(part, Mapping) else None
        if (
            isinstance(author, Mapping)
            and author.get("type") in ("user", "lead", "contact")
            and part.get("body")
        ):
            event = intercom_conversation_record(conversation, part, "export")
            rows.append(_row(event, _unix_iso(part.get("created_at"))))
    return rows


def _desk_rows(
    path: Path, list_key: str, to_rows: Callable[[Any], list[dict[str, Any]]]
) -> Iterator[RowResult]:
    for position, obj in _json_objects(path, list_key):
        if isinstance(obj, ValidationError):
            yield position, None, str(obj)
            continue
        try:
            rows = to_rows(obj)
        except ValidationError as exc:
            yield position, _preview_of(obj), str(exc)
            continue
        for row in rows:
            yield position, row, None


def _preview_of(obj: Any) -> dict[str, Any]:
    return {str(k): v for k, v in obj.items()} if isinstance(obj, Mapping) else {"value": obj}


def _is_true(value: Any) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes")


def salesforce_note_row(note: Mapping[str, Any]) -> dict[str, Any]:
    """One Salesforce Note or ContentNote row as a feedback row (a call note).

    Raises:
        ValidationError: a deleted note, or one without an id.
    """
    note_id = str(note.get("Id") or "").strip()
    if not note_id:
        raise ValidationError("Id", "missing; a Salesforce note needs its Id")
    if _is_true(note.get("IsDeleted")):
        raise ValidationError("IsDeleted", "the note was deleted in Salesforce")
    body = str(note.get("Body") or note.get("TextPreview") or "")
    if not body and note.get("Content"):
        body = html_to_text(str(note["Content"]))  # ContentNote bodies are HTML
    title = " ".join(str(note.get("Title") or "").split())
    text = (
        body.strip() if not title or body.lower().startswith(title.lower()) else f"{title}\n\n{body.strip()}"
    )
    parent = str(note.get("ParentId") or "").strip()
    account = str(note.get("AccountId") or "").strip() or (
        parent if parent.startswith(_SALESFORCE_ACCOUNT_PREFIX) else ""
    )
    row: dict[str, Any] = {
        "id": f"sf-{note_id}",
        "text": text.strip(),
        "source": SOURCE_CALL_NOTE,
        "created_at": note.get("CreatedDate"),
        "account_id": account or None,
        "channel": "salesforce",
        "crm": "salesforce",
    }
    if parent and parent != account:
        row["salesforce_parent_id"] = parent
    return row


def _salesforce_rows(path: Path) -> Iterator[RowResult]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"Id", "CreatedDate"} - set(reader.fieldnames or [])
        if missing or not {"Body", "TextPreview", "Content"} & set(reader.fieldnames or []):
            raise InputError(
                f"{path}: not a Salesforce notes export; expected columns Id, CreatedDate and Body (Note) or "
                f"TextPreview/Content (ContentNote), found {', '.join(reader.fieldnames or []) or 'none'}"
            )
        for note in reader:
            try:
                yield reader.line_num, salesforce_note_row(note), None
            except ValidationError as exc:
                yield reader.line_num, dict(note), str(exc)


def check_exports(paths: Iterable[Path | str], export_format: str) -> list[Path]:
    """Fail fast, before a model is loaded: unknown format, missing files, a notes CSV without its columns.

    Raises:
        InputError: naming the file and what is wrong.
    """
    if export_format not in FORMATS:
        raise InputError(f"unknown export format {export_format!r}; use one of {', '.join(FORMATS)}")
    checked = [Path(path) for path in paths]
    for path in checked:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if export_format == FORMAT_SALESFORCE_NOTES:
            next(iter(_salesforce_rows(path)), None)  # reads the header (and one row) only
    return checked


def read_export_rows(path: Path, export_format: str) -> Iterator[RowResult]:
    """``(position, row, problem)`` for every feedback row of one export file.

    Raises:
        InputError: an unknown format, a missing file, or a file that is not the format's export.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if export_format == FORMAT_ZENDESK:
        return _desk_rows(path, "tickets", _zendesk_rows)
    if export_format == FORMAT_INTERCOM:
        return _desk_rows(path, "conversations", _intercom_rows)
    if export_format == FORMAT_SALESFORCE_NOTES:
        return _salesforce_rows(path)
    raise InputError(f"unknown export format {export_format!r}; use one of {', '.join(FORMATS)}")


def iter_export_feedback(
    paths: Iterable[Path],
    export_format: str,
    quarantine: Quarantine,
    *,
    max_text_chars: int,
    raw_metadata_columns: Collection[str] = (),
) -> Iterator[FeedbackRecord]:
    """Valid records from export files in order, like :func:`feedback_nlp.ingest.iter_feedback`: bad rows and
    repeated ids (the first is kept) go to ``quarantine``."""
    yield from first_of_each_id(
        ((Path(path), read_export_rows(Path(path), export_format)) for path in paths),
        quarantine,
        max_text_chars=max_text_chars,
        raw_metadata_columns=raw_metadata_columns,
    )
