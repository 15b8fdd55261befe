"""Command-line conventions: --version, ``-`` for standard input, one "no model yet" wording, messages
instead of tracebacks for paths that are files, and typos in the roadmap or the environment refused."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from feedback_nlp.errors import ConfigError, RoadmapError


def _cli(argv, capsys):
    from feedback_nlp.cli import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys):
    from feedback_nlp import __version__

    with pytest.raises(SystemExit) as caught:
        _cli(["--version"], capsys)
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"feedback-nlp {__version__}"


def test_score_dash_reads_texts_from_standard_input(tiny_model_dir, monkeypatch, capsys):
    base = ["score", "--model", tiny_model_dir]
    monkeypatch.setattr("sys.stdin", io.StringIO("the CSV export times out\n\n  \nWe need SSO with Okta\n"))
    code, out, _ = _cli([*base, "-", "My card was declined"], capsys)
    assert code == 0
    from_stdin = [json.loads(line) for line in out.splitlines()]
    code, out, _ = _cli(
        [*base, "the CSV export times out", "We need SSO with Okta", "My card was declined"], capsys
    )
    assert [r["theme_id"] for r in from_stdin] == [json.loads(line)["theme_id"] for line in out.splitlines()]
    assert len(from_stdin) == 3  # blank lines skipped, "-" itself never scored

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = _cli([*base, "-"], capsys)
    assert (code, out) == (2, "")
    assert "standard input" in err


@pytest.mark.parametrize("command", ["score", "themes", "report", "ingest"])
def test_one_wording_for_no_model_yet(tmp_path, capsys, command):
    from tiny_data import write_tiny_dataset

    (feedback, _), _ = write_tiny_dataset(tmp_path / "data")
    store = tmp_path / "store.sqlite"
    store.touch()
    url = f"sqlite:///{store}"
    empty = tmp_path / "models"
    empty.mkdir()
    argv = {
        "score": ["score", "--models-dir", empty, "hello"],
        "themes": ["themes", "--models-dir", empty],
        "report": ["report", "--models-dir", empty, "--database-url", url, "--week", "2026-W40"],
        "ingest": ["ingest", "--models-dir", empty, "--database-url", url, feedback],
    }[command]
    code, _, err = _cli(argv, capsys)
    assert code == 2
    assert f"no trained model yet in {empty} (no LATEST file); train one with `feedback-nlp train`" in err


def test_service_uses_the_same_no_model_wording(tmp_path):
    from feedback_nlp.artifact import no_model_message
    from feedback_nlp.errors import ModelLoadError
    from feedback_nlp.service.model_holder import ModelHolder

    holder = ModelHolder(tmp_path)
    with pytest.raises(ModelLoadError) as caught:
        holder.reload()
    assert str(caught.value) == no_model_message(tmp_path)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["themes", "--models-dir", "{file}"], "--models-dir {file} is a file"),
        (["report", "--models-dir", "{file}"], "--models-dir {file} is a file"),
        (["report", "--models-dir", "{models}", "--out", "{file}"], "--out {file} is a file"),
        (["score", "--models-dir", "{file}", "hello"], "--models-dir {file} is a file"),
        (
            ["train", "--feedback", "{feedback}", "--roadmap", "{roadmap}", "--models-dir", "{file}"],
            "--models-dir {file} is a file",
        ),
        (
            ["ingest", "--models-dir", "{models}", "--quarantine-out", "{folder}", "{bad}"],
            "Is a directory: {folder}",
        ),
    ],
)
def test_paths_that_are_files_get_a_message_not_a_traceback(tmp_path, tiny_model_dir, capsys, argv, expected):
    from tiny_data import write_tiny_dataset

    (feedback, _), roadmap = write_tiny_dataset(tmp_path / "data")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "1", "text": "the export times out", "source": "ticket", "created_at": "2026-09-08"}\n'
        '{"id": "2", "text": "", "source": "ticket", "created_at": "2026-09-08"}\n',
        encoding="utf-8",
    )
    names = {
        "file": tmp_path / "a-file",
        "folder": tmp_path / "a-folder",
        "models": tiny_model_dir.parent,
        "feedback": feedback,
        "roadmap": roadmap,
        "bad": bad,
    }
    names["file"].write_text("not a folder", encoding="utf-8")
    names["folder"].mkdir()
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    if argv[0] in ("report", "ingest"):
        (tmp_path / "store.sqlite").touch()
        argv = [*argv[:1], "--database-url", store, *argv[1:]]
    code, _, err = _cli([a.format(**names) for a in argv], capsys)
    assert code == 2
    assert expected.format(**names) in err
    assert "Traceback" not in err


def test_roadmap_key_typo_is_refused_with_the_known_keys(tmp_path):
    from feedback_nlp.roadmap import load_roadmap

    path = tmp_path / "roadmap.yaml"
    item = {"id": "R-1", "title": "Export", "owner": "@data", "status": "planned", "keyword": ["csv"]}
    path.write_text(yaml.safe_dump([item]), encoding="utf-8")
    with pytest.raises(RoadmapError) as caught:
        load_roadmap(path)
    message = str(caught.value)
    assert "item 'R-1': unknown key 'keyword'; did you mean 'keywords'?" in message
    assert "known keys: id, title, description, owner, status, keywords, target" in message


def test_environment_typo_is_refused_naming_the_closest_setting(monkeypatch):
    from feedback_nlp.settings import Settings

    monkeypatch.setenv("FEEDBACK_NLP_DATABASE_URI", "sqlite:///x.sqlite")
    with pytest.raises(ConfigError) as caught:
        Settings(_env_file=None)
    message = str(caught.value)
    assert "environment variable FEEDBACK_NLP_DATABASE_URI is not a feedback-nlp setting" in message
    assert "did you mean FEEDBACK_NLP_DATABASE_URL?" in message
    assert "FEEDBACK_NLP_MODELS_DIR" in message  # the known ones are listed


def test_dotenv_typo_is_refused(tmp_path):
    from feedback_nlp.settings import Settings

    env_file = tmp_path / ".env"
    env_file.write_text("OTHER_TOOL_KEY=1\nFEEDBACK_NLP_MODEL_DIR=elsewhere\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.env key FEEDBACK_NLP_MODEL_DIR .* FEEDBACK_NLP_MODELS_DIR\?"):
        Settings(_env_file=env_file)


def test_names_outside_the_settings_are_allowed(monkeypatch, tmp_path):
    from feedback_nlp.settings import Settings

    monkeypatch.setenv("FEEDBACK_NLP_TEST_POSTGRES_URL", "postgresql://nowhere")
    monkeypatch.setenv("FEEDBACK_NLP_MODEL_SIGNING_KEY", "s" * 32)
    monkeypatch.setenv("feedback_nlp_models_dir", str(tmp_path))  # read case-insensitively, so allowed
    assert Settings(_env_file=None).models_dir == Path(tmp_path)


def test_cli_reports_an_environment_typo_as_a_message(monkeypatch, capsys):
    from feedback_nlp.settings import get_settings

    monkeypatch.setenv("FEEDBACK_NLP_DATABASE_URI", "sqlite:///x.sqlite")
    get_settings.cache_clear()
    try:
        code, _, err = _cli(["themes"], capsys)
    finally:
        get_settings.cache_clear()
    assert code == 2
    assert "FEEDBACK_NLP_DATABASE_URI" in err and "Traceback" not in err


def test_themes_lists_areas_with_their_themes_and_score_shows_the_area(tiny_model_dir, capsys):
    themes = json.loads((tiny_model_dir / "themes.json").read_text())
    models_dir = tiny_model_dir.parent
    code, out, _ = _cli(["themes", "--models-dir", models_dir], capsys)
    assert code == 0
    n_areas = len({t["area_id"] for t in themes})
    assert f"{n_areas} areas, {len(themes)} themes" in out
    lines = out.splitlines()
    for theme in themes:  # each theme is printed below its own area's heading
        row = next(n for n, line in enumerate(lines) if line.lstrip().startswith(f"{theme['id']} "))
        heading = next(line for line in reversed(lines[:row]) if line.startswith("area "))
        assert heading.startswith(f"area {theme['area_id']}: {theme['area_name']}")
    code, out, _ = _cli(["score", "--models-dir", models_dir, "the CSV export times out"], capsys)
    result = json.loads(out.splitlines()[0])
    by_id = {t["id"]: t for t in themes}
    assert code == 0 and result["area_id"] == by_id[result["theme_id"]]["area_id"]
    assert result["area_name"] == by_id[result["theme_id"]]["area_name"]
