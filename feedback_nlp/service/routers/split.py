"""/v1/themes/{theme_id}/split: propose a theme's sub-groups, and split the picked ones off (curators).

The proposal clusters the theme's stored units (:mod:`feedback_nlp.split`); the split is a ``split_theme``
curation action kept with who and when, its new themes get stable ids, and the stored units nearest the
picked sub-groups move to them in the same transaction, so /v1/themes, the workbench and the next weekly
report show them at once; the next retrain seeds them as themes keeping those ids. The workbench's split page
(/ui/themes/{id}/split) goes through the same two functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi import Path as PathParam

from feedback_nlp import artifact
from feedback_nlp.curation import SPLIT_THEME, CurationAction, CurationView
from feedback_nlp.service.deps import CuratorDep, ModelDep, StoreDep, require_reader
from feedback_nlp.service.schemas import (
    CurationOut,
    ErrorResponse,
    SplitIn,
    SplitProposalOut,
    error_responses,
)
from feedback_nlp.split import SplitProposal, TooFewUnits, propose_split, reroute, split_groups

router = APIRouter(
    prefix="/v1/themes",
    tags=["curation"],
    dependencies=[Depends(require_reader)],
    responses={
        **error_responses(401, 422, 429, 503),
        403: {"model": ErrorResponse, "description": "Not a curator or admin key"},
        404: {"model": ErrorResponse, "description": "No such theme (GET /v1/themes)"},
    },
)
_ThemePath = Annotated[int, PathParam(ge=0, le=2**31 - 1)]


class ProposalChanged(Exception):
    """The picks name a proposal the theme no longer gives (its stored units changed): answered 409."""


def theme_members(theme_id: int, store: Any, model: Any) -> list[int]:
    """The stored theme ids a curated theme holds (itself and the themes merged into it).

    Raises:
        LookupError: no such theme in the model or its curation (or merged into another).
    """
    view = CurationView.of(store.curation())
    themes = {int(t["id"]): t for t in view.themes(model.themes_, model.roadmap_)}
    if theme_id not in themes:
        raise LookupError(f"no theme {theme_id} (merged ones answer under their absorber); GET /v1/themes")
    return [theme_id, *themes[theme_id].get("merged_from", [])]


def propose(theme_id: int, store: Any, model: Any, max_groups: int) -> SplitProposal:
    """The theme's proposal (raises LookupError, or ValidationError when it cannot be split)."""
    units = store.theme_units(theme_members(theme_id, store, model))
    return propose_split(theme_id, units, max_groups=max_groups)


def first_new_theme_id(store: Any, model: Any) -> int:
    """An id no theme has had: above the model's registry (every id it ever gave) and every split's."""
    used = [int(t["id"]) for t in model.themes_]
    # a model without a registry (tests' fakes): its themes' ids are enough
    with contextlib.suppress(Exception):
        used.append(int(artifact.read_json(Path(model.path_), artifact.REGISTRY_FILE)["next_id"]) - 1)
    for action in store.curation(include_revoked=True):
        used += [group.theme_id for group in action.groups]
    return max(used, default=-1) + 1


def record_split(
    theme_id: int,
    proposal_id: str,
    picks: Mapping[int, str],
    *,
    store: Any,
    model: Any,
    max_groups: int,
    actor: str,
    reason: str | None = None,
) -> CurationAction:
    """Split the picked sub-groups (index -> name) off the theme: the action kept, its units moved.

    Raises:
        LookupError: no such theme. ProposalChanged: the theme's units changed since ``proposal_id``.
        ValidationError: the picks are not valid for the proposal.
    """
    units = store.theme_units(theme_members(theme_id, store, model))
    proposal = propose_split(theme_id, units, max_groups=max_groups)
    if proposal.proposal_id != proposal_id:
        raise ProposalChanged(
            f"theme {theme_id}'s stored feedback changed since proposal {proposal_id}: "
            f"GET /v1/themes/{theme_id}/split again and pick from the new one"
        )
    groups = split_groups(proposal, picks, first_new_theme_id(store, model))
    action = CurationAction(SPLIT_THEME, (theme_id,), reason=reason, groups=groups, actor=actor).check()
    return store.add_curation(action, reroute=reroute(proposal, groups, units))


@router.get(
    "/{theme_id}/split",
    response_model=SplitProposalOut,
    summary="Propose a theme's sub-groups",
    responses={409: {"model": ErrorResponse, "description": "Too few stored units to split"}},
)
def split_proposal(
    theme_id: _ThemePath,
    _caller: CuratorDep,
    store: StoreDep,
    model: ModelDep,
    max_groups: Annotated[int, Query(ge=2, le=6, description="At most this many sub-groups")] = 4,
) -> dict[str, Any]:
    """The theme's stored units clustered into 2..max_groups sub-groups (k-means, the count with the best
    silhouette), each with its top phrases and quotes. Pick from it with POST, naming its proposal_id."""
    try:
        proposal = propose(theme_id, store, model, max_groups)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except TooFewUnits as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, exc.message) from None
    return {
        "theme_id": proposal.theme_id,
        "proposal_id": proposal.proposal_id,
        "units": proposal.units,
        "max_groups": max_groups,
        "groups": [
            {"index": g.index, "size": g.size, "phrases": list(g.phrases), "quotes": list(g.quotes)}
            for g in proposal.groups
        ],
    }


@router.post(
    "/{theme_id}/split",
    response_model=CurationOut,
    status_code=status.HTTP_201_CREATED,
    summary="Split picked sub-groups off a theme",
    responses={
        409: {"model": ErrorResponse, "description": "The theme changed since the proposal, or is too small"}
    },
)
def split_theme(
    theme_id: _ThemePath, body: SplitIn, caller: CuratorDep, store: StoreDep, model: ModelDep
) -> dict[str, Any]:
    """Make the picked sub-groups of a proposal themes of their own (new stable ids, the names given); their
    stored units move to them at once. Withdraw with DELETE /v1/curation/{id} (the units move back)."""
    try:
        action = record_split(
            theme_id,
            body.proposal_id,
            {pick.index: pick.name for pick in body.groups},
            store=store,
            model=model,
            max_groups=body.max_groups,
            actor=caller.name,
            reason=body.reason,
        )
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except (ProposalChanged, TooFewUnits) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return action.to_dict()
