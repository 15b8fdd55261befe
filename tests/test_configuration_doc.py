"""docs/CONFIGURATION.md lists every setting and config key, as the code has them (regenerate with
``make configuration-doc``)."""

from __future__ import annotations

import dataclasses

from feedback_nlp.config import CONFIG_DOCS, TrainingConfig
from feedback_nlp.settings import OTHER_ENV_NAMES, SETTING_DOCS, Settings
from tests.configuration_doc import OTHER_ENV, OUT, configuration_markdown


def test_the_configuration_page_is_current():
    assert OUT.read_text(encoding="utf-8") == configuration_markdown(), (
        "docs/CONFIGURATION.md is out of date: run make configuration-doc"
    )


def test_every_setting_and_config_key_is_listed_with_a_description():
    page = OUT.read_text(encoding="utf-8")
    for name in Settings.env_names():
        assert f"| `{name}` |" in page, name
    assert set(OTHER_ENV) == OTHER_ENV_NAMES
    for field in dataclasses.fields(TrainingConfig):
        assert f"| `{field.name}` |" in page, field.name
    assert sorted(SETTING_DOCS) == sorted(Settings.model_fields), "describe each setting in SETTING_DOCS"
    assert sorted(CONFIG_DOCS) == sorted(f.name for f in dataclasses.fields(TrainingConfig)), (
        "describe each config key in CONFIG_DOCS"
    )
