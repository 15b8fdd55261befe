"""The route policy on hand-made inputs: one test per branch, in order of precedence."""

from __future__ import annotations

import pytest

from feedback_nlp.route_policy import EvidenceMatch, Route, RouteThresholds, decide_route

TRIAGE = "triage@ledgerly.example"
EXPORT = {"id": "RM-1", "title": "Fast ledger export", "owner": "ana@ledgerly.example"}
CARDS = {"id": "RM-2", "title": "Card delivery tracking", "owner": "ben@ledgerly.example"}
THEME = {
    "name": "export / timeout",
    "owner": "ben@ledgerly.example",
    "roadmap_item": {"id": "RM-2", "title": "Card delivery tracking"},
}
BARS = RouteThresholds(confidence=0.5, in_scope=0.2)
STRONG = EvidenceMatch(EXPORT, score=0.9, threshold=0.7, words=("export", "ledg"))
WEAK = EvidenceMatch(EXPORT, score=0.4, threshold=0.7, words=("export",))


def route(theme=THEME, confidence=0.9, in_scope=0.8, evidence=None, thresholds=BARS) -> Route:
    return decide_route(7, theme, confidence, in_scope, evidence, thresholds, TRIAGE)


def test_a_confident_in_scope_unit_of_a_planned_theme_goes_to_the_themes_owner():
    assert route() == Route(
        "owner",
        "ben@ledgerly.example",
        THEME["roadmap_item"],
        "theme 7 (export / timeout) is evidence for roadmap item RM-2 owned by ben@ledgerly.example",
    )


def test_an_ignored_theme_goes_to_triage_before_anything_else():
    ignored = {**THEME, "ignored": "greetings and sign-offs"}
    decision = route(ignored, evidence=STRONG)
    assert (decision.route, decision.owner) == ("triage", TRIAGE)
    assert decision.reason == "theme 7 (export / timeout) is marked as noise: greetings and sign-offs"
    assert decision.names_item  # the unit's words did name an item; the curator's noise mark still wins


@pytest.mark.parametrize(("confidence", "in_scope"), [(0.1, 0.8), (0.9, 0.05), (0.1, 0.05)])
def test_a_unit_that_names_a_roadmap_item_reaches_its_owner_even_when_unsure_or_unfamiliar(
    confidence, in_scope
):
    decision = route(confidence=confidence, in_scope=in_scope, evidence=STRONG)
    assert decision == Route(
        "owner",
        "ana@ledgerly.example",
        {"id": "RM-1", "title": "Fast ledger export"},
        "names roadmap item RM-1 (Fast ledger export) owned by ana@ledgerly.example: "
        "evidence score 0.90 >= 0.70 (its words, stemmed: export, ledg)",
        names_item=True,
    )


def test_evidence_at_exactly_its_threshold_names_the_item_and_without_words_says_none():
    decision = route(evidence=EvidenceMatch(EXPORT, score=0.7, threshold=0.7))
    assert decision.route == "owner" and decision.roadmap_item == {
        "id": "RM-1",
        "title": "Fast ledger export",
    }
    assert decision.reason.endswith("evidence score 0.70 >= 0.70")


def test_an_item_without_an_owner_goes_to_the_default_owner():
    decision = route(evidence=EvidenceMatch({"id": "RM-9", "title": "Unowned"}, 0.9, 0.7))
    assert decision.route == "owner" and decision.owner == TRIAGE


def test_a_curators_pin_outranks_the_units_own_evidence():
    pinned = {**THEME, "pinned": {"roadmap_item": "RM-2"}}
    decision = route(pinned, evidence=STRONG)
    assert not decision.names_item
    assert decision.route == "owner" and decision.roadmap_item == THEME["roadmap_item"]
    assert decision.owner == "ben@ledgerly.example" and not decision.reason.startswith("names roadmap item")


def test_evidence_below_its_threshold_leaves_the_theme_to_decide():
    decision = route(evidence=WEAK)
    assert not decision.names_item and decision.roadmap_item == THEME["roadmap_item"]
    assert decision.reason.startswith("theme 7 (export / timeout) is evidence for roadmap item RM-2")


def test_text_unlike_the_training_data_goes_to_triage_and_keeps_its_themes_item():
    decision = route(in_scope=0.1, evidence=WEAK)
    assert (decision.route, decision.owner, decision.roadmap_item) == (
        "triage",
        TRIAGE,
        THEME["roadmap_item"],
    )
    assert decision.reason == (
        "unlike the feedback the model was trained on (in-scope score 0.10 below 0.20): possibly a new topic"
    )


def test_without_an_in_scope_threshold_the_score_never_triages():
    decision = route(in_scope=0.0, thresholds=RouteThresholds(confidence=0.5, in_scope=None))
    assert decision.route == "owner"


def test_low_confidence_goes_to_triage():
    decision = route(confidence=0.42)
    assert (decision.route, decision.owner) == ("triage", TRIAGE)
    assert decision.reason == "confidence 0.42 is below the triage threshold 0.50"
    assert route(confidence=0.5).route == "owner"  # the bar itself is enough


def test_the_in_scope_bar_is_checked_before_the_confidence_bar():
    assert route(confidence=0.1, in_scope=0.1).reason.startswith("unlike the feedback")


def test_a_theme_without_a_roadmap_item_is_unplanned_demand():
    unplanned = {**THEME, "roadmap_item": None}
    decision = route(unplanned)
    assert decision == Route(
        "triage", TRIAGE, None, "theme 7 (export / timeout) has no roadmap item: unplanned demand"
    )


def test_a_theme_the_model_does_not_know_is_unplanned_demand_with_no_name():
    assert route({}).reason == "theme 7 (None) has no roadmap item: unplanned demand"


def test_a_theme_without_an_owner_routes_to_the_default_owner():
    decision = route({**THEME, "owner": None})
    assert decision.route == "owner" and decision.owner == TRIAGE
