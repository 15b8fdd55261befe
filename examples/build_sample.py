#!/usr/bin/env python3
"""Build the bundled demo data set of feedback-nlp for the fictional spend-management platform "Ledgerly".

Reads the Banking77 training split (real customer queries to an online bank, CC-BY-4.0) and writes:

    examples/accounts.csv                  80 made-up business customers with segment and ARR
    examples/feedback/tickets.csv          1,200 support tickets (verbatim Banking77 texts)
    examples/feedback/call_notes.jsonl     120 made-up sales / customer-success call notes
    examples/feedback/legacy_export.csv    15 rows from an "old helpdesk", 7 of them deliberately broken
    examples/roadmap.yaml                  24 roadmap items
    examples/LICENSE-banking77.txt         copy of the Banking77 licence

Usage:
    python examples/build_sample.py [--banking77 PATH/TO/train.csv] [--out-dir examples]

The output is deterministic: seeded ``random.Random`` generators (seed 20261127) drive every choice,
inputs are read in file order and no set/dict iteration depends on string hashing, so re-running gives
byte-identical files.
Standard library + pandas + pyyaml only.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

import pandas as pd
import yaml

SEED = 20261127
DEFAULT_BANKING77 = Path("/work/shared/data/banking77/train.csv")
DEFAULT_OUT_DIR = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------------------------
# Time window: ISO weeks 2026-W36 .. 2026-W47 (Mon 2026-08-31 00:00Z .. Sun 2026-11-22 23:59:59Z).
# ---------------------------------------------------------------------------------------------------------
WEEK0 = datetime(2026, 8, 31, tzinfo=UTC)
N_WEEKS = 12
RELEASE_DATE = "2026-11-09"  # Ledgerly 4.12 (start of ISO week 2026-W46): the cause of the rising intents
RELEASE_WEEK = 10  # index of 2026-W46
# call-note phrasings that blame a recent update are only used from the release week on
POST_RELEASE = re.compile(r"since the (last|new|update)")

N_TICKETS = 1200
N_NOTES = 120
N_PII = 25

# ---------------------------------------------------------------------------------------------------------
# Intents used for tickets: number of tickets per intent (35 of the 77 Banking77 intents, uneven weights).
# ---------------------------------------------------------------------------------------------------------
TICKET_COUNTS: dict[str, int] = {
    # cards: delivery, activation, ordering, problems
    "card_arrival": 70,
    "card_delivery_estimate": 28,
    "activate_my_card": 72,  # rising
    "order_physical_card": 24,
    "card_not_working": 32,
    "declined_card_payment": 66,
    "pin_blocked": 24,
    "lost_or_stolen_card": 26,
    "compromised_card": 18,
    "apple_pay_or_google_pay": 40,  # fading
    "getting_virtual_card": 5,  # mainly in call notes
    # card payments, FX, fees, refunds
    "card_payment_not_recognised": 58,
    "transaction_charged_twice": 70,  # rising
    "pending_card_payment": 44,
    "card_payment_fee_charged": 54,
    "card_payment_wrong_exchange_rate": 60,
    "exchange_rate": 24,
    "extra_charge_on_statement": 30,
    "direct_debit_payment_not_recognised": 26,
    "request_refund": 38,
    "Refund_not_showing_up": 40,
    # top-ups and transfers
    "top_up_failed": 68,  # rising
    "top_up_limits": 4,  # mainly in call notes
    "automatic_top_up": 20,
    "transfer_not_received_by_recipient": 52,
    "pending_transfer": 30,
    "transfer_fee_charged": 30,
    "beneficiary_not_allowed": 20,
    # account and identity
    "verify_my_identity": 20,
    "unable_to_verify_identity": 22,
    "passcode_forgotten": 40,  # fading
    "edit_personal_details": 22,
    "terminate_account": 20,
    "country_support": 3,  # mainly in call notes
}

RISING: dict[str, list[float]] = {
    "activate_my_card": [1.0] * 10 + [5.5, 7.0],
    "top_up_failed": [1.0] * 10 + [4.5, 6.5],
    "transaction_charged_twice": [1.0] * 10 + [5.0, 6.0],
}
FADING: dict[str, list[float]] = {
    # Self-serve passcode reset shipped 2026-09-21 (RM-15)
    "passcode_forgotten": [2.4, 2.3, 2.1, 1.8, 1.5, 1.1, 0.8, 0.55, 0.4, 0.3, 0.25, 0.2],
    # Apple Pay / Google Pay for business cards shipped 2026-09-28 (RM-14)
    "apple_pay_or_google_pay": [2.0, 2.2, 2.0, 1.9, 1.4, 0.9, 0.6, 0.45, 0.35, 0.3, 0.2, 0.2],
}
NOTES_MAINLY = ["top_up_limits", "country_support", "getting_virtual_card"]
NOTES_ONLY = ["erp_sync", "sso_saml"]  # not Banking77 intents; labels used only in call_notes topics

# Texts that would give evidence to the deliberately unsupported roadmap items are not sampled.
EXCLUDE_TEXT = re.compile(r"\b(receipts?|invoices?|dark mode|languages?|ocr)\b", re.IGNORECASE)

HIGH_PRIORITY = [
    "compromised_card",
    "lost_or_stolen_card",
    "transaction_charged_twice",
    "card_payment_not_recognised",
    "transfer_not_received_by_recipient",
    "unable_to_verify_identity",
    "top_up_failed",
    "direct_debit_payment_not_recognised",
    "activate_my_card",
]
LOW_PRIORITY = [
    "card_delivery_estimate",
    "exchange_rate",
    "edit_personal_details",
    "order_physical_card",
    "apple_pay_or_google_pay",
    "country_support",
    "top_up_limits",
    "getting_virtual_card",
    "automatic_top_up",
]

# ---------------------------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------------------------
SEGMENT_COUNTS = [("smb", 44), ("mid_market", 26), ("enterprise", 10)]
ARR_PARAMS = {  # (median, sigma, low, high, rounding)
    "smb": (12_000, 0.5, 5_000, 30_000, 100),
    "mid_market": (65_000, 0.5, 30_000, 150_000, 500),
    "enterprise": (380_000, 0.7, 150_000, 1_200_000, 1_000),
}
NAME_PREFIXES = [
    "Alder",
    "Bluefin",
    "Brightwater",
    "Cedar Point",
    "Copperline",
    "Driftwood",
    "Ember",
    "Fairhaven",
    "Foxglove",
    "Granite Peak",
    "Harborview",
    "Ironbark",
    "Juniper",
    "Kestrel",
    "Lakeshore",
    "Larkspur",
    "Meridian Bay",
    "Mosswood",
    "Northgate",
    "Oakridge",
    "Pinecrest",
    "Quarry Lane",
    "Redfern",
    "Riverbend",
    "Saltmarsh",
    "Silverleaf",
    "Stonebridge",
    "Summit Ridge",
    "Tidewater",
    "Tamarack",
    "Upland",
    "Verdant",
    "Westbrook",
    "Willowmere",
    "Yellowpine",
    "Zephyr",
    "Aster",
    "Bramble",
    "Cobalt",
    "Dovetail",
    "Elmstead",
    "Fernhill",
    "Glasshouse",
    "Halcyon",
    "Indigo Field",
    "Lantern",
    "Marigold",
    "Nettlefield",
    "Orchard Row",
    "Palisade",
]
NAME_SUFFIXES = {
    "smb": [
        "Coffee Roasters",
        "Design Studio",
        "Dental Group",
        "Bakery",
        "Landscaping",
        "Architects",
        "Yoga Studio",
        "Bike Works",
        "Print Shop",
        "Veterinary Clinic",
        "Catering",
        "Consulting",
        "Brewing Co.",
        "Florists",
        "Photography",
        "Plumbing",
        "Physio",
        "Creative",
    ],
    "mid_market": [
        "Logistics",
        "Analytics",
        "Health",
        "Robotics",
        "Software",
        "Foods",
        "Staffing",
        "Engineering",
        "Media",
        "Outdoor Gear",
        "Biotech",
        "Freight",
        "Security",
        "Learning",
    ],
    "enterprise": [
        "Holdings",
        "Group",
        "Industries",
        "Retail Group",
        "Manufacturing",
        "Hospitality Group",
        "Energy",
        "Pharmaceuticals",
        "Logistics Group",
        "Foods International",
    ],
}
FIRST_NAMES = [
    "Dana",
    "Marco",
    "Priya",
    "Elena",
    "Tom",
    "Amir",
    "Kenji",
    "Sofia",
    "Lukas",
    "Julia",
    "Omar",
    "Helena",
    "Diego",
    "Greta",
    "Rohan",
    "Chloe",
    "Samuel",
    "Ingrid",
    "Jamal",
    "Nora",
    "Felix",
    "Lucia",
    "Ben",
    "Amara",
    "Tobias",
    "Yuki",
    "Carmen",
    "Ethan",
    "Fatima",
    "Noah",
    "Zara",
    "Henrik",
    "Leah",
    "Mateus",
    "Olivia",
    "Arjun",
    "Claire",
    "Daniel",
    "Mei",
    "Patrick",
    "Rosa",
    "Sven",
    "Tariq",
    "Vera",
    "Wes",
    "Isabel",
    "Jonas",
    "Kavya",
    "Liam",
    "Nadia",
]
LAST_NAMES = [
    "Whitfield",
    "Raman",
    "Rossi",
    "Vasquez",
    "Brennan",
    "Okafor",
    "Tanaka",
    "Lindgren",
    "Novak",
    "Haddad",
    "Schmidt",
    "Castillo",
    "Nguyen",
    "Patel",
    "Murphy",
    "Kowalczyk",
    "Andersson",
    "Mensah",
    "Delgado",
    "Fischer",
    "Ibrahim",
    "Moreau",
    "Sato",
    "Kaplan",
    "Oduya",
    "Petrov",
    "Quinn",
    "Reyes",
    "Silva",
    "Thorne",
    "Varga",
    "Walsh",
    "Yilmaz",
    "Zimmer",
    "Abbott",
    "Byrne",
    "Costa",
    "Dubois",
    "Eriksen",
    "Ferraro",
]
ROLES = {
    "smb": ["Founder", "Office Manager", "Bookkeeper", "Operations Manager", "Owner"],
    "mid_market": [
        "Controller",
        "Head of Finance",
        "Finance Manager",
        "AP Manager",
        "Head of Operations",
        "IT Lead",
    ],
    "enterprise": [
        "CFO",
        "VP Finance",
        "Controller",
        "AP Manager",
        "Finance Ops Lead",
        "Head of Procurement",
        "IT Director",
    ],
}
ROLE_PHRASE = {
    "Founder": "the founder",
    "Owner": "the owner",
    "Office Manager": "their office manager",
    "Bookkeeper": "their bookkeeper",
    "Operations Manager": "their operations manager",
    "Controller": "their controller",
    "Head of Finance": "their head of finance",
    "Finance Manager": "their finance manager",
    "AP Manager": "the AP manager",
    "Head of Operations": "their head of operations",
    "IT Lead": "their IT lead",
    "CFO": "their CFO",
    "VP Finance": "their VP of Finance",
    "Finance Ops Lead": "their finance ops lead",
    "Head of Procurement": "their head of procurement",
    "IT Director": "their IT director",
}

# ---------------------------------------------------------------------------------------------------------
# Call notes: reps, topic weights and hand-written phrasings
# ---------------------------------------------------------------------------------------------------------
CSMS = ["Hannah Kowalski", "Mateo Ruiz", "Grace Lindqvist", "Ravi Menon"]
SALES_REPS = {
    "enterprise": ["Aisha Bello", "Jordan Reyes"],
    "mid_market": ["Jordan Reyes", "Connor Walsh"],
    "smb": ["Connor Walsh", "Lena Hoffmann"],
}
SUCCESS_SHARE = {"smb": 0.35, "mid_market": 0.55, "enterprise": 0.7}

NOTE_TOPIC_WEIGHTS: dict[str, float] = {
    "erp_sync": 6.0,
    "top_up_limits": 6.0,
    "sso_saml": 5.0,
    "getting_virtual_card": 5.0,
    "country_support": 4.0,
    "card_payment_wrong_exchange_rate": 3.0,
    "declined_card_payment": 2.5,
    "exchange_rate": 2.0,
    "card_payment_fee_charged": 2.0,
    "transfer_fee_charged": 2.0,
    "card_arrival": 2.0,
    "transaction_charged_twice": 2.0,
    "top_up_failed": 2.0,
    "activate_my_card": 2.0,
    "order_physical_card": 2.0,
    "automatic_top_up": 2.0,
    "card_payment_not_recognised": 1.5,
    "pending_card_payment": 1.5,
    "verify_my_identity": 1.5,
    "apple_pay_or_google_pay": 1.5,
    "transfer_not_received_by_recipient": 1.5,
    "extra_charge_on_statement": 1.5,
    "request_refund": 1.0,
    "Refund_not_showing_up": 1.0,
    "unable_to_verify_identity": 1.0,
    "passcode_forgotten": 1.0,
    "lost_or_stolen_card": 1.0,
    "compromised_card": 1.0,
    "pending_transfer": 1.0,
    "beneficiary_not_allowed": 1.0,
    "card_delivery_estimate": 1.0,
    "card_not_working": 1.0,
    "direct_debit_payment_not_recognised": 0.8,
    "terminate_account": 0.7,
}
SEGMENT_TOPIC_FACTOR = {
    ("smb", "sso_saml"): 0.0,
    ("smb", "erp_sync"): 0.5,
    ("smb", "top_up_limits"): 0.3,
    ("smb", "country_support"): 0.4,
    ("enterprise", "sso_saml"): 1.6,
    ("enterprise", "top_up_limits"): 1.4,
}

# Each entry is one topic mention: a sentence, or a list of 2 sentences. Placeholders are filled per note.
NOTE_PHRASES: dict[str, list] = {
    "card_arrival": [
        "{contact} said three of the cards for their new sales hires still haven't shown up after two weeks.",
        "New starters are waiting too long for physical cards; {role} had two people expense on personal "
        "cards "
        "while they waited.",
        "Card delivery came up again: the batch ordered at the start of the month still hasn't reached their "
        "{city} office.",
        [
            "Asked if there's any way to see where a shipped card is.",
            "They had to chase us twice this month for cards that never arrived.",
        ],
    ],
    "card_delivery_estimate": [
        "{Role} wants a realistic delivery date when ordering cards so they can plan onboarding for new "
        "hires.",
        "They'd like the order screen to say when a card will arrive instead of 'a few business days'.",
        "Asked how long cards take to get to {city}; they're onboarding a team there next month.",
    ],
    "activate_my_card": [
        "Several employees got their new cards but can't activate them since the last app update; the "
        "activation screen just spins.",
        "{contact} reported that activation fails for replacement cards, they get an error after entering "
        "the "
        "last four digits.",
        "Card activation has been a pain since the new flow went live, {role} counted {n} people stuck this "
        "week alone.",
        "Their admin had to raise a ticket for almost every new card because activation didn't go through on "
        "the first try.",
    ],
    "order_physical_card": [
        "They want to order physical cards for a whole cohort of new hires in one go instead of one by one.",
        "{Role} asked whether admins can order a physical card for someone who only has a virtual one today.",
        "Ordering replacement physical cards takes too many clicks for the admin; they do about {n} a month.",
        [
            "Onboarding {n} warehouse staff in {month}.",
            "{contact} wants to bulk-order plastic cards with the spending rules already set.",
        ],
    ],
    "declined_card_payment": [
        "Field team had cards declined at fuel stations twice last week with no reason shown, which is "
        "embarrassing in front of customers.",
        "{contact} is frustrated that declines don't say why; the employee just sees 'declined' and calls "
        "finance.",
        [
            "A {amount} payment to a supplier was declined even though the card had budget left.",
            "They want to understand which rule blocked it.",
        ],
        "Declines at hotels during their offsite were the main complaint from the travel team.",
    ],
    "card_not_working": [
        "A couple of cards stopped working overnight, no declines logged, just nothing at the terminal.",
        "{Role} mentioned a card that works online but not in shops; they've replaced it twice already.",
        "Some of their older cards just don't work at a few terminals around {city}.",
    ],
    "lost_or_stolen_card": [
        "One of their drivers lost a card on the road and it took too long to find how to freeze it from the "
        "admin side.",
        "{contact} wants a clearer 'card stolen' path for employees at night when no admin is around.",
        "Asked whether the replacement for a lost card can keep the same limits and merchant rules "
        "automatically.",
    ],
    "compromised_card": [
        "They had a card skimmed last month; {role} wants us to flag suspicious transactions faster.",
        "Fraud came up: {n} unknown charges on one card in a single evening before anyone noticed.",
        "{contact} asked what happens when a card number leaks, whether we reissue every card on that budget "
        "or just the one.",
    ],
    "apple_pay_or_google_pay": [
        "Employees keep asking about adding their company cards to Apple Pay; {contact} wanted to know if "
        "it's "
        "live for everyone yet.",
        "Google Pay support for the Android users on the sales team was a recurring ask.",
        "They'd like new hires to add the card to their phone wallet before the plastic arrives.",
    ],
    "getting_virtual_card": [
        "Big ask: a separate virtual card per vendor subscription so they can kill one without touching the "
        "others.",
        "{Role} wants employees to create virtual cards themselves for one-off online purchases, within a "
        "budget.",
        "They currently share one card for all their SaaS tools and want a virtual card per tool with its "
        "own "
        "limit.",
        "Asked if we can issue a virtual card the day a new hire starts, before the physical card ships.",
        [
            "Marketing pays for every ad platform on one card.",
            "{contact} wants a virtual card per platform so spend reconciles itself.",
        ],
        "Would roll out to the whole {team} team if they could hand out single-use virtual cards for "
        "conference bookings.",
        "{contact} asked how many virtual cards they can have open at once; they're thinking one per "
        "project.",
    ],
    "card_payment_not_recognised": [
        "Finance keeps seeing card payments nobody recognises because the merchant name is a cryptic "
        "processor "
        "string.",
        "{contact} spent half a day tracing a {amount} charge that turned out to be a legit software renewal "
        "billed under a different name.",
        "They want the merchant's real name and location on each transaction; the descriptors confuse the "
        "cardholders.",
    ],
    "transaction_charged_twice": [
        "They were charged twice for the same supplier payment this month and want to know who fixes it, us "
        "or "
        "the merchant.",
        "{Role} flagged duplicate charges on {n} cards since the update last week.",
        "Duplicate transactions are showing up in their export, which breaks reconciliation.",
        "{contact} said a hotel booking went through twice and the second charge is still there.",
    ],
    "pending_card_payment": [
        "Payments stay pending for days, so budgets look used up when they aren't.",
        "{Role} asked why card payments sit as pending so long; the team can't tell what has actually been "
        "spent.",
        "Pending hotel holds are eating into the travel budget for a week or more.",
    ],
    "card_payment_fee_charged": [
        "They were surprised by card fees on some payments and want to know exactly when fees apply.",
        "{contact} pushed back on the fee on foreign card payments; says competitors don't charge it at "
        "their "
        "tier.",
        "Asked for a monthly breakdown of card fees so they can allocate them to departments.",
    ],
    "card_payment_wrong_exchange_rate": [
        "Finance lead said the exchange rate on {ccy} card payments looked off again last month.",
        [
            "{contact} compared our rate on a {ccy} purchase with their bank's and ours was noticeably "
            "worse.",
            "Wants to understand why.",
        ],
        "The USD amounts on {ccy} card payments don't match what they expected from the day's rate.",
        "FX on card spend in {ccy} is the main complaint from their team abroad.",
        "{Role} thinks we applied the wrong conversion rate on a batch of {ccy} payments from their trip to "
        "{city}.",
    ],
    "exchange_rate": [
        "They'd like to see the exchange rate we'll use before someone pays in {ccy}.",
        "{Role} asked where to find our daily FX rates and markup for their auditors.",
        "Asked whether we can lock a rate for a few days on large {ccy} payments.",
    ],
    "extra_charge_on_statement": [
        "There's an extra charge on last month's statement they can't explain; {contact} wants a "
        "line-by-line "
        "breakdown.",
        "{Role} found small unexplained charges on the statement and asked what they are.",
        "The statement showed a charge nobody on their side could match to a transaction.",
    ],
    "request_refund": [
        "They want employees to request a refund from the merchant through us instead of emailing finance.",
        "{contact} asked how to get money back for a cancelled conference booking paid with a company card.",
        "Refund requests for returned equipment are a manual mess on their side.",
    ],
    "Refund_not_showing_up": [
        "A merchant refund from {weeks} weeks ago still hasn't shown up on the card; {role} is chasing it.",
        "Refunds take too long to appear and the employee's budget stays blocked in the meantime.",
        "{contact} asked why a refund the supplier confirmed isn't visible in the dashboard yet.",
    ],
    "top_up_failed": [
        "Top-ups from their operating account have been failing since the last release; {role} had to retry "
        "{n} times on {weekday}.",
        "{contact} said the top-up left their bank account but failed on our side, and the payroll cards ran "
        "dry.",
        "Failed top-ups are their biggest issue right now: no error message, the money just bounces back.",
        "They tried to top up before a big supplier run and it failed twice without explanation.",
    ],
    "top_up_limits": [
        ["They keep hitting the top-up limit when paying suppliers.", "Asked whether we can raise it."],
        "{Role} wants a higher daily top-up limit at month end; {amount} isn't enough for their supplier "
        "run.",
        "The top-up cap means they split funding over three days, which {contact} called a blocker for the "
        "expansion.",
        "Asked if larger accounts can get custom top-up limits; some days they move {amount}.",
        "Top-up limits came up again: they want a limit per entity, not one global cap.",
        "{contact} asked who to talk to about raising the account's top-up limit before the holiday season.",
        [
            "Month-end supplier payments don't fit under the current top-up limit.",
            "{Role} has been pre-funding a week early to work around it.",
        ],
    ],
    "automatic_top_up": [
        "They'd love automatic top-ups when the balance drops below a threshold so cards never run dry.",
        "{Role} asked whether auto top-up can pull from two different bank accounts.",
        "Auto top-up didn't trigger on {weekday}; they want an alert when it fails.",
    ],
    "transfer_not_received_by_recipient": [
        "A supplier says they never received a {amount} transfer that we show as completed.",
        "{contact} has a vendor in {country} still waiting on a transfer from {weeks} weeks ago.",
        "Transfers to contractors sometimes don't land and they can't prove to the recipient that it was "
        "sent.",
    ],
    "pending_transfer": [
        "Outgoing transfers sit in pending for days; {role} wants a status they can share with suppliers.",
        "They asked why a transfer has been pending since {weekday} and what they can tell the recipient.",
        "Pending transfers make it hard to know their real cash position at month end.",
    ],
    "transfer_fee_charged": [
        "They were charged a transfer fee they didn't expect on a payout to {country}.",
        "{contact} asked for transfer fees to be shown before they confirm a payment.",
        "Transfer fees on international payouts are adding up; they want a pricing sheet to share "
        "internally.",
    ],
    "verify_my_identity": [
        "New admins have to go through identity verification and {contact} asked why it's needed for each "
        "one.",
        "Onboarding stalled because two directors still need to verify their identity.",
        "{Role} asked which documents we accept for verifying their directors based outside the US.",
    ],
    "unable_to_verify_identity": [
        "Their CFO tried to verify ID three times and the app kept rejecting the passport photo.",
        "{contact} can't get through verification and the account is stuck in limited mode.",
        "Verification keeps failing for employees whose documents use non-Latin names.",
    ],
    "passcode_forgotten": [
        "Employees who forget their app passcode end up locked out and call the admin.",
        "{Role} asked how an employee resets a forgotten passcode without calling support.",
        "Forgotten passcodes created a lot of admin work during the onboarding wave.",
    ],
    "country_support": [
        "They're opening an office in {country} and asked if we can issue cards to employees there.",
        "{contact} asked when we'll support {country}; it's the blocker for rolling out to their subsidiary.",
        "Expansion to {country} came up: they'd move {n} more employees onto Ledgerly if we supported it.",
        "Their {country} team still uses a local bank card because we don't operate there yet.",
        "Asked for our country roadmap; {country} and {country2} are on their list for next year.",
        [
            "{Role} is hiring in {country} from January.",
            "Wants to know if cards and top-ups will work there.",
        ],
        # a promise to a parked roadmap item (a promise gap)
        "Promised them card issuing in {country} by March so the subsidiary can roll out.",
    ],
    "terminate_account": [
        "{contact} hinted they may close the account at renewal; they're looking at two competitors.",
        "Asked what the process is to close the account of a subsidiary that's being wound down.",
        "They want to close one of their two accounts and move everything to the main entity.",
    ],
    "beneficiary_not_allowed": [
        "Payments to a new supplier in {country} are blocked with 'beneficiary not allowed' and nobody can "
        "tell them why.",
        "{Role} couldn't add a contractor as a payee; the app says the beneficiary isn't allowed.",
        "They asked how to get a blocked beneficiary approved before their payment run on {weekday}.",
    ],
    "direct_debit_payment_not_recognised": [
        "A direct debit came out of the account that nobody recognises; {role} wants to know who set it up.",
        "{contact} found two direct debits from a company they've never heard of.",
        "Asked how to dispute a direct debit they didn't authorise.",
    ],
    # --- not Banking77 intents: product asks that only sales / success hear ---
    "erp_sync": [
        "Biggest ask again was a native {erp} sync; their AP team re-keys every card transaction at month "
        "end.",
        "Asked whether we sync with {erp}; right now they export CSVs and import them by hand.",
        "{contact} wants transactions to flow into {erp} with GL codes attached, otherwise the close takes "
        "an "
        "extra week.",
        "Would expand to their other entities if we had a two-way {erp} integration; said that's the "
        "blocker, "
        "not price.",
        "{Role} spends two days a month mapping our export to {erp} fields.",
        [
            "They moved to {erp} in the summer.",
            "Asked if memos and cost centres can sync along with each transaction.",
        ],
        # a promise the roadmap does not hold (an unplanned promise gap)
        "Told them the {erp} sync is coming in Q1; they're counting on it for the year-end close.",
    ],
    "sso_saml": [
        "IT won't approve the rollout to the rest of the company until the admin console supports SSO "
        "through "
        "{idp}.",
        "Their security review flagged that admins log in with password plus SMS; they need SAML SSO and "
        "SCIM "
        "provisioning.",
        "{contact} asked again about {idp} single sign-on for the admin console; it's on their vendor "
        "checklist.",
        "Their new CISO wants every finance tool behind {idp}, and we're one of the last ones without SAML.",
        "Offboarding is a risk for them without SSO; a leaver kept admin console access for a week.",
        "Asked for SAML SSO with role mapping so team leads get view-only access automatically.",
        # a renewal condition dated before the roadmap's target for SSO (a promise gap)
        "They renew only if SAML SSO through {idp} is live by January; {contact} called it a hard "
        "requirement.",
        # a plain, dated request: not a promise
        "They'd like SSO through {idp} by March, ideally.",
    ],
}

SUCCESS_OPENERS = [
    "Quarterly check-in with {contact} ({role_short}) and two people from AP.",
    "Monthly sync with {contact_full} and {contact2}.",
    "Renewal prep call with {contact_full}.",
    "Check-in with {contact}, who took over the account from {contact2} last month.",
    "QBR with {contact} and {contact2} from their finance team.",
    "Short call with {contact} to go through open issues.",
]
SALES_OPENERS = [
    "Expansion call with {contact_full} about rolling the cards out to the {team} team.",
    "Follow-up with {contact} and {contact2} after last week's demo.",
    "Pricing conversation with {contact} ({role_short}) ahead of renewal.",
    "Discovery call with {contact} about adding their {team} team.",
    "Upsell call with {contact_full}; they're growing headcount fast.",
]
SMALL_TALK = [
    "Good call, {contact2} just got back from paternity leave.",
    "They just closed a funding round and the mood was great.",
    "Spent the first few minutes hearing about {contact}'s trip to {city}.",
    "{contact} says hi to the team.",
    "{contact} was dialing in from the airport, so we kept it short.",
    "{contact2} is out on parental leave until {month}; {contact} is covering.",
    "Nice chat about the {city} marathon before we got started.",
    "{contact} is moving to their {city} office in {month}, so {contact2} will be our main contact.",
]
NEXT_STEPS = [
    "Thanks for the time, next check-in in two weeks.",
    "Next steps: I'll send the recap and book a follow-up for early {month}.",
    "Agreed to loop in their IT lead on the next call.",
    "Sending the recap to {email} today.",
    "Renewal is in {month}; will set up the QBR two weeks before.",
    "Follow-up booked for next {weekday}.",
    "Will share the notes internally and circle back by {weekday}.",
    "Next check-in moved to {month}; they're tied up with an audit until then.",
]
CONNECTORS = ["Also, ", "Separately, ", "On the product side, ", "Another thing: ", "Besides that, "]
KEEP_CASE_FIRST_WORDS = ["IT", "FX", "Google", "Apple", "SAML", "Ledgerly", "USD"]

CURRENCIES = ["EUR", "GBP", "CAD", "MXN", "SGD", "AUD", "CHF"]
CITIES = [
    "Austin",
    "Toronto",
    "Denver",
    "Lisbon",
    "Dublin",
    "Chicago",
    "Mexico City",
    "Atlanta",
    "Berlin",
    "Seattle",
    "Madrid",
    "Boston",
]
COUNTRIES = ["Mexico", "Brazil", "Singapore", "the UAE", "India", "Japan", "Australia", "Poland"]
ERPS = ["NetSuite", "Xero", "QuickBooks Online", "Sage Intacct", "Salesforce"]
IDPS = ["Okta", "Azure AD", "Google Workspace", "OneLogin"]
TEAMS = ["sales", "field ops", "marketing", "engineering", "customer success", "warehouse"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
AMOUNTS = {
    "smb": ["$4,500", "$6k", "$8,000", "$12k"],
    "mid_market": ["$25,000", "$40k", "$60,000", "$75k"],
    "enterprise": ["$120k", "$250,000", "$400k", "$1.2M"],
}

# ---------------------------------------------------------------------------------------------------------
# PII insertions into tickets (all made up; phone numbers from fictional ranges, card numbers are test PANs)
# ---------------------------------------------------------------------------------------------------------
PII_TEMPLATES = [
    ("suffix", "My email is {email}.", "email"),
    ("suffix", "Call me at {phone_us}.", "phone"),
    ("suffix", "Card number {pan} in case you need it.", "card number"),
    ("prefix", "This is {full} from finance.", "name"),
    ("suffix", "You can reach me on {phone_uk} or {email}.", "phone, email"),
    ("prefix", "Hi, {first} here from {company}.", "name, company"),
    ("suffix", "My IBAN is {iban}.", "IBAN"),
    ("suffix", "Thanks, {full} ({title}, {company}) {phone_us}", "name, phone"),
    ("suffix", "The card number is {pan}, it's under {full}.", "card number, name"),
    ("prefix", "{full} here, {title} at {company}.", "name"),
    ("suffix", "Please reply to {email} rather than my manager.", "email"),
    ("suffix", "My date of birth is {dob} if you need it for verification. {full}", "date of birth, name"),
]
PHONES_US = ["+1 415 555 0134", "(312) 555-0178", "+1-646-555-0102", "+1 512 555 0199", "(206) 555-0147"]
PHONES_UK = ["+44 20 7946 0958", "+44 7700 900123", "+44 161 496 0712"]
PANS = [
    "4111 1111 1111 1111",
    "5555 5555 5555 4444",
    "4000 0566 5566 5556",
    "4012 8888 8888 1881",
    "5105 1051 0510 5100",
]
IBANS = ["GB29 NWBK 6016 1331 9268 19", "DE89 3704 0044 0532 0130 00"]
EMPLOYEE_TITLES = ["AP specialist", "office manager", "finance analyst", "sales lead", "ops coordinator"]

TICKET_COLUMNS = [
    "id",
    "text",
    "source",
    "created_at",
    "account_id",
    "account_arr",
    "segment",
    "channel",
    "priority",
    "upstream_intent",
]
NOTE_KEYS = [
    "id",
    "text",
    "source",
    "created_at",
    "account_id",
    "account_arr",
    "segment",
    "channel",
    "author",
    "topics",
]

# ---------------------------------------------------------------------------------------------------------
# Roadmap
# ---------------------------------------------------------------------------------------------------------
ROADMAP_HEADER = """\
# Ledgerly product roadmap: sample for feedback-nlp (generated by examples/build_sample.py; edit the script).
# Every item has id, title, description, owner (email or @team handle), status (planned | in_progress |
# shipped | parked), keywords and an optional target quarter.
# The default owner for feedback that matches no item is NOT set here: default_owner is configured separately
# (triage@ledgerly.example in the training config).
"""
MAYA = "maya.chen@ledgerly.example"
TOMAS = "tomas.okafor@ledgerly.example"
LENA = "lena.brandt@ledgerly.example"
ROADMAP = [
    dict(
        id="RM-01",
        title="Live card delivery tracking",
        description="Show a tracking link and an estimated delivery date for every physical card we ship, "
        "in the app and in the admin console, and notify the cardholder when it is delivered.",
        owner=MAYA,
        status="in_progress",
        keywords=["card delivery", "tracking", "shipping", "arrival", "delivery estimate"],
        target="2026-Q4",
    ),
    dict(
        id="RM-02",
        title="Redesigned card activation flow",
        description="New in-app activation for physical and replacement cards, released with Ledgerly 4.12 "
        "on 2026-11-09. Cardholders activate with the last four digits and a one-time code.",
        owner=MAYA,
        status="shipped",
        keywords=["activate card", "activation", "new card", "replacement card"],
        target="2026-Q4",
    ),
    dict(
        id="RM-03",
        title="Clear decline reasons for cardholders",
        description="Tell the cardholder and the admin why a card payment was declined (budget, merchant "
        "rule, terminal problem) and what to do next.",
        owner="@payments-team",
        status="planned",
        keywords=["declined payment", "decline reason", "card not working", "terminal", "merchant"],
        target="2027-Q1",
    ),
    dict(
        id="RM-04",
        title="Transparent FX rates",
        description="Show the exchange rate and our markup before and after every foreign-currency card "
        "payment, and publish daily rates.",
        owner=TOMAS,
        status="in_progress",
        keywords=["exchange rate", "FX", "currency conversion", "markup", "foreign currency"],
        target="2027-Q1",
    ),
    dict(
        id="RM-05",
        title="Fee breakdown on every transaction",
        description="Itemise card, transfer and statement fees on each transaction and on the monthly "
        "statement so finance teams can explain every charge.",
        owner=TOMAS,
        status="planned",
        keywords=["fees", "card fee", "transfer fee", "statement", "charges"],
        target="2027-Q1",
    ),
    dict(
        id="RM-06",
        title="Enriched merchant names in the transaction feed",
        description="Replace processor descriptors with the merchant's real name, logo and location so "
        "cardholders recognise their payments.",
        owner="@payments-team",
        status="planned",
        keywords=["merchant name", "unrecognised payment", "descriptor", "transaction details"],
        target="2027-Q2",
    ),
    dict(
        id="RM-07",
        title="Duplicate charge detection and auto-reversal",
        description="Detect card payments captured twice and reverse the duplicate automatically, with a "
        "notice to the cardholder.",
        owner="@payments-team",
        status="planned",
        keywords=["charged twice", "duplicate charge", "double charge", "reversal"],
        target="2027-Q1",
    ),
    dict(
        id="RM-08",
        title="Refund tracking for card payments",
        description="Let cardholders request a refund from the merchant in the app and follow its status "
        "until the money is back on the card.",
        owner="@payments-team",
        status="in_progress",
        keywords=["refund", "refund status", "money back", "merchant refund"],
        target="2026-Q4",
    ),
    dict(
        id="RM-09",
        title="Top-up reliability and automatic retries",
        description="Retry failed top-ups from the funding bank account, explain the failure reason and "
        "alert the admin before cards run out of balance.",
        owner="@money-movement",
        status="planned",
        keywords=["top-up failed", "top up", "funding", "retry", "balance"],
        target="2027-Q1",
    ),
    dict(
        id="RM-10",
        title="Low-balance auto top-up rules",
        description="Top up the company balance automatically when it falls below a threshold the admin "
        "sets.",
        owner="@money-movement",
        status="shipped",
        keywords=["automatic top-up", "auto top up", "threshold", "low balance"],
        target="2026-Q3",
    ),
    dict(
        id="RM-11",
        title="Configurable top-up limits for larger accounts",
        description="Let admins request higher daily and monthly top-up limits, set per entity, with a "
        "same-day review for accounts above the standard tier.",
        owner="@money-movement",
        status="planned",
        keywords=["top-up limit", "limits", "raise limit", "supplier payments"],
        target="2027-Q2",
    ),
    dict(
        id="RM-12",
        title="Transfer status tracking for suppliers",
        description="Show where an outgoing transfer is, when it will arrive and a proof of payment that "
        "can be shared with the recipient.",
        owner="@money-movement",
        status="in_progress",
        keywords=["transfer status", "pending transfer", "transfer not received", "proof of payment"],
        target="2026-Q4",
    ),
    dict(
        id="RM-13",
        title="Instant freeze and replacement for lost or stolen cards",
        description="One-tap freeze for cardholders and admins, with a replacement card that keeps the old "
        "card's limits and rules.",
        owner=MAYA,
        status="shipped",
        keywords=["lost card", "stolen card", "freeze", "compromised", "replacement"],
        target="2026-Q3",
    ),
    dict(
        id="RM-14",
        title="Apple Pay and Google Pay for business cards",
        description="Add Ledgerly cards to Apple Pay and Google Pay wallets; rolled out to all accounts on "
        "2026-09-28.",
        owner=MAYA,
        status="shipped",
        keywords=["Apple Pay", "Google Pay", "mobile wallet", "phone"],
        target="2026-Q3",
    ),
    dict(
        id="RM-15",
        title="Self-serve passcode reset",
        description="Cardholders reset a forgotten app passcode with email and device verification instead "
        "of contacting support; shipped 2026-09-21.",
        owner="@identity-team",
        status="shipped",
        keywords=["passcode", "forgot passcode", "reset", "locked out"],
        target="2026-Q3",
    ),
    dict(
        id="RM-16",
        title="Faster business and identity verification",
        description="Shorter KYB/KYC for new admins and directors, more accepted documents and clear "
        "reasons when a verification fails.",
        owner="@identity-team",
        status="in_progress",
        keywords=["verify identity", "verification", "KYC", "documents", "passport"],
        target="2027-Q1",
    ),
    dict(
        id="RM-17",
        title="Virtual cards per vendor and subscription",
        description="Let admins and employees create virtual cards per vendor, subscription or project, "
        "each with its own limit and expiry.",
        owner=MAYA,
        status="planned",
        keywords=["virtual card", "vendor card", "subscription", "single-use"],
        target="2027-Q1",
    ),
    dict(
        id="RM-18",
        title="Bulk physical card ordering for new hires",
        description="Order physical cards for many employees at once from a CSV, with spending rules "
        "applied before the cards ship.",
        owner=MAYA,
        status="parked",
        keywords=["order card", "physical card", "bulk order", "new hires"],
    ),
    dict(
        id="RM-19",
        title="Explain pending card payments and authorisation holds",
        description="Show why a card payment is pending, how long the hold lasts and how it affects the "
        "remaining budget.",
        owner="@payments-team",
        status="planned",
        keywords=["pending payment", "authorisation hold", "pending", "budget"],
        target="2027-Q2",
    ),
    dict(
        id="RM-20",
        title="SAML single sign-on for the admin console",
        description="SSO for admins through SAML identity providers such as Okta and Azure AD, with SCIM "
        "provisioning and role mapping.",
        owner="@identity-team",
        status="planned",
        keywords=["SSO", "SAML", "single sign-on", "Okta", "SCIM"],
        target="2027-Q2",
    ),
    dict(
        id="RM-21",
        title="Card issuing in new countries",
        description="Issue Ledgerly cards and accept top-ups for employees based in additional countries, "
        "starting with Mexico and Singapore.",
        owner=LENA,
        status="parked",
        keywords=["countries", "country support", "international expansion", "local cards"],
    ),
    dict(
        id="RM-22",
        title="Dark mode",
        description="A dark theme for the web admin console and the mobile app.",
        owner=LENA,
        status="parked",
        keywords=["dark mode", "theme", "night", "display"],
    ),
    dict(
        id="RM-23",
        title="Receipt OCR for expense reports",
        description="Read amount, date and VAT from photographed receipts and attach them to the matching "
        "expense report automatically.",
        owner=LENA,
        status="planned",
        keywords=["receipt", "OCR", "expense report", "scan", "VAT"],
        target="2027-Q2",
    ),
    dict(
        id="RM-24",
        title="Multi-language invoices",
        description="Generate Ledgerly subscription invoices in French, German and Spanish.",
        owner=LENA,
        status="planned",
        keywords=["invoice", "language", "translation", "billing"],
        target="2027-Q3",
    ),
]


# =========================================================================================================
def fmt_ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def weighted_choice(rng: Random, items: list, weights: list[float]):
    return rng.choices(items, weights=weights, k=1)[0]


def random_time_in_week(
    rng: Random, week: int, *, weekend_weight: float = 0.12, business_share: float = 0.86
) -> datetime:
    day_weights = [1.0, 1.05, 1.0, 0.95, 0.85, weekend_weight, weekend_weight * 0.7]
    day = weighted_choice(rng, list(range(7)), day_weights)
    if rng.random() < business_share:  # business hours, peaks mid-morning and mid-afternoon
        hour = weighted_choice(rng, list(range(8, 19)), [3, 6, 8, 8, 6, 5, 7, 7, 6, 4, 2])
    else:
        hour = rng.randrange(24)
    minute, second = rng.randrange(60), rng.randrange(60)
    return WEEK0 + timedelta(days=7 * week + day, hours=hour, minutes=minute, seconds=second)


def slugify(name: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", name.lower().replace(" co.", ""))).strip("-")


def build_accounts(rng: Random) -> list[dict]:
    numbers = sorted(rng.sample(range(1, 400), 80))
    segments = [seg for seg, n in SEGMENT_COUNTS for _ in range(n)]
    rng.shuffle(segments)
    prefixes = list(NAME_PREFIXES)
    rng.shuffle(prefixes)
    prefixes += rng.sample(NAME_PREFIXES, len(NAME_PREFIXES))  # 50 prefixes, 80 accounts: some reused
    names_used: list[str] = []
    accounts = []
    for i, (number, seg) in enumerate(zip(numbers, segments)):
        while True:
            name = f"{prefixes[i]} {rng.choice(NAME_SUFFIXES[seg])}"
            if name not in names_used:
                break
        names_used.append(name)
        median, sigma, low, high, step = ARR_PARAMS[seg]
        while True:
            arr = rng.lognormvariate(math.log(median), sigma)
            if low <= arr <= high:
                break
        arr = int(round(arr / step) * step)
        contacts = []
        roles = rng.sample(ROLES[seg], 3)
        for role in roles:
            first = rng.choice([f for f in FIRST_NAMES if f not in [c["first"] for c in contacts]])
            contacts.append({"first": first, "last": rng.choice(LAST_NAMES), "role": role})
        accounts.append(
            {
                "account_id": f"ACC-{number:04d}",
                "name": name,
                "segment": seg,
                "account_arr": arr,
                "domain": slugify(name) + rng.choice([".com", ".com", ".io", ".co"]),
                "contacts": contacts,
            }
        )
    return accounts


def weekly_profile(intent: str, rng: Random) -> list[float]:
    if intent in RISING:
        return RISING[intent]
    if intent in FADING:
        return FADING[intent]
    return [rng.uniform(0.75, 1.25) for _ in range(N_WEEKS)]


def pick_priority(rng: Random, intent: str, segment: str) -> str:
    if intent in HIGH_PRIORITY:
        w = [0.1, 0.45, 0.45]
    elif intent in LOW_PRIORITY:
        w = [0.45, 0.5, 0.05]
    else:
        w = [0.2, 0.65, 0.15]
    if segment == "enterprise":
        w = [w[0] * 0.6, w[1], w[2] * 1.6]
    return weighted_choice(rng, ["low", "normal", "high"], w)


CHANNEL_WEIGHTS = {"smb": [0.2, 0.5, 0.3], "mid_market": [0.35, 0.4, 0.25], "enterprise": [0.5, 0.3, 0.2]}


def insert_pii(rng: Random, text: str, template: tuple, account: dict) -> str:
    where, pattern, _kind = template
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    values = {
        "first": first,
        "full": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}@{account['domain']}",
        "phone_us": rng.choice(PHONES_US),
        "phone_uk": rng.choice(PHONES_UK),
        "pan": rng.choice(PANS),
        "iban": rng.choice(IBANS),
        "company": account["name"],
        "title": rng.choice(EMPLOYEE_TITLES),
        "dob": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1965, 2001)}",
    }
    insertion = pattern.format(**values)
    if where == "prefix":
        return f"{insertion} {text}"
    sep = " " if text[-1:] in (".", "!", "?") else ". "
    return f"{text}{sep}{insertion}"


def build_tickets(rng: Random, b77: pd.DataFrame, accounts: list[dict]):
    by_intent: dict[str, list[str]] = {}
    for text, cat in zip(b77["text"].tolist(), b77["category"].tolist()):
        if cat in TICKET_COUNTS and not EXCLUDE_TEXT.search(text):
            by_intent.setdefault(cat, []).append(text)
    account_weights = [a["account_arr"] ** 0.6 for a in accounts]
    profiles: dict[str, list[float]] = {}
    used: dict[str, list[str]] = {}
    rows = []
    for intent, n in TICKET_COUNTS.items():
        texts = rng.sample(by_intent[intent], n)
        used[intent] = texts
        profile = weekly_profile(intent, rng)
        profiles[intent] = profile
        weeks = rng.choices(range(N_WEEKS), weights=profile, k=n)
        for text, week in zip(texts, weeks):
            acc = rng.choices(accounts, weights=account_weights, k=1)[0]
            rows.append(
                {
                    "text": text,
                    "source": "ticket",
                    "created_at": random_time_in_week(rng, week),
                    "account_id": acc["account_id"],
                    "account_arr": acc["account_arr"],
                    "segment": acc["segment"],
                    "channel": weighted_choice(
                        rng, ["email", "chat", "web_form"], CHANNEL_WEIGHTS[acc["segment"]]
                    ),
                    "priority": pick_priority(rng, intent, acc["segment"]),
                    "upstream_intent": intent,
                }
            )
    rows.sort(key=lambda r: (r["created_at"], r["text"]))
    for i, r in enumerate(rows, 1):
        r["id"] = f"TCK-{i:06d}"
    # PII insertions (synthetic), cycling through the templates
    acc_by_id = {a["account_id"]: a for a in accounts}
    pii_log = []
    candidates = [i for i, r in enumerate(rows) if r["text"] == r["text"].strip() and "\n" not in r["text"]]
    for k, idx in enumerate(sorted(rng.sample(candidates, N_PII))):
        template = PII_TEMPLATES[k % len(PII_TEMPLATES)]
        r = rows[idx]
        r["text"] = insert_pii(rng, r["text"], template, acc_by_id[r["account_id"]])
        pii_log.append((r["id"], template[2]))
    for r in rows:
        r["created_at"] = fmt_ts(r["created_at"])
    return rows, profiles, used, by_intent, pii_log


def capitalize_first(s: str) -> str:
    return s[:1].upper() + s[1:]


def lower_first(s: str, keep: list[str]) -> str:
    first_word = re.split(r"[\s,:;']", s, maxsplit=1)[0]
    if first_word in keep or first_word.isupper():
        return s
    return s[:1].lower() + s[1:]


def build_notes(rng: Random, accounts: list[dict], profiles: dict[str, list[float]]) -> list[dict]:
    # 10 notes per week, then move a few around for noise
    per_week = [N_NOTES // N_WEEKS] * N_WEEKS
    for _ in range(8):
        a, b = rng.randrange(N_WEEKS), rng.randrange(N_WEEKS)
        if per_week[a] > 7:
            per_week[a] -= 1
            per_week[b] += 1
    csm_of = {
        a["account_id"]: CSMS[i % len(CSMS)]
        for i, a in enumerate(sorted(accounts, key=lambda a: -a["account_arr"]))
    }
    account_weights = [a["account_arr"] ** 0.7 for a in accounts]
    topics_all = list(NOTE_TOPIC_WEIGHTS)
    decks: dict[str, list[int]] = {}

    def next_phrase(topic: str, week: int):
        for _ in range(2 * len(NOTE_PHRASES[topic]) + 1):
            if not decks.get(topic):
                order = list(range(len(NOTE_PHRASES[topic])))
                rng.shuffle(order)
                decks[topic] = order
            phrase = NOTE_PHRASES[topic][decks[topic].pop()]
            flat = phrase if isinstance(phrase, str) else " ".join(phrase)
            if week >= RELEASE_WEEK or not POST_RELEASE.search(flat):
                return phrase
        raise RuntimeError(f"no phrasing for {topic} before the release")

    def draw_from(pool: list[str], deck_key: str) -> str:
        if not decks.get(deck_key):
            order = list(range(len(pool)))
            rng.shuffle(order)
            decks[deck_key] = order
        return pool[decks[deck_key].pop()]

    notes = []
    for week, count in enumerate(per_week):
        for _ in range(count):
            acc = rng.choices(accounts, weights=account_weights, k=1)[0]
            seg = acc["segment"]
            channel = "success_call" if rng.random() < SUCCESS_SHARE[seg] else "sales_call"
            author = csm_of[acc["account_id"]] if channel == "success_call" else rng.choice(SALES_REPS[seg])
            created = random_time_in_week(rng, week, weekend_weight=0.0, business_share=1.0)
            c1, c2 = rng.sample(acc["contacts"], 2)
            later = [MONTHS[(created.month - 1 + d) % 12] for d in (1, 2, 3)]
            ctx = {
                "contact": c1["first"],
                "contact_full": f"{c1['first']} {c1['last']}",
                "contact2": c2["first"],
                "role_short": c1["role"].lower()
                if c1["role"] not in ("CFO", "AP Manager", "IT Lead", "IT Director", "VP Finance")
                else c1["role"],
                "role": ROLE_PHRASE[c2["role"]],
                "Role": capitalize_first(ROLE_PHRASE[c2["role"]]),
                "email": f"{c1['first'].lower()}.{c1['last'].lower()}@{acc['domain']}",
                "ccy": rng.choice(CURRENCIES),
                "city": rng.choice(CITIES),
                "erp": rng.choice(ERPS),
                "idp": rng.choice(IDPS),
                "team": rng.choice(TEAMS),
                "weekday": rng.choice(WEEKDAYS),
                "month": rng.choice(later),
                "n": rng.randint(3, 14),
                "weeks": rng.randint(2, 5),
                "amount": rng.choice(AMOUNTS[seg]),
            }
            ctx["country"], ctx["country2"] = rng.sample(COUNTRIES, 2)
            # topics
            k = weighted_choice(rng, [2, 3, 4], [0.35, 0.45, 0.2])
            weights = []
            for t in topics_all:
                w = NOTE_TOPIC_WEIGHTS[t] * SEGMENT_TOPIC_FACTOR.get((seg, t), 1.0)
                if t in profiles:
                    w *= profiles[t][week] / (sum(profiles[t]) / N_WEEKS)
                weights.append(w)
            topics: list[str] = []
            while len(topics) < k:
                t = rng.choices(topics_all, weights=weights, k=1)[0]
                if t not in topics:
                    topics.append(t)
            body: list[list[str]] = []
            for t in topics:
                phrase = next_phrase(t, week)
                sentences = [phrase] if isinstance(phrase, str) else list(phrase)
                body.append([s.format(**ctx) for s in sentences])
            n_body = sum(len(b) for b in body)
            # 1 or 2 sentences with no product feedback
            openers = SUCCESS_OPENERS if channel == "success_call" else SALES_OPENERS
            pattern = weighted_choice(
                rng,
                ["opener+next", "opener+talk", "talk+next", "next", "talk", "opener"],
                [0.3, 0.12, 0.2, 0.18, 0.1, 0.1],
            )
            if n_body == 2 and "+" not in pattern:
                pattern = "opener+next"
            if n_body + (2 if "+" in pattern else 1) > 9:
                pattern = "next"
            pre, post = [], []
            if pattern.startswith("opener"):
                pre.append(draw_from(openers, channel).format(**ctx))
            if pattern == "talk+next":
                pre.append(draw_from(SMALL_TALK, "talk").format(**ctx))
            if pattern.endswith("next"):
                post.append(draw_from(NEXT_STEPS, "next").format(**ctx))
            if pattern in ("talk", "opener+talk"):
                post.append(draw_from(SMALL_TALK, "talk").format(**ctx))
            n_sentences = len(pre) + n_body + len(post)
            assert 4 <= n_sentences <= 9, (n_sentences, topics)
            keep = KEEP_CASE_FIRST_WORDS + [c["first"] for c in acc["contacts"]]
            if rng.random() < 0.25:  # bullet style
                lines = []
                if pre and pattern.startswith("opener"):
                    lines.append(pre[0].rstrip(".") + ":")
                else:
                    lines += [f"- {s}" for s in pre]
                lines += [f"- {' '.join(b)}" for b in body]
                lines += [f"- {s}" for s in post]
                text = "\n".join(lines)
            else:
                parts = list(pre)
                for i, b in enumerate(body):
                    first = b[0]
                    if i > 0 and rng.random() < 0.3:
                        first = rng.choice(CONNECTORS) + lower_first(first, keep)
                    parts.append(" ".join([first] + b[1:]))
                text = " ".join(parts)
                if post:
                    text += ("\n\n" if rng.random() < 0.3 else " ") + " ".join(post)
            notes.append(
                {
                    "text": text,
                    "source": "call_note",
                    "created_at": created,
                    "account_id": acc["account_id"],
                    "account_arr": acc["account_arr"],
                    "segment": seg,
                    "channel": channel,
                    "author": author,
                    "topics": topics,
                }
            )
    notes.sort(key=lambda n: (n["created_at"], n["text"]))
    out = []
    for i, n in enumerate(notes, 1):
        n["id"] = f"CALL-{i:04d}"
        n["created_at"] = fmt_ts(n["created_at"])
        out.append({k: n[k] for k in NOTE_KEYS})
    return out


def csv_line(values: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def build_legacy(
    rng: Random,
    tickets: list[dict],
    used: dict[str, list[str]],
    by_intent: dict[str, list[str]],
    accounts: list[dict],
) -> tuple[bytes, list[tuple[int, str, str]]]:
    """15 rows from an old helpdesk; returns the file bytes and (line, id, defect) for the broken rows."""
    pool = []
    for intent in TICKET_COUNTS:
        if intent in NOTES_MAINLY:
            continue
        for t in by_intent[intent]:
            if t not in used[intent] and "\n" not in t and t.isascii():
                pool.append((intent, t))
    picks = rng.sample(pool, 14)
    # the over-long row is a "which of these payments is mine?" ticket with a pasted statement
    statement_pool = [t for i, t in pool if i == "card_payment_not_recognised" and (i, t) not in picks]
    picks[12] = ("card_payment_not_recognised", rng.choice(statement_pool))
    account_weights = [a["account_arr"] ** 0.6 for a in accounts]
    numbers = sorted(rng.sample(range(20000, 21000), 15))

    def good_row(intent: str, text: str) -> list:
        acc = rng.choices(accounts, weights=account_weights, k=1)[0]
        when = random_time_in_week(rng, rng.randrange(3), weekend_weight=0.0)  # W36-W38, before migration
        return [
            "",
            text,
            "ticket",
            fmt_ts(when),
            acc["account_id"],
            acc["account_arr"],
            acc["segment"],
            weighted_choice(rng, ["email", "web_form"], [0.7, 0.3]),
            pick_priority(rng, intent, acc["segment"]),
            intent,
        ]

    rows: list[list] = [good_row(intent, text) for intent, text in picks]
    long_base = rows[12]
    rows = sorted(rows[:12] + rows[13:], key=lambda r: r[3])
    rows.insert(11, long_base)  # becomes index 12 once the duplicate row is inserted at 8
    for i, row in enumerate(rows):
        row[0] = f"HD-{numbers[i]}"
    dup = tickets[41]  # TCK-000042 exported again by the old helpdesk
    # row order in the file (index into rows after insertion); defects replace/insert specific rows
    defects: list[tuple[int, str, str]] = []
    rows[2][0] = ""
    defects.append((2, "", "missing id"))
    rows[4][1] = ""
    defects.append((4, rows[4][0], "empty text"))
    rows[6][3] = "31/02/2026"
    defects.append((6, rows[6][0], "unparseable created_at (31/02/2026)"))
    rows.insert(8, [dup[c] for c in TICKET_COLUMNS])
    rows[8][7] = "email"
    defects.append((8, dup["id"], f"duplicate id (same ticket as {dup['id']} in tickets.csv)"))
    rows[10][5] = -rows[10][5]
    defects.append((10, rows[10][0], "negative account_arr"))
    # text over 20,000 characters: a ticket with a pasted statement export (one physical line)
    merchants = [
        "AMZN MKTP US",
        "UBER *TRIP",
        "SHELL 0412",
        "DELTA AIR 006",
        "MARRIOTT",
        "STAPLES 0183",
        "ZOOM.US",
        "WEWORK",
        "ADOBE *ACROPRO",
        "HERTZ RENT-A-CAR",
    ]
    base_text = rows[12][1]
    lines = []
    day = 0
    while len(base_text) + sum(len(x) + 3 for x in lines) < 21_000:
        day += 1
        lines.append(
            f"2026-09-{(day % 28) + 1:02d} CARD PAYMENT {rng.choice(merchants)} "
            f"-{rng.randint(3, 900)}.{rng.randint(0, 99):02d} USD "
            f"ref {rng.randint(10**8, 10**9 - 1)}"
        )
    sep = " " if base_text[-1:] in (".", "!", "?") else ". "
    rows[12][1] = base_text + sep + "Pasted from our statement export: " + " | ".join(lines)
    defects.append((12, rows[12][0], f"text of {len(rows[12][1]):,} characters (> 20,000)"))
    bad_idx = 13
    defects.append(
        (bad_idx, rows[bad_idx][0], "invalid UTF-8 bytes in text (0xE9, 0xE8 as Latin-1, and 0xFF 0xFE)")
    )
    out = io.BytesIO()
    out.write(csv_line(TICKET_COLUMNS).encode("utf-8"))
    for i, row in enumerate(rows):
        if i == bad_idx:
            row = list(row)
            row[1] = row[1] + " @@BAD,@@"  # the comma makes the writer quote the field
            line = csv_line(row).encode("utf-8").replace(b"@@BAD,@@", b"Merci, Ren\xe9e Lef\xe8vre \xff\xfe")
        else:
            line = csv_line(row).encode("utf-8")
        out.write(line)
    # line numbers: header is line 1, row i is line i + 2 (no row spans several lines)
    return out.getvalue(), [(i + 2, rid, what) for i, rid, what in defects]


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([r[c] for c in columns])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--banking77",
        type=Path,
        default=DEFAULT_BANKING77,
        help=f"Banking77 train.csv (text,category); default {DEFAULT_BANKING77}",
    )
    ap.add_argument(
        "--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output folder (default: examples/)"
    )
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    b77 = pd.read_csv(args.banking77, dtype=str, keep_default_na=False)
    missing = [c for c in TICKET_COUNTS if c not in set(b77["category"])]
    if missing:
        raise SystemExit(f"intents not in {args.banking77}: {missing}")
    assert sum(TICKET_COUNTS.values()) == N_TICKETS, sum(TICKET_COUNTS.values())
    assert all(t in NOTE_PHRASES for t in NOTE_TOPIC_WEIGHTS)
    assert all(t in TICKET_COUNTS or t in NOTES_ONLY for t in NOTE_TOPIC_WEIGHTS)
    # one seeded generator per output, so changing one part leaves the other files as they are
    rngs = {part: Random(SEED * 10 + k) for k, part in enumerate(["accounts", "tickets", "notes", "legacy"])}
    out = args.out_dir
    (out / "feedback").mkdir(parents=True, exist_ok=True)

    accounts = build_accounts(rngs["accounts"])
    write_csv(out / "accounts.csv", ["account_id", "name", "segment", "account_arr"], accounts)

    tickets, profiles, used, by_intent, pii_log = build_tickets(rngs["tickets"], b77, accounts)
    write_csv(out / "feedback" / "tickets.csv", TICKET_COLUMNS, tickets)

    notes = build_notes(rngs["notes"], accounts, profiles)
    with (out / "feedback" / "call_notes.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for n in notes:
            f.write(json.dumps(n, ensure_ascii=False) + "\n")

    legacy, defects = build_legacy(rngs["legacy"], tickets, used, by_intent, accounts)
    (out / "feedback" / "legacy_export.csv").write_bytes(legacy)

    roadmap_yaml = yaml.safe_dump(
        ROADMAP, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None
    )
    (out / "roadmap.yaml").write_text(ROADMAP_HEADER + "\n" + roadmap_yaml, encoding="utf-8")

    licence = args.banking77.parent / "LICENSE"
    if licence.exists():
        shutil.copyfile(licence, out / "LICENSE-banking77.txt")
    else:
        print(f"warning: {licence} not found; LICENSE-banking77.txt not updated", file=sys.stderr)

    if not args.quiet:
        n_legacy = legacy.count(b"\n") - 1
        print(
            f"accounts: {len(accounts)}  tickets: {len(tickets)}  call notes: {len(notes)}  "
            f"legacy rows: {n_legacy}  roadmap items: {len(ROADMAP)}"
        )
        print("PII insertions (synthetic):")
        for tid, kind in pii_log:
            print(f"  {tid}  {kind}")
        print("legacy_export.csv defects:")
        for line, rid, what in defects:
            print(f"  line {line:>2}  {rid or '(empty id)':<12} {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
