"""The model being served, and swapping in a new one without dropping requests.

Requests take a reference to the current model once (``holder.model``) and finish on it; a reload loads
and verifies the new version first and only then replaces the reference, under a lock. A version that
fails to load or verify is refused, and the old model keeps serving. When there is no old model (the service
is starting) and LATEST names a refused version, :meth:`ModelHolder.fall_back` serves the newest version
that loads instead of nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback_nlp.errors import ModelLoadError

logger = logging.getLogger(__name__)

ModelLoader = Callable[[Path], Any]


# Scored once by every model before it serves (see default_loader); never stored.
WARM_UP_TEXT = "The CSV export times out when I download the monthly report."


def default_loader(path: Path, signing_key: str | None = None, encoder_backend: str | None = None) -> Any:
    """Load a model folder with :meth:`FeedbackModel.load` (which verifies every file's checksum and, with a
    signing key, the folder's signature; None reads ``FEEDBACK_NLP_MODEL_SIGNING_KEY``) and with the encoder
    backend asked for (None: the model's own), and score one warm-up text with it.

    The first call pays for spaCy's and torch's lazy start (seconds on a small machine): paid here, before
    /readyz says ready or a reload swaps the model in, rather than by the first client.
    """
    from feedback_nlp.model import FeedbackModel

    model = FeedbackModel.load(path, signing_key=signing_key, encoder_backend=encoder_backend)
    model.score_texts([WARM_UP_TEXT])
    return model


@dataclass
class ReloadResult:
    """What a reload did: ``reloaded``, ``unchanged`` or (on start) ``fallback``."""

    status: str
    version: str | None
    previous_version: str | None


class ModelHolder:
    """Holds the current model of a models directory; thread-safe."""

    def __init__(
        self,
        models_dir: Path,
        loader: ModelLoader | None = None,
        on_change: Callable[[Any], None] | None = None,
    ) -> None:
        self.models_dir = Path(models_dir)
        self.loader = loader or default_loader
        self.on_change = on_change
        self._model: Any = None
        self._swap_lock = threading.Lock()
        self._reload_lock = threading.Lock()  # one load at a time (admin call and poller)
        self.last_error: str | None = None
        # Folder names, not metadata versions: LATEST names a folder, and a folder copied under another name
        # (or a version written by hand) must not look changed on every poll.
        self._served_folder: str | None = None
        self._refused_version: str | None = None

    @property
    def model(self) -> Any:
        """The model to use for one request (None before the first successful load)."""
        return self._model

    @property
    def version(self) -> str | None:
        model = self._model
        return None if model is None else str(model.version_)

    @property
    def served_folder(self) -> str | None:
        """The name of the version folder being served (LATEST names folders)."""
        return self._served_folder

    def latest_version(self) -> str | None:
        """The folder name written in LATEST, as written (checked when it is loaded)."""
        from feedback_nlp.artifact import read_latest

        return read_latest(self.models_dir)

    def reload(self, *, only_if_changed: bool = False) -> ReloadResult:
        """Load the version named in ``models_dir/LATEST`` and swap it in.

        Args:
            only_if_changed: do nothing when LATEST names the version being served, or the version
                refused last time (used by the poller so a broken artifact is not retried forever).

        Raises:
            ModelLoadError: LATEST is missing, or the version fails to load or verify; the current model
                stays in place.
        """
        with self._reload_lock:
            previous = self.version
            latest = self.latest_version()
            if latest is None:
                from feedback_nlp.artifact import no_model_message

                message = no_model_message(self.models_dir)
                self.last_error = message
                raise ModelLoadError(message)
            if only_if_changed and latest in (self._served_folder, self._refused_version):
                return ReloadResult("unchanged", previous, previous)
            from feedback_nlp.artifact import version_dir

            try:
                path = version_dir(self.models_dir, latest)
                model = self.loader(path)
            except ModelLoadError as exc:
                self._refused_version = latest
                self.last_error = str(exc)
                logger.error("refused model %s, still serving %s: %s", latest, previous, exc)
                raise
            except Exception as exc:  # a loader bug must not take the serving model down
                self._refused_version = latest
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("refused model %s, still serving %s", latest, previous)
                raise ModelLoadError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
            self.swap(model, latest)
            self._refused_version = None
            self.last_error = None
            logger.info("serving model %s (was %s)", model.version_, previous)
            return ReloadResult("reloaded", str(model.version_), previous)

    def fall_back(self) -> ReloadResult | None:
        """With nothing served and LATEST naming a refused version, serve the newest version that loads.

        Called on start: a service restarted while LATEST names a tampered, wrongly signed or missing
        version keeps answering with the last good one instead of none. Promotion-rejected versions are not
        candidates. LATEST stays the source of truth: the poller moves to the next version LATEST names.

        Returns:
            what was loaded, or None (a model is already served, LATEST was not refused, or no version loads).
        """
        from feedback_nlp.artifact import candidate_versions

        with self._reload_lock:
            refused = self._refused_version
            if self._model is not None or refused is None:
                return None
            for path in candidate_versions(self.models_dir):
                if path.name == refused:
                    continue
                try:
                    model = self.loader(path)
                except Exception as exc:  # refused too: try the next older one
                    logger.warning("fallback candidate %s refused: %s", path.name, exc)
                    continue
                self.swap(model, path.name)
                logger.warning(
                    "LATEST names %s, which was refused (%s); serving %s, the newest version that loads, "
                    "until LATEST names a good one",
                    refused,
                    self.last_error,
                    path.name,
                )
                return ReloadResult("fallback", str(model.version_), None)
            logger.error("LATEST names %s, which was refused, and no other version loads", refused)
            return None

    def swap(self, model: Any, folder: str | None = None) -> None:
        """Replace the current model (from version folder ``folder``); requests already holding the old one
        finish on it."""
        with self._swap_lock:
            self._model = model
            self._served_folder = folder
        if self.on_change is not None:
            self.on_change(model)
