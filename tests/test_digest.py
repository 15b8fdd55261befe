"""The weekly digest: built from the report, rendered as Slack blocks and as an e-mail that mail clients
render; the e-mail is delivered to aiosmtpd on loopback and opened in headless chromium."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from local_receivers import smtp_server

from feedback_nlp.notify.config import parse_notifications
from feedback_nlp.notify.digest import owner_digests
from feedback_nlp.notify.outbox import Outbox
from feedback_nlp.notify.render_email import CHART_CID, digest_email, message_id
from feedback_nlp.notify.render_slack import MAX_BLOCKS, digest_blocks, escape
from feedback_nlp.notify.sender import Sender
from feedback_nlp.notify.weekly import digest_messages, queue_messages, write_dry_run
from feedback_nlp.report import compute_report
from feedback_nlp.settings import Settings
from feedback_nlp.store import open_store
from tests.test_report import HISTORY, WEEK, build_store, model_info

SENDER = "feedback@ledgerly.example"
BASE_URL = "https://feedback.ledgerly.example"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('digest') / 'feedback.sqlite'}"
    store = build_store().write(url)
    report = compute_report(
        store.engine,
        model_info(),
        WEEK,
        weeks_of_history=HISTORY,
        generated_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
    store.close()
    return report


@pytest.fixture(scope="module")
def data_team(report):
    (digest,) = owner_digests(report, ["@data-team"], BASE_URL)
    return digest


def section(report, owner):
    return next(s for s in report["owners"] if s["owner"] == owner)


def test_the_digest_is_the_reports_owner_section(report, data_team):
    expected = section(report, "@data-team")
    assert data_team.units == expected["units"] == 12
    assert [q.item_id for q in data_team.quotes] == [q["item_id"] for q in expected["quotes"]]
    assert [t.name for t in data_team.rising] == ["CSV export timeouts"]  # the report's rising theme
    assert sum(data_team.weekly_units) > data_team.weekly_units[-1] == 12  # the trailing weeks too
    assert data_team.link == f"{BASE_URL}/ui?week={WEEK}&owner=%40data-team"


def test_an_owner_without_feedback_this_week_gets_an_empty_digest(report):
    (digest,) = owner_digests(report, ["nobody@example.com"], BASE_URL)
    assert digest.units == 0 and digest.quotes == () and digest.themes == ()


def test_slack_blocks_are_within_limits_and_hold_no_markdown_table(data_team):
    message = digest_blocks(data_team)
    blocks = message["blocks"]
    assert len(blocks) <= MAX_BLOCKS and message["text"]
    assert {b["type"] for b in blocks} <= {"header", "section", "context", "divider", "actions"}
    assert len(blocks[0]["text"]["text"]) <= 150
    text = json.dumps(blocks)
    assert "|---" not in text and "| ---" not in text
    for quote in data_team.quotes:
        assert f"`{quote.item_id}`" in text
    assert blocks[-1]["elements"][0]["url"] == data_team.link


def test_customer_text_cannot_become_a_mention_or_link():
    assert escape("<!channel> & <https://evil.example|click>") == (
        "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
    )


def test_the_email_is_text_and_html_with_the_chart_as_a_cid_png(data_team):
    message = digest_email(data_team, SENDER, "data@ledgerly.example")
    assert message["Message-ID"] == message_id(data_team.idempotency_key("email"), SENDER)
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert plain is not None and html_part is not None
    html = html_part.get_content()
    for quote in data_team.quotes:
        assert quote.item_id in plain.get_content() and quote.item_id in html
    assert "<svg" not in html and "<style" not in html  # what Gmail and Outlook drop
    assert f'src="cid:{CHART_CID}"' in html
    (image,) = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] == f"<{CHART_CID}>"
    assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dry_run_writes_one_json_per_slack_message_and_one_eml_per_email(report, tmp_path):
    config = parse_notifications(
        {
            "owners": {
                "@data-team": {"slack_webhook_url_env": "SLACK_DATA", "email": "data@ledgerly.example"},
                "alice@example.com": {"email": "alice@example.com"},
                "bob@example.com": {"email": "bob@example.com", "digest": False},
            }
        }
    )
    settings = Settings(_env_file=None, smtp_from=SENDER, public_base_url=BASE_URL)
    paths = write_dry_run(digest_messages(report, config, settings), tmp_path)
    assert sorted(p.name for p in paths) == [
        f"digest-{WEEK}-alice_example.com-email.eml",
        f"digest-{WEEK}-data-team-email.eml",
        f"digest-{WEEK}-data-team-slack.json",
    ]
    slack = json.loads((tmp_path / f"digest-{WEEK}-data-team-slack.json").read_text())
    assert slack["blocks"][0]["type"] == "header"


def test_digests_are_delivered_over_smtp_once_per_week(report, tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/outbox.sqlite")
    outbox = Outbox(store.engine)
    config = parse_notifications({"owners": {"@data-team": {"email": "data@ledgerly.example"}}})
    with smtp_server() as inbox:
        settings = Settings(
            _env_file=None, smtp_from=SENDER, smtp_host=inbox.host, smtp_port=inbox.port, smtp_security="none"
        )
        messages = digest_messages(report, config, settings)
        assert queue_messages(outbox, messages) == 1
        assert queue_messages(outbox, digest_messages(report, config, settings)) == 0  # the week again
        assert Sender(outbox, config, settings).drain().sent == 1
    store.close()
    (arrived,) = inbox.messages
    assert arrived["To"] == "data@ledgerly.example" and arrived["Subject"].startswith(
        f"Feedback digest {WEEK}"
    )
    assert any(part.get_content_type() == "image/png" for part in arrived.walk())


def inline_cid_images(message: EmailMessage) -> str:
    """The HTML part with each ``cid:`` reference replaced by its attachment, as a mail client shows it."""
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    for part in message.walk():
        cid = (part["Content-ID"] or "").strip("<>")
        if cid:
            data = base64.b64encode(part.get_content()).decode("ascii")
            html = html.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    assert "cid:" not in html  # every reference has its attachment
    return html


@pytest.fixture(scope="module")
def chromium():
    from pathlib import Path

    from test_report_browser import CHROMEDRIVER, CHROMIUM

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=800,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_the_email_renders_in_chromium_with_every_quote_and_image(data_team, chromium, tmp_path):
    from selenium.webdriver.common.by import By

    config = parse_notifications({"owners": {"@data-team": {"email": "data@ledgerly.example"}}})
    with smtp_server() as inbox:
        settings = Settings(_env_file=None, smtp_host=inbox.host, smtp_port=inbox.port, smtp_security="none")
        store = open_store(f"sqlite:///{tmp_path}/outbox.sqlite")
        outbox = Outbox(store.engine)
        queue_messages(outbox, email_digest_messages(data_team, settings))
        Sender(outbox, config, settings).drain()
        store.close()
    (arrived,) = inbox.messages  # what the SMTP server received, not what was rendered before sending
    page = tmp_path / "email.html"
    page.write_text(inline_cid_images(arrived), encoding="utf-8")
    chromium.get(page.resolve().as_uri())
    text = chromium.find_element(By.TAG_NAME, "body").text
    for quote in data_team.quotes:
        assert quote.item_id in text and quote.text[:40] in text
    images = chromium.execute_script(
        "return [...document.images].map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width])"
    )
    assert images and all(complete and natural > 0 and shown > 100 for complete, natural, shown in images)
    errors = [e for e in chromium.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    link = chromium.find_element(By.LINK_TEXT, "Open in the workbench").get_attribute("href")
    assert link == data_team.link
    assert re.search(r"\d+ feedback units routed to you", text)


def email_digest_messages(digest, settings):
    from feedback_nlp.notify.outbox import OutboxMessage

    message = digest_email(digest, settings.smtp_from, "data@ledgerly.example")
    return [
        OutboxMessage(digest.idempotency_key("email"), "digest", digest.owner, "email", message.as_string())
    ]


def test_report_send_dry_run_from_the_command_line(tiny_model_dir, tmp_path, capsys):
    from feedback_nlp.cli import main

    url = f"sqlite:///{tmp_path / 'feedback.sqlite'}"
    build_store().write(url).close()
    notifications = tmp_path / "notifications.yaml"
    notifications.write_text(
        "owners:\n  maya@ledgerly.example:\n    email: maya@ledgerly.example\n"
        "  '@identity-team':\n    slack_webhook_url_env: SLACK_IDENTITY\n",
        encoding="utf-8",
    )
    base = ["report", "--model", str(tiny_model_dir), "--database-url", url, "--week", WEEK, "--out"]
    argv = [*base, str(tmp_path / "out"), "--send", "--dry-run", "--notifications", str(notifications)]
    assert main(argv) == 0
    written = sorted(p.name for p in (tmp_path / "out").glob("digest-*"))
    assert written == [
        f"digest-{WEEK}-identity-team-slack.json",
        f"digest-{WEEK}-maya_ledgerly.example-email.eml",
    ]
    capsys.readouterr()
    # --send without the owners' channels: a message naming the option and the setting, before any work
    assert main([*base, str(tmp_path / "out2"), "--send"]) == 2
    err = capsys.readouterr().err
    assert "--notifications" in err and "FEEDBACK_NLP_NOTIFICATIONS_FILE" in err and "Traceback" not in err
    assert not (tmp_path / "out2").exists()


def test_a_multi_line_quote_stays_one_block_quote():
    from feedback_nlp.notify.render_slack import quote

    assert quote("first line\nsecond <b>") == ">first line\n>second &lt;b&gt;"


def test_report_send_delivers_through_the_outbox(tiny_model_dir, tmp_path, capsys, monkeypatch):
    from feedback_nlp.cli import main
    from feedback_nlp.settings import get_settings

    url = f"sqlite:///{tmp_path / 'feedback.sqlite'}"
    build_store().write(url).close()
    notifications = tmp_path / "notifications.yaml"
    notifications.write_text("owners:\n  maya@ledgerly.example:\n    email: maya@ledgerly.example\n")
    argv = ["report", "--model", str(tiny_model_dir), "--database-url", url, "--week", WEEK]
    argv += ["--out", str(tmp_path / "out"), "--send", "--notifications", str(notifications)]
    with smtp_server() as inbox:
        for name, value in {"HOST": inbox.host, "PORT": str(inbox.port), "SECURITY": "none"}.items():
            monkeypatch.setenv(f"FEEDBACK_NLP_SMTP_{name}", value)
        get_settings.cache_clear()
        try:
            assert main(argv) == 0
            assert "sent 1, retrying 0, dead 0" in capsys.readouterr().out
            assert main(argv) == 0  # the same week again: nothing new is queued or sent
            assert "0 newly queued; sent 0" in capsys.readouterr().out
        finally:
            get_settings.cache_clear()
    (arrived,) = inbox.messages
    assert arrived["To"] == "maya@ledgerly.example"
