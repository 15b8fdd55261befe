"""The public Python API: the README's example runs as written, and FeedbackModel keeps its contract."""

from __future__ import annotations

import re

import pytest

from feedback_nlp.errors import ModelLoadError, ValidationError
from tests.conftest import EXAMPLES, REPO_ROOT


def readme_python_example() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## In Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    """Through the real encoder: the example trains on the sample's tickets, scores, saves and loads."""
    (tmp_path / "examples").symlink_to(EXAMPLES)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_python_example(), "README.md", "exec"), namespace)
    model = namespace["model"]
    assert (tmp_path / "models" / "notebook" / "metadata.json").is_file()
    assert model.path_.resolve() == (tmp_path / "models" / "notebook").resolve()
    assert len(model.themes_) >= 5
    unit = namespace["unit"]
    assert unit.theme_id in {theme["id"] for theme in model.themes_}
    assert "arrive" in " ".join(model.theme(unit.theme_id)["keywords"])


def test_fit_takes_a_dataframe_and_dicts_and_scores_like_the_saved_model(tmp_path):
    import pandas as pd
    from tiny_data import ROADMAP, tiny_config, write_tiny_dataset

    from feedback_nlp import FeedbackModel
    from feedback_nlp.embedding import HashingEmbedder

    (tickets, _), _ = write_tiny_dataset(tmp_path / "data")
    frame = pd.read_csv(tickets)
    model = FeedbackModel(tiny_config(), embedder=HashingEmbedder()).fit(frame, ROADMAP)
    assert model.summary_["rows_accepted"] == len(frame)
    texts = ["The CSV export times out", "my card got declined at the shop"]
    scored = [item.primary.theme_id for item in model.score(texts)]

    saved = model.save(tmp_path / "saved")
    again = FeedbackModel.load(saved)
    assert [item.primary.theme_id for item in again.score(texts)] == scored
    assert [t["id"] for t in again.themes_] == [t["id"] for t in model.themes_]
    with pytest.raises(FileExistsError):
        model.save(saved)

    from_dicts = FeedbackModel(tiny_config(), embedder=HashingEmbedder()).fit(
        frame.to_dict("records"), ROADMAP
    )
    assert [t["id"] for t in from_dicts.themes_] == [t["id"] for t in model.themes_]


def test_precomputed_embeddings_stand_in_for_the_encoder(tmp_path):
    import pandas as pd
    from tiny_data import ROADMAP, tiny_config, write_tiny_dataset

    from feedback_nlp import FeedbackModel
    from feedback_nlp.embedding import HashingEmbedder

    (tickets, _), _ = write_tiny_dataset(tmp_path / "data")
    frame = pd.read_csv(tickets)

    class CountingEmbedder(HashingEmbedder):
        calls = 0
        texts: set[str] = set()

        def embed(self, texts):
            CountingEmbedder.calls += len(texts)
            CountingEmbedder.texts.update(texts)
            return super().embed(texts)

    vectors = HashingEmbedder().embed(frame["text"].tolist())
    plain = FeedbackModel(tiny_config(), embedder=HashingEmbedder()).fit(frame, ROADMAP)
    counting = CountingEmbedder()
    given = FeedbackModel(tiny_config(), embedder=counting).fit(frame, ROADMAP, embeddings=vectors)
    assert [t["id"] for t in given.themes_] == [t["id"] for t in plain.themes_]
    # what is left for the encoder is the roadmap's few texts and the theme names' candidate phrases: every
    # ticket's vector was given
    assert CountingEmbedder.calls > 0
    assert not CountingEmbedder.texts & set(frame["text"])


def test_an_unfitted_model_says_so_and_bad_items_name_their_field(tiny_model):
    from feedback_nlp import FeedbackModel

    with pytest.raises(ModelLoadError, match="not fitted"):
        FeedbackModel().score(["anything"])
    with pytest.raises(ValidationError, match="text"):
        tiny_model.score([{"id": "A-1", "text": ""}])
    (item,) = tiny_model.score([{"id": "A-2", "text": "The CSV export times out", "source": "ticket"}])
    assert item.id == "A-2" and item.units[0].theme_id is not None


def test_a_model_in_an_older_format_is_refused_with_a_retrain_message(tiny_model_dir, tmp_path):
    import json
    import shutil

    from feedback_nlp import FeedbackModel

    old = tmp_path / "old"
    shutil.copytree(tiny_model_dir, old)
    metadata = json.loads((old / "metadata.json").read_text())
    del metadata["format_version"]
    (old / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError, match="retrain"):
        FeedbackModel.load(old)


def test_a_model_is_written_in_format_5_and_a_format_4_folder_still_loads(tiny_model_dir, tmp_path):
    """Format 5 packs the router's vocabularies, which a format-4 reader would load and then fail to score."""
    import json
    import shutil

    from feedback_nlp import FeedbackModel

    assert json.loads((tiny_model_dir / "metadata.json").read_text())["format_version"] == 5
    older = tmp_path / "format4"
    shutil.copytree(tiny_model_dir, older)
    metadata = json.loads((older / "metadata.json").read_text())
    metadata["format_version"] = 4
    (older / "metadata.json").write_text(json.dumps(metadata))
    (item,) = FeedbackModel.load(older).score([{"id": "A-3", "text": "The CSV export times out"}])
    assert item.units[0].theme_id is not None


def test_train_refuses_a_dataframe_with_the_way_to_fit_one(tmp_path):
    import pandas as pd

    from feedback_nlp.errors import InputError
    from feedback_nlp.pipeline import train

    frame = pd.DataFrame({"id": ["1"], "text": ["hello"], "source": ["ticket"], "created_at": ["2026-11-01"]})
    with pytest.raises(InputError, match="FeedbackModel"):
        train(frame, EXAMPLES / "roadmap.yaml", tmp_path / "models")
