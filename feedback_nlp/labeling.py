"""Theme labels: a short name from the theme's c-TF-IDF keywords, and representative quotes.

The keywords themselves come from :mod:`feedback_nlp.ctfidf`.
"""

from __future__ import annotations

from collections.abc import Iterable

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
    """The first ``n_examples`` of ``(similarity, position, text)`` candidates, already ranked, one per
    distinct text (case and spacing ignored): a theme's quotes should not repeat one templated ticket."""
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
