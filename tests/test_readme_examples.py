"""The README's sample answer and pin example, and training/taxonomy.example.yaml, are what the demo model
gives: regenerated from a model trained as ``make demo`` trains it (the real encoder).

When the model changes on purpose (new themes or names), ``make train && make readme-examples`` rewrites
them; this test then passes again.
"""

from __future__ import annotations

import pytest
import yaml

from tests.readme_examples import README, TAXONOMY_EXAMPLE, generated, rewrite_readme, without_versions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def blocks(demo_model_dir):
    from feedback_nlp.model import FeedbackModel

    return generated(FeedbackModel.load(demo_model_dir))


def test_readme_examples_match_the_demo_model(blocks):
    readme = README.read_text(encoding="utf-8")
    assert without_versions(rewrite_readme(readme, blocks)) == without_versions(readme), (
        "README.md is out of date with the demo model: run make train && make readme-examples"
    )


def test_the_taxonomy_example_matches_the_demo_model(blocks, demo_model_dir):
    from feedback_nlp.model import FeedbackModel
    from feedback_nlp.taxonomy import Taxonomy

    assert TAXONOMY_EXAMPLE.read_text(encoding="utf-8") == blocks["taxonomy"], (
        "training/taxonomy.example.yaml is out of date: run make train && make readme-examples"
    )
    # and it is a taxonomy the demo model accepts: every theme it names exists
    decisions = yaml.safe_load(blocks["taxonomy"])
    theme_ids = {theme["id"] for theme in FeedbackModel.load(demo_model_dir).themes_}
    named = [d["theme"] for k in ("rename", "pin", "ignore") for d in decisions[k]] + decisions["merge"][0][
        "themes"
    ]
    assert set(named) <= theme_ids
    Taxonomy.load(TAXONOMY_EXAMPLE)  # and the file parses as a taxonomy
