"""Shared state of one app and the dependencies that hand it to the routes (model, store, auth)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from feedback_nlp.artifact import no_model_message
from feedback_nlp.errors import ConfigError, ModelLoadError
from feedback_nlp.search import SemanticIndex, open_index
from feedback_nlp.service.batcher import ScoreBatcher
from feedback_nlp.service.metrics import ServiceMetrics
from feedback_nlp.service.model_holder import ModelHolder, ReloadResult
from feedback_nlp.service.rate_limit import SCOPE_ADDRESS, SCOPE_KEY, RateLimiter
from feedback_nlp.service.session import COOKIE_NAME as SESSION_COOKIE
from feedback_nlp.service.session import SessionSigner
from feedback_nlp.settings import Settings
from feedback_nlp.store import FeedbackStore, open_store

logger = logging.getLogger(__name__)

ROLE_READER = "reader"
ROLE_CURATOR = "curator"
ROLE_ADMIN = "admin"
# each role may do what the ones before it may
ROLE_RANK = {ROLE_READER: 0, ROLE_CURATOR: 1, ROLE_ADMIN: 2}

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description=(
        "A key from FEEDBACK_NLP_API_KEYS (score and read), FEEDBACK_NLP_CURATOR_KEYS (also curate and "
        "correct) or FEEDBACK_NLP_ADMIN_KEYS (also admin)"
    ),
)


class ApiKeys:
    """The configured keys; a presented key is compared with every one of them in constant time."""

    def __init__(
        self,
        reader_keys: list[str],
        admin_keys: list[str],
        insecure_dev: bool = False,
        curator_keys: list[str] | None = None,
    ) -> None:
        self._reader = [key.encode("utf-8") for key in reader_keys]
        self._curator = [key.encode("utf-8") for key in curator_keys or []]
        self._admin = [key.encode("utf-8") for key in admin_keys]
        self.insecure_dev = insecure_dev

    @property
    def configured(self) -> bool:
        return bool(self._reader or self._curator or self._admin)

    def role(self, presented: str | None) -> str | None:
        """``admin``, ``curator``, ``reader`` or None for a presented key (the highest role wins when a key
        is in several lists)."""
        if presented is None:
            return None
        candidate = presented.encode("utf-8", "surrogateescape")
        matched = {ROLE_ADMIN: False, ROLE_CURATOR: False, ROLE_READER: False}
        # no early exit: the time taken does not depend on which key (if any) matched
        for role, keys in (
            (ROLE_ADMIN, self._admin),
            (ROLE_CURATOR, self._curator),
            (ROLE_READER, self._reader),
        ):
            for key in keys:
                matched[role] |= hmac.compare_digest(candidate, key)
        return next((role for role, hit in matched.items() if hit), None)


def key_name(role: str, api_key: str | None) -> str:
    """Who made a change, without keeping the key: the role and a short fingerprint of the key."""
    if not api_key:
        return f"{role}:dev"
    return f"{role}:{hashlib.sha256(api_key.encode('utf-8', 'surrogateescape')).hexdigest()[:10]}"


@dataclass
class ServiceState:
    """Everything one app instance holds: settings, keys, the model holder, the store, metrics and the rate
    limiter (None: no rate limits)."""

    settings: Settings
    keys: ApiKeys
    holder: ModelHolder
    metrics: ServiceMetrics
    rate_limiter: RateLimiter | None = None
    batcher: ScoreBatcher | None = None
    store: FeedbackStore | None = None
    store_error: str | None = None
    session_signer: SessionSigner | None = None  # the workbench's sign-in cookies (routers/web.py)
    search_index: SemanticIndex | None = None  # pgvector or in-memory (feedback_nlp/search.py)

    def connect_store(self) -> None:
        """Open (and migrate) the store; on failure keep the reason for /readyz and retry later."""
        try:
            self.store = open_store(self.settings.store_url())
            self.search_index = open_index(self.store)
            self.store_error = None
        except ConfigError as exc:
            self.store_error = str(exc)
            logger.error("feedback store not available: %s", exc)

    def reload_model(self, *, only_if_changed: bool = False) -> ReloadResult:
        """Reload models/LATEST through the holder, counting the outcome. Raises ModelLoadError."""
        try:
            result = self.holder.reload(only_if_changed=only_if_changed)
        except ModelLoadError:
            self.metrics.model_reloads.labels(result="refused").inc()
            raise
        if result.status == "reloaded":
            self.metrics.model_reloads.labels(result="reloaded").inc()
        return result


async def get_state(request: Request) -> ServiceState:
    return request.app.state.service


StateDep = Annotated[ServiceState, Depends(get_state)]


def _client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _authenticate(state: ServiceState, api_key: str | None, request: Request, *, limited: bool = True) -> str:
    # probes, metrics and docs are checked for a key but not rate limited: a scraper must not spend the
    # budget of the key it shares with the support tool
    limiter = state.rate_limiter if limited else None
    if state.keys.insecure_dev and not state.keys.configured:
        if limiter is not None:
            limiter.check(SCOPE_KEY, f"address:{_client_address(request)}")
        return ROLE_ADMIN
    role = state.keys.role(api_key) if api_key else None
    if limiter is not None:
        # a valid key spends its own budget; anything else spends its address's (guessing keys is slow)
        if role is None:
            limiter.check(SCOPE_ADDRESS, _client_address(request))
        else:
            limiter.check(SCOPE_KEY, api_key or "")
    if not api_key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header", headers={"WWW-Authenticate": "ApiKey"}
        )
    if role is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid API key", headers={"WWW-Authenticate": "ApiKey"}
        )
    return role


async def require_reader(
    state: StateDep, api_key: Annotated[str | None, Security(api_key_header)], request: Request
) -> str:
    """Any valid key (scoring or admin); returns the role. 429 past the key's (or address's) rate limit."""
    return _authenticate(state, api_key, request)


async def require_admin(
    state: StateDep, api_key: Annotated[str | None, Security(api_key_header)], request: Request
) -> str:
    """An admin key; a valid scoring key is 403. 429 past the key's (or address's) rate limit."""
    role = _authenticate(state, api_key, request)
    if role != ROLE_ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this API key may not use admin endpoints")
    return role


@dataclass(frozen=True)
class Caller:
    """Who is calling: the role and the name their changes are recorded under."""

    role: str
    name: str


async def require_curator(
    state: StateDep, api_key: Annotated[str | None, Security(api_key_header)], request: Request
) -> Caller:
    """A curator or admin key; a read key is 403. Returns who is calling, for the record."""
    role = _authenticate(state, api_key, request)
    if ROLE_RANK[role] < ROLE_RANK[ROLE_CURATOR]:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "this API key may not curate; use a key from FEEDBACK_NLP_CURATOR_KEYS"
        )
    return Caller(role, key_name(role, api_key))


CuratorDep = Annotated[Caller, Depends(require_curator)]


async def optional_reader(
    state: StateDep, api_key: Annotated[str | None, Security(api_key_header)], request: Request
) -> str | None:
    """The role of a presented key, None without one; a wrong key is 401 rather than silently ignored."""
    if not api_key and not (state.keys.insecure_dev and not state.keys.configured):
        return None
    return _authenticate(state, api_key, request, limited=False)


async def require_reader_for_docs(
    state: StateDep, api_key: Annotated[str | None, Security(api_key_header)], request: Request
) -> None:
    """A key (or a workbench session) for /docs, /redoc and /openapi.json unless FEEDBACK_NLP_PUBLIC_DOCS
    is true: a browser signed in at /ui cannot send X-API-Key, so its session cookie opens the docs."""
    if state.settings.public_docs:
        return
    signer = state.session_signer
    if signer is not None and signer.read(request.cookies.get(SESSION_COOKIE)) is not None:
        return
    _authenticate(state, api_key, request, limited=False)


async def require_reader_for_metrics(
    state: StateDep, api_key: Annotated[str | None, Security(api_key_header)], request: Request
) -> None:
    """A key for /metrics unless FEEDBACK_NLP_PUBLIC_METRICS is true."""
    if not state.settings.public_metrics:
        _authenticate(state, api_key, request, limited=False)


def get_model(state: StateDep) -> Any:
    """The current model, taken once for the whole request (a reload does not affect it)."""
    model = state.holder.model
    if model is None:
        detail = f"no model loaded: {state.holder.last_error or no_model_message(state.holder.models_dir)}"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail)
    return model


def get_store(state: StateDep) -> FeedbackStore:
    if state.store is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"feedback store not available: {state.store_error or 'not opened yet'}",
        )
    return state.store


def get_search_index(state: StateDep) -> SemanticIndex:
    get_store(state)
    if state.search_index is None:  # a store set without connect_store (tests)
        assert state.store is not None  # get_store checked it
        state.search_index = open_index(state.store)
    return state.search_index


async def get_settings_dep(state: StateDep) -> Settings:
    return state.settings


async def _model_dependency(state: StateDep) -> Any:
    return get_model(state)


async def _store_dependency(state: StateDep) -> FeedbackStore:
    return get_store(state)


# The dependencies above are cheap and never block (the rate limiter's storage is in memory), so they are
# coroutines: FastAPI runs a plain ``def`` dependency in its thread pool, and a scoring request went through
# about 17 thread hops (now 3: records, scoring, store write), each one a wait for the GIL while a batch is
# being scored. get_search_index may open the index: it stays sync.
ModelDep = Annotated[Any, Depends(_model_dependency)]
StoreDep = Annotated[FeedbackStore, Depends(_store_dependency)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SearchIndexDep = Annotated[SemanticIndex, Depends(get_search_index)]
