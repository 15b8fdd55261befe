"""/ui: the theme workbench, server-rendered HTML (Jinja2 templates in ``service/templates``, no scripts).

Sign in with an API key at /ui/login: it is exchanged for a signed session cookie (see
:mod:`feedback_nlp.service.session`); every form carries the session's CSRF token. Any key may look and
search; curating needs a curator (or admin) key, and goes through the same checks and store as
``POST /v1/curation``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from feedback_nlp import artifact, workbench
from feedback_nlp.corrections import NOT_MINE, TO_THEME, Correction
from feedback_nlp.curation import ACTION_KINDS, CurationAction, CurationView
from feedback_nlp.errors import ValidationError
from feedback_nlp.search import MEANING, WORDS, SearchRequest, search_feedback
from feedback_nlp.service.deps import (
    ROLE_CURATOR,
    ROLE_RANK,
    ServiceState,
    StateDep,
    get_model,
    get_search_index,
    get_store,
    key_name,
)
from feedback_nlp.service.routers.corrections import correct_unit
from feedback_nlp.service.routers.curation import UnknownReference, check_against_model
from feedback_nlp.service.routers.split import ProposalChanged, propose, record_split
from feedback_nlp.service.session import COOKIE_NAME, Session, SessionSigner

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
router = APIRouter(prefix="/ui", include_in_schema=False)
SEARCH_LIMIT = 50


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to /ui/login."""


async def login_redirect(request: Request, _exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=status.HTTP_303_SEE_OTHER)


def signer(state: ServiceState) -> SessionSigner:
    """One signer per app: the configured secret, or one made at start (sign-ins end with the process)."""
    if state.session_signer is None:
        configured = state.settings.session_secret
        secret = configured.get_secret_value() if configured is not None else secrets.token_urlsafe(32)
        state.session_signer = SessionSigner(secret, int(state.settings.session_hours * 3600))
    return state.session_signer


def current_session(request: Request, state: StateDep) -> Session:
    session = signer(state).read(request.cookies.get(COOKIE_NAME))
    if session is None:
        raise LoginRequired()
    return session


SessionDep = Annotated[Session, Depends(current_session)]


def _page(request: Request, name: str, session: Session | None, **context: Any) -> HTMLResponse:
    context.update(
        session=session, message=request.query_params.get("msg"), error=request.query_params.get("err")
    )
    return templates.TemplateResponse(request, name, context)


def _back(path: str, **params: str) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=status.HTTP_303_SEE_OTHER)


def _safe_next(target: str | None) -> str:
    # only a path on this site: never an open redirect to another host
    return target if target and target.startswith("/ui") and not target.startswith("//") else "/ui"


# -- sign-in -------------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui") -> HTMLResponse:  # noqa: A002 - the query's name
    token = secrets.token_urlsafe(16)
    response = _page(request, "login.html", None, next=_safe_next(next), login_csrf=token)
    # double-submit token for the sign-in form itself (there is no session yet to hold one)
    response.set_cookie("fnlp_login_csrf", token, httponly=True, samesite="strict", path="/ui")
    return response


@router.post("/login")
def login(
    request: Request,
    state: StateDep,
    api_key: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/ui",  # noqa: A002
) -> Response:
    expected = request.cookies.get("fnlp_login_csrf") or ""
    if not expected or not secrets.compare_digest(expected, csrf):
        return _back("/ui/login", err="the sign-in form expired; try again", next=_safe_next(next))
    role = state.keys.role(api_key.strip())
    if role is None:
        return _back("/ui/login", err="that API key is not valid", next=_safe_next(next))
    _, cookie = signer(state).new(role, key_name(role, api_key.strip()))
    response = _back(_safe_next(next))
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(state.settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",  # also sent to /docs and /redoc, which a session opens (deps.require_reader_for_docs)
    )
    response.delete_cookie("fnlp_login_csrf", path="/ui")
    return response


@router.post("/logout")
def logout(session: SessionDep, csrf: Annotated[str, Form()] = "") -> Response:
    response = _back("/ui/login", msg="signed out" if session.csrf_ok(csrf) else "")
    if session.csrf_ok(csrf):
        response.delete_cookie(COOKIE_NAME, path="/")
    return response


# -- looking -------------------------------------------------------------------------------------------


def _curated(state: ServiceState) -> tuple[Any, Any, CurationView, list[dict[str, Any]]]:
    model = get_model(state)
    store = get_store(state)
    view = CurationView.of(store.curation())
    return model, store, view, view.themes(model.themes_, model.roadmap_)


@router.get("", response_class=HTMLResponse)
def overview_page(request: Request, state: StateDep, session: SessionDep) -> HTMLResponse:
    model, store, view, themes = _curated(state)
    return _page(
        request,
        "overview.html",
        session,
        overview=workbench.overview(themes, store, view),
        model=model,
        lost=_lost_curation(model),
    )


def _lost_curation(model: Any) -> list[dict[str, Any]]:
    """Decisions the serving model's training could not carry (from its summary), for the page's notice."""
    try:
        summary = artifact.read_json(Path(model.path_), "summary.json")
    except Exception:  # an old or fake model without a summary: nothing to warn about
        return []
    return list(((summary or {}).get("curation") or {}).get("lost") or [])


@router.get("/themes/{theme_id}", response_class=HTMLResponse)
def theme_page(request: Request, theme_id: int, state: StateDep, session: SessionDep) -> Response:
    model, store, view, themes = _curated(state)
    target = view.canonical(theme_id)
    if target != theme_id:
        return _back(f"/ui/themes/{target}", msg=f"theme {theme_id} was merged into this one")
    rows = {row.id: row for row in workbench.theme_rows(themes, store, view)}
    if theme_id not in rows:
        return _page(request, "missing.html", session, what=f"theme {theme_id}")
    members = [theme_id, *rows[theme_id].merged_from]
    quotes = sorted(store.find_units(theme_ids=members, limit=200), key=lambda u: -u["confidence"])[:8]
    ids, centroids = artifact.load_centroids(Path(model.path_))
    return _page(
        request,
        "theme.html",
        session,
        theme=rows[theme_id],
        weeks=workbench.report_weeks(store),
        quotes=quotes,
        sources=_count(store.find_units(theme_ids=members, limit=5000), "source"),
        nearest=workbench.nearest_themes(theme_id, themes, ids, centroids),
        themes=sorted(themes, key=lambda t: str(t.get("name"))),
        roadmap=model.roadmap_,
        kinds=ACTION_KINDS,
    )


def _count(rows: list[dict[str, Any]], key: str) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get(key) or "—")] = counts.get(str(row.get(key) or "—"), 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request, state: StateDep, session: SessionDep) -> HTMLResponse:
    model, _, _, themes = _curated(state)
    ids, centroids = artifact.load_centroids(Path(model.path_))
    shown = [t for t in themes if not t.get("ignored")]
    return _page(request, "map.html", session, points=workbench.theme_map(shown, ids, centroids))


@router.get("/roadmap", response_class=HTMLResponse)
def roadmap_page(request: Request, state: StateDep, session: SessionDep) -> HTMLResponse:
    model, store, view, themes = _curated(state)
    rows = workbench.theme_rows(themes, store, view)
    items = []
    for item in model.roadmap_:
        linked = [r for r in rows if r.roadmap_item and str(r.roadmap_item.get("id")) == str(item["id"])]
        weekly = [sum(r.weekly[n] for r in linked) for n in range(workbench.TRAILING_WEEKS + 1)]
        items.append(
            {"item": item, "themes": linked, "weekly": weekly, "points": workbench.sparkline_points(weekly)}
        )
    with_evidence = [i for i in items if sum(i["weekly"])]
    without = [i for i in items if not sum(i["weekly"])]
    return _page(request, "roadmap.html", session, with_evidence=with_evidence, without=without)


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    q: str = "",
    mode: str = MEANING,
    area: str = "",
    theme: str = "",
    source: str = "",
    account: str = "",
    since: str = "",
    until: str = "",
) -> HTMLResponse:
    model, store, view, themes = _curated(state)
    error, answer = None, None
    try:
        start, end = _day(since, "since"), _day(until, "until")
        wanted = SearchRequest(
            text=q[:200], mode=WORDS if mode == WORDS else MEANING, area_id=_number(area, "area"),
            theme_id=_number(theme, "theme"), source=source or None, account_id=account or None,
            since=start, until=end + timedelta(days=1) if end else None, limit=SEARCH_LIMIT,
        )  # fmt: skip
        if q or area or theme or source or account or start or end:
            index = get_search_index(state)
            answer = search_feedback(wanted, store=store, index=index, model=model, view=view, themes=themes)
    except ValueError as exc:
        error = str(exc)
    areas = sorted(
        {(t.get("area_id"), str(t.get("area_name"))) for t in themes if t.get("area_id") is not None}
    )
    return _page(
        request,
        "search.html",
        session,
        q=q,
        mode=WORDS if mode == WORDS else MEANING,
        area=area,
        theme=theme,
        source=source,
        account=account,
        since=since,
        until=until,
        answer=answer,
        results=answer.units if answer else (),
        areas=[{"id": area_id, "name": name} for area_id, name in areas],
        themes=sorted(themes, key=lambda t: str(t.get("name"))),
        search_error=error,
        limit=SEARCH_LIMIT,
    )


def _number(value: str, field: str) -> int | None:
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number < 2**31:  # an id the store's integer columns can hold
        raise ValueError(f"{field}: {value!r} is not one of the ids listed; pick one from the list")
    return number


def _day(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{field}: {value!r} is not a date; write YYYY-MM-DD") from None


# -- curating ------------------------------------------------------------------------------------------


def _curator_form_refusal(session: Session, csrf: str, verb: str) -> str | None:
    """Why a curator's form post is refused (an expired form, a key that may only look), or None."""
    if not session.csrf_ok(csrf):
        return "the form expired (no valid CSRF token); reload the page and try again"
    if ROLE_RANK.get(session.role, 0) < ROLE_RANK[ROLE_CURATOR]:
        return f"your key may look but not {verb}; sign in with a curator key"
    return None


@router.post("/curate")
def curate(
    state: StateDep,
    session: SessionDep,
    kind: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    themes: Annotated[list[str] | None, Form()] = None,
    name: Annotated[str, Form()] = "",
    area: Annotated[str, Form()] = "",
    roadmap_item: Annotated[str, Form()] = "",
    owner: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/ui",
) -> Response:
    back = _safe_next(back)
    refusal = _curator_form_refusal(session, csrf, "curate")
    if refusal:
        return _back(back, err=refusal)
    try:
        ids = tuple(int(t) for value in themes or [] for t in value.replace(",", " ").split())
        action = CurationAction(
            kind,
            ids,
            name=name,
            area=area,
            roadmap_item=roadmap_item,
            owner=owner,
            reason=reason,
            actor=session.name,
        ).check()
        check_against_model(action, get_model(state))
    except UnknownReference as exc:
        return _back(back, err=str(exc))
    except ValueError:
        return _back(back, err="theme ids are numbers")
    except ValidationError as exc:
        return _back(back, err=f"{exc.field}: {exc.message}")
    recorded = get_store(state).add_curation(action)
    return _back(back, msg=f"recorded: {recorded.describe()}")


@router.get("/themes/{theme_id}/split", response_class=HTMLResponse)
def split_page(
    request: Request, theme_id: int, state: StateDep, session: SessionDep, max_groups: int = 4
) -> Response:
    """A theme's proposed sub-groups, each with its phrases and quotes, and the form to split some off."""
    model, store, _, themes = _curated(state)
    theme = next((t for t in themes if int(t["id"]) == theme_id), None)
    if theme is None:
        return _page(request, "missing.html", session, what=f"theme {theme_id}")
    max_groups = min(max(max_groups, 2), 6)
    try:
        proposal = propose(theme_id, store, model, max_groups)
    except (LookupError, ValidationError) as exc:
        why = f"{exc.field}: {exc.message}" if isinstance(exc, ValidationError) else str(exc)
        return _back(f"/ui/themes/{theme_id}", err=why)
    return _page(request, "split.html", session, theme=theme, proposal=proposal, max_groups=max_groups)


@router.post("/themes/{theme_id}/split")
async def split(request: Request, theme_id: int, state: StateDep, session: SessionDep) -> Response:
    """The split form: ``pick`` the sub-groups' indexes, ``name_<index>`` their names."""
    form = await request.form()
    here = f"/ui/themes/{theme_id}/split"
    refusal = _curator_form_refusal(session, str(form.get("csrf") or ""), "split themes")
    if refusal:
        return _back(here, err=refusal)
    try:
        indexes = [int(str(value)) for value in form.getlist("pick")]
        picks = {index: str(form.get(f"name_{index}") or "") for index in indexes}
        action = record_split(
            theme_id, str(form.get("proposal_id") or ""), picks, store=get_store(state),
            model=get_model(state), max_groups=int(str(form.get("max_groups") or 4)), actor=session.name,
        )  # fmt: skip
    except ValidationError as exc:
        return _back(here, err=f"{exc.field}: {exc.message}")
    except (LookupError, ProposalChanged) as exc:
        return _back(here, err=str(exc))
    except ValueError:
        return _back(here, err="pick sub-groups from the list")
    return _back(f"/ui/themes/{theme_id}", msg=f"recorded: {action.describe()}")


@router.post("/correct")
def correct(
    state: StateDep,
    session: SessionDep,
    item_id: Annotated[str, Form()],
    kind: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    unit_index: Annotated[int, Form()] = 0,
    theme_id: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/ui",
) -> Response:
    back = _safe_next(back)
    refusal = _curator_form_refusal(session, csrf, "correct")
    if refusal:
        return _back(back, err=refusal)
    target = int(theme_id) if kind == TO_THEME and theme_id.strip().isdigit() else None
    try:
        kept = correct_unit(
            get_store(state),
            get_model(state),
            Correction(item_id, unit_index, kind, target, actor=session.name),
        )
    except ValidationError as exc:
        return _back(back, err=f"{exc.field}: {exc.message}")
    except LookupError as exc:
        return _back(back, err=str(exc))
    where = "triage" if kept.kind == NOT_MINE else f"theme {kept.theme_id}"
    return _back(back, msg=f"corrected: feedback {kept.item_id} unit {kept.unit_index} now goes to {where}")
