"""Redaction without a model: each kind of personal data the hardening issue found leaking, and what stays.

The phone numbers are Ofcom's and NANP's fictional ranges; the IBANs are the published example IBANs; the card
numbers are test cards. Nothing here is anybody's data.
"""

from __future__ import annotations

import pytest

from feedback_nlp.ingest import validate_row
from feedback_nlp.redact import find_pii, redact, redact_metadata


@pytest.mark.parametrize(
    ("text", "secret", "token"),
    [
        ("call me on 07700 692791 after lunch", "692791", "[PHONE]"),
        ("office line +44 20 7946 0958, ask for accounts", "7946 0958", "[PHONE]"),
        ("the Berlin office is on +49 30 1546542.", "1546542", "[PHONE]"),
        ("US desk: (415) 555-0134", "555-0134", "[PHONE]"),
        ("pay into GB82 WEST 1234 5698 7654 32 please", "5698", "[IBAN]"),
        ("IBAN DE89370400440532013000 was rejected", "DE89370400440532013000", "[IBAN]"),
        ("card 4111111111111111 declined", "4111111111111111", "[CARD]"),
        ("my ssn is 123-45-6789 if needed", "123-45-6789", "[SSN]"),
        ("SSN: 219 09 9999 for the form", "219 09 9999", "[SSN]"),
        ("reset link www.example.com/reset?token=ab12cd34 expired", "ab12cd34", "[URL]"),
        ("see acme.io/reset?token=zz99yy, it fails", "zz99yy", "[URL]"),
        ("reach dana.w@acme-logistics.com", "dana.w@acme-logistics.com", "[EMAIL]"),
        ("ship to 221B Baker Street, London NW1 6XE please", "Baker Street", "[ADDRESS]"),
        ("new office at 42 elm road since May", "elm road", "[ADDRESS]"),
        ("send it to 1600 Pennsylvania Avenue, Washington, DC 20500", "20500", "[ADDRESS]"),
        ("Lieferadresse Hauptstraße 5, Berlin", "Hauptstraße 5", "[ADDRESS]"),
    ],
)
def test_patterns_the_issue_found_leaking_are_redacted(text, secret, token):
    redacted = redact(text)
    assert secret not in redacted and token in redacted


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("call bob smith about the invoice", ["bob", "smith"]),
        ("spoke with maria garcia yesterday about fees", ["maria", "garcia"]),
        ("Hi Anna, the export fails again", ["Anna"]),
        ("Thanks, Tom", ["Tom"]),
        ("Priya Raman from finance asked for SSO", ["Priya", "Raman"]),
        ("ask Will about the limit", ["Will"]),
        ("julia said the card broke", ["julia"]),
        ("This is Imogen Lindqvist, the controller.", ["Imogen", "Lindqvist"]),
        ("- helga gallagher said the same.", ["helga", "gallagher"]),
    ],
)
def test_names_given_away_by_cues_or_the_name_list_are_redacted(text, names):
    redacted = redact(text)
    assert "[PERSON]" in redacted
    for name in names:
        assert name not in redacted


@pytest.mark.parametrize(
    "text",
    [
        "I was charged $1,250.00 on 12 March, order 4411",
        "the invoice for 1 250 000 EUR is due 2026-03-15",
        "we paid 12000 EUR and GBP 3,400,000,000 last year",
        "3 users on the way to approval",
        "Will it sync with NetSuite and QuickBooks?",
        "Mark the invoice as paid in Xero",
        "Call with the CFO: they need SSO with Okta",
        "this is broken again and the terminal said declined",
        "they want a virtual card per project",
    ],
)
def test_amounts_dates_and_product_names_are_kept(text):
    assert redact(text, {"netsuite", "quickbooks", "xero", "okta"}) == text


def test_ssn_ranges_that_are_never_issued_are_not_read_as_ssns():
    assert not [span for span in find_pii("ref 000-12-3456 and 666-12-3456") if span.kind == "SSN"]


def test_an_iban_with_a_wrong_checksum_is_not_an_iban():
    assert not [span for span in find_pii("GB00 WEST 1234 5698 7654 32") if span.kind == "IBAN"]


def test_metadata_strings_are_redacted_unless_their_column_is_raw():
    metadata = {
        "requester": "dana.whitfield@acme-logistics.com",
        "author": "Jordan Reyes",
        "notes": ["call +44 20 7946 0958"],
        "priority": "high",
        "agent_email": "li@ledgerly.example",
        "count": 3,
    }
    cleaned = redact_metadata(metadata, raw_columns=["agent_email"])
    assert cleaned == {
        "requester": "[EMAIL]",
        "author": "[PERSON]",
        "notes": ["call [PHONE]"],
        "priority": "high",
        "agent_email": "li@ledgerly.example",
        "count": 3,
    }


def test_validate_row_redacts_extra_columns_by_default():
    row = {
        "id": "T-1",
        "text": "export fails",
        "source": "ticket",
        "created_at": "2026-09-01",
        "requester": "dana.whitfield@acme-logistics.com",
        "priority": "high",
    }
    assert validate_row(row).metadata == {"requester": "[EMAIL]", "priority": "high"}
    kept = validate_row(row, raw_metadata_columns=["requester"]).metadata
    assert kept["requester"] == "dana.whitfield@acme-logistics.com"


@pytest.mark.parametrize(
    "text",
    [
        # written for the test: a cue before a word of a kept phrase, and the phrase itself
        "Thanks Google, but Google Pay still fails.",
        "Spoke with Azure about Azure AD sync.",
    ],
)
def test_a_word_of_a_kept_phrase_is_never_a_name(text):
    assert redact(text, {"google pay", "azure ad"}) == text
    assert "[PERSON]" in redact(text)  # without the phrase the cue gives the word away
