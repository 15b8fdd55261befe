"""/v1/curation: the curators' decisions about themes, kept in the store and applied at once.

A decision shows at once in /v1/themes and in the next weekly report (both resolve names, merges, pins and
ignores at read time) and every later retrain applies it (the training job reads the store). Reading needs
any key; recording or withdrawing one needs a curator (or admin) key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status

from feedback_nlp.curation import CurationAction, to_taxonomy
from feedback_nlp.service.deps import CuratorDep, ModelDep, StoreDep, require_reader
from feedback_nlp.service.schemas import (
    CurationIn,
    CurationOut,
    CurationResponse,
    ErrorResponse,
    error_responses,
)

router = APIRouter(
    prefix="/v1/curation",
    tags=["curation"],
    dependencies=[Depends(require_reader)],
    responses=error_responses(401, 422, 429, 503),
)
_CURATOR_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "Not a curator or admin key"}
}


@router.get("", response_model=CurationResponse, summary="The curation decisions in force")
def list_curation(store: StoreDep) -> dict[str, Any]:
    """Every decision in force, oldest first, with who made it and when; and those a retrain cannot apply
    yet."""
    actions = store.curation()
    return {
        "actions": [action.to_dict() for action in actions],
        "not_applied_by_training": list(to_taxonomy(actions).not_applied),
    }


class UnknownReference(LookupError):
    """A decision names a theme or roadmap item the serving model does not have (answered 404)."""


def check_against_model(action: CurationAction, model: Any) -> None:
    """A decision must name themes and roadmap items the serving model has.

    Raises:
        UnknownReference: naming what is unknown and where to find the known ones.
    """
    known = {int(theme["id"]) for theme in model.themes_}
    unknown = [theme_id for theme_id in action.themes if theme_id not in known]
    if unknown:
        raise UnknownReference(
            f"themes: no theme {', '.join(map(str, unknown))} in model {model.version_}; GET /v1/themes"
        )
    items = {str(item["id"]) for item in model.roadmap_}
    if action.roadmap_item and action.roadmap_item not in items:
        raise UnknownReference(
            f"roadmap_item: no roadmap item {action.roadmap_item!r}; known: {', '.join(sorted(items))}"
        )


@router.post(
    "",
    response_model=CurationOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record a curation decision",
    responses={
        **_CURATOR_ONLY,
        404: {
            "model": ErrorResponse,
            "description": "A theme or roadmap item the serving model does not have",
        },
    },
)
def add_curation(body: CurationIn, caller: CuratorDep, model: ModelDep, store: StoreDep) -> dict[str, Any]:
    """Rename a theme or area, merge themes, move a theme to an area, pin a theme to a roadmap item or
    owner, or ignore a theme (a split has its own: GET and POST /v1/themes/{theme_id}/split). Recorded
    with who (the key's role and fingerprint) and when."""
    fields = body.model_dump()
    action = CurationAction(
        kind=body.kind,
        themes=tuple(fields.get("themes") or ()),
        name=fields.get("name"),
        area=fields.get("area"),
        roadmap_item=fields.get("roadmap_item"),
        owner=fields.get("owner"),
        reason=fields.get("reason"),
        actor=caller.name,
    ).check()  # a ValidationError is a 422 naming the field
    try:
        check_against_model(action, model)
    except UnknownReference as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return store.add_curation(action).to_dict()


@router.delete(
    "/{action_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Withdraw a curation decision",
    responses={**_CURATOR_ONLY, 404: {"model": ErrorResponse, "description": "No such decision in force"}},
)
def revoke_curation(
    action_id: Annotated[int, Path(ge=1, le=2**31 - 1)], caller: CuratorDep, store: StoreDep
) -> Response:
    """Withdraw a decision; it stays on record with who withdrew it and when."""
    if not store.revoke_curation(action_id, caller.name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no curation decision {action_id} in force")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
