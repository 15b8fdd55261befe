"""Theme labels: keywords by class-based TF-IDF over spaCy lemmas, a short name, representative quotes.

c-TF-IDF (as in BERTopic) treats all units of a theme as one document: a term scores high when it is
frequent in the theme and rare across themes. Lemmas arrive already free of stop words, numbers and
redacted PII (see :mod:`feedback_nlp.prepare`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from feedback_nlp.prepare import REDACTION_TOKENS


def class_tfidf_keywords(
    lemmas_per_unit: Sequence[list[str]],
    labels: np.ndarray,
    n_themes: int,
    n_keywords: int = 10,
    min_df: int = 2,
) -> list[list[str]]:
    """Top keywords per theme (unigrams and bigrams of lemmas); theme ``t`` gets ``result[t]``."""
    assigned = labels >= 0
    docs = [lemmas for lemmas, keep in zip(lemmas_per_unit, assigned) if keep]
    theme_of_doc = labels[assigned]
    if not docs:
        return [[] for _ in range(n_themes)]
    vectorizer = CountVectorizer(analyzer=_unigrams_and_bigrams, min_df=min(min_df, len(docs)))
    try:
        counts = vectorizer.fit_transform(docs)
    except ValueError:  # empty vocabulary
        return [[] for _ in range(n_themes)]
    membership = sparse.csr_matrix(
        (np.ones(len(theme_of_doc)), (theme_of_doc, np.arange(len(theme_of_doc)))),
        shape=(n_themes, len(theme_of_doc)),
    )
    per_theme = np.asarray((membership @ counts).todense(), dtype=np.float64)
    term_frequency = per_theme / np.maximum(per_theme.sum(axis=1, keepdims=True), 1)
    average_words = per_theme.sum() / max(n_themes, 1)
    idf = np.log(1 + average_words / np.maximum(per_theme.sum(axis=0), 1))
    scores = term_frequency * idf
    vocabulary = np.array(vectorizer.get_feature_names_out())
    keywords = []
    for theme in range(n_themes):
        order = np.argsort(-scores[theme], kind="stable")
        chosen = [vocabulary[i] for i in order[: n_keywords * 2] if scores[theme, i] > 0]
        keywords.append(_drop_redundant(chosen)[:n_keywords])
    return keywords


def _unigrams_and_bigrams(lemmas: list[str]) -> list[str]:
    lemmas = [lemma for lemma in lemmas if lemma not in _REDACTION_WORDS]
    return lemmas + [f"{a} {b}" for a, b in zip(lemmas, lemmas[1:]) if a != b]


_REDACTION_WORDS = {token.strip("[]").lower() for token in REDACTION_TOKENS}


def _drop_redundant(terms: list[str]) -> list[str]:
    """Keep a bigram and drop its words when they are listed after it (``card arrival``, ``card``)."""
    kept: list[str] = []
    covered: set[str] = set()
    for term in terms:
        words = term.split()
        if len(words) == 1 and term in covered:
            continue
        if len(words) == 2 and all(w in {k for k in kept if " " not in k} for w in words):
            continue  # both words already listed on their own
        kept.append(term)
        if len(words) == 2:
            covered.update(words)
    return kept


# Words that score well in c-TF-IDF (they separate themes) but say nothing on their own in a name:
# "fail / work" reads worse than "top-up / fail".
_WEAK_NAME_WORDS = frozenset(
    {
        "work",
        "try",
        "mean",
        "happen",
        "use",
        "make",
        "get",
        "go",
        "come",
        "take",
        "look",
        "say",
        "know",
        "need",
        "want",
        "help",
        "able",
        "way",
        "thing",
        "time",
        "day",
        "week",
        "month",
        "long",
        "new",
        "couple",
        "think",
        "sure",
        "reason",
        "ago",
        "yesterday",
        "today",
        "keep",
        "see",
        "still",
        "lot",
        "good",
        "bad",
        "frustrate",
        "wrong",
        "right",
        "really",
        "explain",
        "understand",
        "problem",
        "issue",
        "ahead",
    }
)


def theme_name(keywords: list[str], max_words: int = 4) -> str:
    """A short readable name from the top keywords: ``"card arrival / delivery"``.

    Keywords made only of weak words are skipped unless nothing else is left.
    """
    if not keywords:
        return "unnamed theme"
    strong = [k for k in keywords if not all(w in _WEAK_NAME_WORDS for w in k.split())]
    parts: list[str] = []
    used: set[str] = set()
    for keyword in strong or keywords:
        words = keyword.split()
        if any(w in used for w in words):
            continue
        if sum(len(p.split()) for p in parts) + len(words) > max_words:
            break
        parts.append(keyword)
        used.update(words)
        if len(parts) == 2:
            break
    return " / ".join(parts)


def distinct_examples(
    ranked: Iterable[tuple[float, int, str]], n_examples: int = 3
) -> list[tuple[float, int, str]]:
    """The first ``n_examples`` of ``(similarity, position, text)`` candidates, already ranked, one per distinct
    text (case and spacing ignored): a theme's quotes should not repeat one templated ticket."""
    chosen: list[tuple[float, int, str]] = []
    seen: set[str] = set()
    for candidate in ranked:
        normalised = " ".join(candidate[2].lower().split())
        if normalised in seen:
            continue
        seen.add(normalised)
        chosen.append(candidate)
        if len(chosen) == n_examples:
            break
    return chosen
