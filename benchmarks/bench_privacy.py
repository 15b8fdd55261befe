"""Privacy benchmark: plant personal data in generated feedback, then look for it in everything kept.

``make bench-privacy`` generates several hundred tickets and call notes (seeded) with phone numbers, e-mails,
IBANs, card numbers, SSNs, URLs with tokens, street addresses and person names in several formats and
positions, plus product names and amounts that must survive. It then

1. runs the spaCy preparer's redaction on every text and checks each text's units and lemmas (per text);
2. trains a small model on the set (hashing embedder, for speed), with a requester e-mail and an agent name
   as extra columns, scores every text as the API and ``ingest`` do, writes the results to a SQLite store,
   and scans every file written (model folder: themes.json, neighbors.json, assignments, router.joblib and
   its TF-IDF vocabulary, quarantine, summary; the caches; the store; the weekly report), the scoring
   responses and the log.

A planted string counts as leaked if any of its fragments (the whole string, its digits without separators,
any 5+ digit group, each name word, the URL's token) appears as whole words anywhere. The artifact scan is
global, so a first name that leaks once counts against every plant of that name: recall there is a lower
bound. The table gives per type: planted, leaked, recall; and the share of planted product names and
amounts that were redacted by mistake.

Usage: python benchmarks/bench_privacy.py [--texts 420] [--seed 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import random
import re
import string
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

PATTERN_TYPES = ("phone_uk", "phone_intl", "email", "iban", "card", "ssn", "url_token")
NAME_TYPES = ("name_full", "name_lower", "name_first", "address", "meta_email", "meta_name")
GOALS = {**dict.fromkeys(PATTERN_TYPES, 0.99), **dict.fromkeys(NAME_TYPES, 0.95)}
GOALS["meta_email"] = 0.99

# -- generator -----------------------------------------------------------------------------------------------
# Feedback without personal data, in a few themes, so that training finds themes as on real data.
TOPICS = {
    "declines": [
        "my card was declined at the supermarket even though the balance is fine",
        "card payments keep getting declined abroad without any reason given",
        "the terminal said declined twice and then the payment went through",
    ],
    "export": [
        "the CSV export times out on large ledgers",
        "exporting transactions to a spreadsheet fails after a few minutes",
        "the monthly export is missing the last day of transactions",
    ],
    "sso": [
        "we need single sign-on for the admin console before renewal",
        "SSO login loops back to the sign-in page for new admins",
        "please add SAML support so staff can log in with company accounts",
    ],
    "topup": [
        "my top-up failed but the money left my bank account",
        "top-ups by bank transfer take three days to arrive",
        "the top-up limit is too low for paying suppliers at month end",
    ],
    "fees": [
        "I was charged a fee for a transfer that should be free",
        "the exchange rate on euro payments was much worse than expected",
        "there is an extra charge on the statement that nobody can explain",
    ],
    "verify": [
        "identity verification keeps rejecting the passport photo",
        "new directors cannot finish verification and the account is limited",
        "the app asks for verification documents again every week",
    ],
}
PRODUCTS = ("NetSuite", "QuickBooks", "Xero", "Apple Pay", "Google Pay", "Salesforce", "Okta", "Slack",
            "Zapier", "Excel", "Zendesk", "HubSpot", "Stripe", "Jira", "Shopify", "Teams")  # fmt: skip
PRODUCT_SENTENCES = ("It should sync with {p} too.", "{p} shows the same problem.", "We use {p} for this.",
                     "Ideally the fix lands in {p} as well.", "They compared it with {p}.")  # fmt: skip
AMOUNTS = ("$1,250.00", "€4,500", "12,000 EUR", "GBP 3,400", "£750.50", "USD 2,500,000", "$75k", "€ 19.99",
           "1,200,000 USD", "£12,345")  # fmt: skip
AMOUNT_SENTENCES = ("The amount was {a}.", "It concerns {a} this month.", "About {a} is stuck.")


def _words(text: str) -> list[str]:
    return text.split()


# The generator's own name pools: some names are in feedback_nlp/first_names.py and some are not.
FIRST_NAMES = _words(
    "Anna Bob Carlos Dana Elena Farid Greta Hiro Ines Jonas Keisha Lukas Mona Nadia Oskar Priya Quinn "
    "Rafael Sanjay Tanya Umar Valentina Wojciech Ximena Yusuf Zoe Aoife Bjorn Chiamaka Dmitri Eero "
    "Fionnuala Gustavo Hamid Ingrid Jorge Katarzyna Leilani Mateo Niamh Olumide Paolo Rashida Soren "
    "Tomasz Ulla Vikram Wanjiru Yara Zainab Beatriz Cormac Delphine Emeka Freya Giorgos Helga Imogen "
    "Jasper Kenji Ludmila Marisol Nikhil Orla Pieter Rosalind Stellan Thandiwe Ugo Vesna Wilhelmina Xiang "
    "Yevgenia Zdenek "
)
LAST_NAMES = _words(
    "Smith Garcia Okafor Lindqvist Nakamura Whitfield Moreau Kowalski Haddad Fischer Rossi Chen Novak "
    "Mensah Oyelaran Petrov Santos Brennan Castellano Duarte Eriksen Fontaine Gallagher Horvath Iqbal "
    "Jablonski Kariuki Laurent Mbeki Nilsson Ortega Papadopoulos Quigley Rahman Sorensen Takahashi "
    "Uchenna Varga Wexler Yilmaz Zielinski "
)
STREETS = _words(
    "Baker Elm Maple Oakfield Station Victoria Church Mill Kingsway Harbour Rosewood Linden Ashford "
    "Birchwood Cedar Hawthorn "
)
STREET_WORDS = ("Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Drive", "Way", "Close", "Boulevard")
CITIES = ("London", "Leeds", "Bristol", "Boston", "Denver", "Dublin", "Austin")
COMPANIES = ("acme-logistics.com", "northwind.io", "lakeshore.co.uk", "brightpath.org", "kitebank.de")

NAME_CUES_FIRST = ("Call {n} about this.", "Spoke with {n} yesterday.", "{n} said it started last week.",
                   "Hi {n}, here is the problem.", "Thanks {n}!", "{n} from finance asked about it.",
                   "Ask {n} for the details.", "{n} wants an answer by Friday.", "Please loop in {n}.",
                   "Regards, {n}")  # fmt: skip
NAME_CUES_LOWER = ("call {n} about the invoice.", "spoke with {n} about it.", "{n} said the same.",
                   "ask {n} for the receipts.", "hi {n}, quick one.")  # fmt: skip


@dataclass
class Plant:
    kind: str
    value: str
    record_id: str


@dataclass
class Generated:
    rows: list[dict] = field(default_factory=list)
    plants: list[Plant] = field(default_factory=list)
    products: list[Plant] = field(default_factory=list)  # kind "product" or "amount": must survive


def _luhn_complete(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits + "0")):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


def _iban(rng: random.Random) -> str:
    country, length = rng.choice((("GB", 22), ("DE", 22), ("FR", 27), ("NL", 18), ("ES", 24)))
    if country in ("GB", "NL"):
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
        bban += "".join(rng.choice(string.digits) for _ in range(length - 8))
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(length - 4))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _pii(kind: str, rng: random.Random) -> tuple[str, str]:
    """(text to plant, the value to look for)."""
    if kind == "phone_uk":
        value = rng.choice(
            (
                f"07700 {_digits(rng, 6)}",
                f"+44 20 7946 {_digits(rng, 4)}",
                f"+44 7700 {_digits(rng, 6)}",
                f"020 7946 {_digits(rng, 4)}",
                f"(0161) 496 {_digits(rng, 4)}",
                f"07{rng.randint(400, 999)}{_digits(rng, 6)}",
            )
        )
    elif kind == "phone_intl":
        value = rng.choice(
            (
                f"+49 30 {_digits(rng, 7)}",
                f"+33 1 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
                f"+1 415 555 {_digits(rng, 4)}",
                f"(415) 555-{_digits(rng, 4)}",
                f"+31 20 {_digits(rng, 3)} {_digits(rng, 4)}",
                f"+353 1 {_digits(rng, 3)} {_digits(rng, 4)}",
                f"212.555.{_digits(rng, 4)}",
            )
        )
    elif kind == "email":
        first, last = rng.choice(FIRST_NAMES).lower(), rng.choice(LAST_NAMES).lower()
        local = rng.choice(
            (f"{first}.{last}", f"{first[0]}{last}", f"{first}+billing", f"{last}{rng.randint(1, 99)}")
        )
        value = f"{local}@{rng.choice(COMPANIES)}"
    elif kind == "iban":
        compact = _iban(rng)
        value = (
            compact if rng.random() < 0.5 else " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
        )
    elif kind == "card":
        digits = _luhn_complete(
            rng.choice(("4", "51", "55", "37")) + _digits(rng, 13 if rng.random() < 0.8 else 12)
        )
        if len(digits) == 16:
            sep = rng.choice((" ", "-", ""))
            value = sep.join(digits[i : i + 4] for i in range(0, 16, 4))
        else:
            value = digits
    elif kind == "ssn":
        area = rng.choice([n for n in range(1, 900) if n != 666])
        value = f"{area:03d}{rng.choice('- ')}{rng.randint(1, 99):02d}"
        value = f"{value}{value[3]}{rng.randint(1, 9999):04d}"
    elif kind == "url_token":
        token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))
        value = rng.choice(
            (
                f"www.example.com/reset?token={token}",
                f"https://app.ledgerly.example/login?session={token}",
                f"portal.northwind.io/verify?code={token}",
                f"http://links.example.org/t/{token}",
            )
        )
        return value, value
    elif kind == "address":
        number = f"{rng.randint(1, 2400)}{rng.choice(['', '', 'B'])}"
        street = f"{rng.choice(STREETS)} {rng.choice(STREET_WORDS)}"
        value = f"{number} {street}"
        if rng.random() < 0.5:
            value += f", {rng.choice(CITIES)}"
        if rng.random() < 0.3:
            value = value.lower()
        return value, value
    elif kind == "name_full":
        value = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    elif kind == "name_lower":
        value = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}".lower()
    elif kind == "name_first":
        value = rng.choice(FIRST_NAMES)
    else:
        raise ValueError(kind)
    return value, value


_PLANT_SENTENCES = {
    "phone_uk": ("Call me back on {v}.", "My number is {v}", "Reach the office on {v} after 5."),
    "phone_intl": ("Our Berlin desk is on {v}.", "Phone: {v}", "Ring {v} if it happens again."),
    "email": ("Reach me at {v}.", "Reply to {v} please", "Contact: {v}"),
    "iban": ("My IBAN is {v}.", "Pay it back to {v} please.", "Account {v} was debited twice."),
    "card": ("Card number {v} in case you need it.", "The card {v} was charged.", "card {v}"),
    "ssn": ("My SSN is {v} for the form.", "SSN {v}", "The form asks for {v}, my social security number."),
    "url_token": ("The reset link {v} does not work.", "Go to {v} and it errors.", "Link: {v}"),
    "address": ("Send the new card to {v}.", "We moved to {v} last month.", "Billing address is {v}."),
    "name_full": (
        "Call {v} about this.",
        "{v} from finance asked about it.",
        "Spoke with {v} today.",
        "This is {v}, the controller.",
        "{v} said it started last week.",
    ),  # fmt: skip
}


def generate(n_texts: int, seed: int) -> Generated:
    """Tickets (one request) and call notes (several, with small talk), each with planted personal data."""
    rng = random.Random(seed)
    out = Generated()
    kinds = [*PATTERN_TYPES, "address", "name_full", "name_lower", "name_first"]
    start = datetime(2026, 9, 1, tzinfo=UTC)
    for i in range(n_texts):
        is_note = i % 3 == 2
        record_id = f"{'CALL' if is_note else 'TCK'}-{i:05d}"
        topics = rng.sample(list(TOPICS), 3 if is_note else 1)
        sentences = [rng.choice(TOPICS[t]).capitalize() + "." for t in topics]
        for kind in rng.sample(kinds, 3 if is_note else 2):
            planted, value = _pii(kind, rng)
            if kind == "name_first":
                sentence = rng.choice(NAME_CUES_FIRST).format(n=planted)
            elif kind == "name_lower":
                sentence = rng.choice(NAME_CUES_LOWER).format(n=planted)
            else:
                sentence = rng.choice(_PLANT_SENTENCES[kind]).format(v=planted)
            # positions: first sentence, between requests, or last
            sentences.insert(rng.randint(0, len(sentences)), sentence)
            out.plants.append(Plant(kind, value, record_id))
        if rng.random() < 0.5:
            product = rng.choice(PRODUCTS)
            sentences.insert(rng.randint(0, len(sentences)), rng.choice(PRODUCT_SENTENCES).format(p=product))
            out.products.append(Plant("product", product, record_id))
        if rng.random() < 0.5:
            amount = rng.choice(AMOUNTS)
            sentences.insert(rng.randint(0, len(sentences)), rng.choice(AMOUNT_SENTENCES).format(a=amount))
            out.products.append(Plant("amount", amount, record_id))
        if is_note:
            sentences.insert(0, "Good call with the finance team, they just got back from holiday.")
            sentences.append("Next check-in in two weeks.")
        text = ("\n- " if is_note and rng.random() < 0.5 else " ").join(sentences)
        meta_email, _ = _pii("email", rng)
        meta_name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        out.plants.append(Plant("meta_email", meta_email, record_id))
        out.plants.append(Plant("meta_name", meta_name, record_id))
        out.rows.append(
            {
                "id": record_id,
                "text": text,
                "source": "call_note" if is_note else "ticket",
                "created_at": (start + timedelta(minutes=37 * i)).isoformat(),
                "account_id": f"ACC-{rng.randint(1, 60):04d}",
                "requester_email": meta_email,
                "agent": meta_name,
                "priority": rng.choice(("low", "normal", "high")),
            }
        )
    return out


# -- leak detection ------------------------------------------------------------------------------------------
def _norm(text: str) -> str:
    """Lower case, every run of other characters one space, padded: whole-word search with ``in``."""
    return " " + re.sub(r"[^0-9a-z]+", " ", text.lower()).strip() + " "


def fragments(plant: Plant) -> list[str]:
    """Normalised pieces of a planted value whose presence anywhere means it leaked."""
    value = plant.value
    pieces = {_norm(value)}
    digits = re.sub(r"\D", "", value)
    if plant.kind in ("phone_uk", "phone_intl", "iban", "card", "ssn"):
        pieces.add(f" {digits} ")
        pieces |= {f" {group} " for group in re.findall(r"\d{5,}", value)}
        if plant.kind == "iban":
            pieces.add(_norm(value.replace(" ", "")))
        if plant.kind in ("card", "ssn"):  # the last two groups, the part a reader would recognise
            groups = re.findall(r"\d+", value)
            if len(groups) >= 2:
                pieces.add(f" {groups[-2]} {groups[-1]} ")
    elif plant.kind in ("name_full", "name_lower", "name_first", "meta_name"):
        pieces |= {f" {word} " for word in value.lower().split() if len(word) >= 3}
    elif plant.kind in ("email", "meta_email"):
        pass  # the whole address: its local part is often a planted name too, counted under names
    elif plant.kind == "url_token":
        pieces = {_norm(re.split(r"[=/]", value)[-1])}
    elif plant.kind == "address":
        street = re.sub(r"^\d+\w?\s+", "", value.split(",")[0])
        pieces = {_norm(value.split(",")[0]), _norm(street)}
    return sorted(p for p in pieces if p.strip())


def _leaks(plants: list[Plant], documents: dict[str, str], specific: bool = False) -> dict[int, set[str]]:
    """For each plant (by index), the documents that hold one of its fragments (``specific``: only fragments
    that name this plant, not a surname or first name shared with other plants)."""
    normalised = {name: _norm(text) for name, text in documents.items()}
    found: dict[int, set[str]] = defaultdict(set)
    for index, plant in enumerate(plants):
        pieces = fragments(plant)
        if specific and plant.kind in ("name_full", "name_lower", "meta_name"):
            pieces = [_norm(plant.value)]
        for frag in pieces:
            for name, text in normalised.items():
                if frag in text:
                    found[index].add(name)
    return found


def _plain(value):
    if is_dataclass(value):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if getattr(value, "size", 1) != 1:
        return None  # a unit's encoder vector (UnitScore.vector): numbers only, and never served by the API
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str):
        return value.item()
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _file_text(path: Path) -> str:
    data = path.read_bytes()
    # pickles and SQLite pages hold strings as UTF-8 (or UTF-32 for numpy string arrays)
    return data.decode("utf-8", "ignore") + " " + data.decode("utf-32-le", "ignore")


def _router_vocabulary(model_dir: Path) -> str:
    from feedback_nlp.model import FeedbackModel

    model = FeedbackModel.load(model_dir)  # our own artifact, written by this run
    words: list[str] = []
    for vectorizer in getattr(model.router_.classifier_, "text_vectorizers_", None) or ():
        words.extend(vectorizer.vocabulary_)
    return "\n".join(words)


# -- run -----------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=420)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=15, help="leaked and wrongly redacted strings to list")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)

    from feedback_nlp.config import TrainingConfig
    from feedback_nlp.ingest import Quarantine, iter_feedback
    from feedback_nlp.model import FeedbackModel
    from feedback_nlp.pipeline import train
    from feedback_nlp.prepare import TextPreparer
    from feedback_nlp.report import compute_report, load_model_info, write_report
    from feedback_nlp.report.compute import latest_week_with_data, parse_week
    from feedback_nlp.store import open_store

    started = time.perf_counter()
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)

    data = generate(args.texts, args.seed)
    work = args.out or Path(tempfile.mkdtemp(prefix="bench-privacy-"))
    work.mkdir(parents=True, exist_ok=True)
    feedback = work / "feedback.csv"
    with open(feedback, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data.rows[0]))
        writer.writeheader()
        writer.writerows(data.rows)
    roadmap = REPO_ROOT / "examples" / "roadmap.yaml"

    # 1. the preparer on every text: each text's own units and lemmas
    records = list(iter_feedback([feedback], Quarantine()))
    preparer = TextPreparer()
    prepared = preparer.prepare(records)
    # the whole text redacted (sentences a call note drops as small talk included), the units, their lemmas
    # and the metadata: what the redactor let through for this text
    redacted = {r.id: preparer.redact(r.text) for r in records}
    per_text = {
        r.id: " ".join(u.unit.text for u in units) + " " + " ".join(" ".join(u.lemmas) for u in units)
        + " " + json.dumps(r.metadata) + " " + redacted[r.id]
        for r, units in zip(records, prepared)
    }  # fmt: skip
    text_leaks = {
        i
        for i, plant in enumerate(data.plants)
        if any(frag in _norm(per_text[plant.record_id]) for frag in fragments(plant))
    }
    false_redactions = [p for p in data.products if _norm(p.value) not in _norm(redacted[p.record_id])]

    # 2. a small real training run, scoring as the API and ingest do, the store, and a scan of it all
    config = TrainingConfig(
        encoder="hashing",
        cache_dir=str(work / "cache"),
        min_themes=3,
        max_themes=12,
        min_theme_size=5,
        min_similarity=0.05,
        roadmap_threshold=0.15,
        default_owner="triage@ledgerly.example",
    )
    models_dir = work / "models"
    model_dir = train([feedback], roadmap, models_dir, config, preparer=preparer, force=True).path
    model = FeedbackModel.load(model_dir)
    scores = model.score(records)
    store = open_store(f"sqlite:///{work / 'feedback.sqlite'}")
    try:
        store.upsert_scored_batch(list(zip(records, scores)))
        # the weekly report of the data's latest week: its quotes, accounts and owners are scanned too
        week = latest_week_with_data(store.engine, parse_week("2099-W52"))
        if week is not None:
            report = compute_report(store.engine, load_model_info(models_dir), week)
            write_report(report, work / "reports")
    finally:
        store.close()

    documents = {"api responses": json.dumps(_plain(scores)), "log": log.getvalue()}
    try:
        documents["router.joblib vocabulary"] = _router_vocabulary(model_dir)
    except Exception as exc:  # the scan of the raw file below still covers router.joblib
        logging.getLogger(__name__).warning("router vocabulary not read: %s", exc)
    for path in sorted(p for p in work.rglob("*") if p.is_file() and p != feedback):
        documents[str(path.relative_to(work))] = _file_text(path)
    artifact_leaks = _leaks(data.plants, documents, specific=True)
    elapsed = time.perf_counter() - started

    # 3. the table
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, plant in enumerate(data.plants):
        by_kind[plant.kind].append(i)
    print(f"{len(data.rows)} texts ({sum(r['source'] == 'call_note' for r in data.rows)} call notes), "
          f"{len(data.plants)} planted strings, seed {args.seed}, {elapsed:.0f} s")  # fmt: skip
    print()
    print(
        "| type | planted | leaked (preparer, per text) | leaked (anywhere written or served) "
        "| recall | goal |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for kind in (*PATTERN_TYPES, *NAME_TYPES):
        indices = by_kind.get(kind, [])
        if not indices:
            continue
        leaked_text = sum(i in text_leaks for i in indices)
        leaked_any = sum(i in artifact_leaks or i in text_leaks for i in indices)
        recall = 1 - leaked_any / len(indices)
        goal = GOALS[kind]
        verdict = "met" if recall >= goal else "MISSED"
        print(
            f"| {kind} | {len(indices)} | {leaked_text} | {leaked_any} | {recall:.3f} | >= {goal} {verdict} |"
        )
    for kind in ("product", "amount"):
        planted = [p for p in data.products if p.kind == kind]
        wrong = [p for p in false_redactions if p.kind == kind]
        rate = len(wrong) / max(1, len(planted))
        print(f"| false redactions: {kind} names | {len(planted)} | {len(wrong)} | | {rate:.3f} | <= 0.01 "
              f"{'met' if rate <= 0.01 else 'MISSED'} |")  # fmt: skip
    where: dict[str, int] = defaultdict(int)
    for names in artifact_leaks.values():
        for name in names:
            where[name] += 1
    if where:
        print()
        print("where leaks were found:", ", ".join(f"{name} {n}" for name, n in sorted(where.items())))
    leaked_examples = [data.plants[i] for i in sorted(set(artifact_leaks) | text_leaks)][: args.show]
    for plant in leaked_examples:
        print(f"  leaked {plant.kind}: {plant.value!r} ({plant.record_id}): {redacted[plant.record_id]!r}")
    for plant in false_redactions[: args.show]:
        print(f"  redacted by mistake: {plant.kind} {plant.value!r}: {redacted[plant.record_id]!r}")
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
