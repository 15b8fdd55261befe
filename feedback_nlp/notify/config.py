"""``notifications.yaml``: each owner's channels (Slack incoming webhook, e-mail) and the alert rules.

Owners are the roadmap's owners (an e-mail or an ``@team`` handle, as in ``roadmap.yaml``). Slack webhook
URLs are secrets: name an environment variable that holds one (``slack_webhook_url_env``) rather than
writing the URL here. Unknown keys are refused with the known ones, like the roadmap loader does::

    rules:
      new_theme: true          # the first feedback stored for a theme
      arr_threshold: 100000    # feedback from an account paying at least this much a year
      promise_gap: true        # a commitment the roadmap does not hold (feedback_nlp.alignment)
    owners:
      maya.chen@ledgerly.example:
        email: maya.chen@ledgerly.example
      "@payments-team":
        slack_webhook_url_env: SLACK_WEBHOOK_PAYMENTS
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from feedback_nlp.errors import ConfigError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class AlertRules:
    """Which routed feedback an owner hears about at once (the weekly digest covers the rest)."""

    new_theme: bool = True
    arr_threshold: float | None = None
    promise_gap: bool = True


@dataclass(frozen=True)
class OwnerChannels:
    """Where one owner is reached: an e-mail address, a Slack incoming webhook, or both."""

    owner: str
    email: str | None = None
    slack_webhook_url: str | None = None
    slack_webhook_url_env: str | None = None
    digest: bool = True
    alerts: bool = True

    def slack_url(self) -> str | None:
        """The webhook URL, read from the environment at send time when given by variable name.

        Raises:
            ConfigError: the named variable is not set.
        """
        if self.slack_webhook_url:
            return self.slack_webhook_url
        if self.slack_webhook_url_env is None:
            return None
        value = os.environ.get(self.slack_webhook_url_env, "").strip()
        if not value:
            raise ConfigError(
                f"owner {self.owner}: environment variable {self.slack_webhook_url_env} "
                "(slack_webhook_url_env) is not set; export the Slack incoming webhook URL in it"
            )
        return value

    @property
    def channels(self) -> list[str]:
        """``slack`` and/or ``email``, the channels this owner has."""
        found = []
        if self.slack_webhook_url or self.slack_webhook_url_env:
            found.append("slack")
        if self.email:
            found.append("email")
        return found


@dataclass(frozen=True)
class NotificationsConfig:
    rules: AlertRules = AlertRules()
    owners: dict[str, OwnerChannels] = field(default_factory=dict)

    def channels_of(self, owner: str) -> OwnerChannels | None:
        return self.owners.get(owner)


def _check_keys(raw: Mapping[str, Any], known: list[str], label: str) -> None:
    for key in raw:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"{label}: unknown key {key!r}; {hint}known keys: {', '.join(known)}")


def _rules(raw: Any, source: str) -> AlertRules:
    if raw is None:
        return AlertRules()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: rules must be a mapping")
    _check_keys(raw, [f.name for f in fields(AlertRules)], f"{source}: rules")
    threshold = raw.get("arr_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        raise ConfigError(f"{source}: rules.arr_threshold {threshold!r} is not a number; write e.g. 100000")
    if threshold is not None and threshold < 0:
        raise ConfigError(f"{source}: rules.arr_threshold must be 0 or more")
    for name in ("new_theme", "promise_gap"):
        if name in raw and not isinstance(raw[name], bool):
            raise ConfigError(f"{source}: rules.{name} must be true or false")
    return AlertRules(
        new_theme=bool(raw.get("new_theme", True)),
        arr_threshold=None if threshold is None else float(threshold),
        promise_gap=bool(raw.get("promise_gap", True)),
    )


def _owner(owner: str, raw: Any, source: str) -> OwnerChannels:
    label = f"{source}: owner {owner!r}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{label} must be a mapping of channels (email:, slack_webhook_url_env:)")
    _check_keys(raw, [f.name for f in fields(OwnerChannels) if f.name != "owner"], label)
    email = str(raw["email"]).strip() if raw.get("email") else None
    if email is not None and not _EMAIL.match(email):
        raise ConfigError(f"{label}: email {email!r} is not an e-mail address")
    url = str(raw["slack_webhook_url"]).strip() if raw.get("slack_webhook_url") else None
    if url is not None and not url.startswith(("https://", "http://")):
        raise ConfigError(f"{label}: slack_webhook_url must be an http(s) URL")
    env = str(raw["slack_webhook_url_env"]).strip() if raw.get("slack_webhook_url_env") else None
    if env is not None and not _ENV_NAME.match(env):
        raise ConfigError(f"{label}: slack_webhook_url_env {env!r} is not an environment variable name")
    channels = OwnerChannels(
        owner, email, url, env, bool(raw.get("digest", True)), bool(raw.get("alerts", True))
    )
    if not channels.channels:
        raise ConfigError(f"{label} has no channel; add email: or slack_webhook_url_env:")
    return channels


def parse_notifications(raw: Any, source: str = "notifications") -> NotificationsConfig:
    """Check and build the configuration from parsed YAML. Raises ConfigError naming what is wrong."""
    if raw is None:
        return NotificationsConfig()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping with owners: (and optionally rules:)")
    _check_keys(raw, ["rules", "owners"], source)
    owners_raw = raw.get("owners") or {}
    if not isinstance(owners_raw, Mapping):
        raise ConfigError(f"{source}: owners must be a mapping of owner to channels")
    owners = {
        str(owner).strip(): _owner(str(owner).strip(), value, source) for owner, value in owners_raw.items()
    }
    return NotificationsConfig(rules=_rules(raw.get("rules"), source), owners=owners)


def load_notifications(path: Path | str) -> NotificationsConfig:
    """Read and check ``notifications.yaml``. Raises ConfigError for a missing or broken file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; give the owners' channels (see README.md, 'Notifications')"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_notifications(raw, source=str(path))
