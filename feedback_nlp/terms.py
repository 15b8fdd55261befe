"""Term extraction: the terms that the lexical parts of the library compare, counted and match.

Two kinds of input, one module:

* raw text (a unit, a roadmap item's title and keywords): :func:`words` splits it into lower-case words,
  :func:`stem` strips common suffixes, and :func:`terms` does both and drops English stop words: what BM25
  (:mod:`feedback_nlp.bm25`) and the roadmap evidence count. The roadmap item matcher
  (:func:`feedback_nlp.roadmap.named_item`) compares :func:`words` under the lighter :func:`light_stem`.
* spaCy lemmas (already lower-case, free of stop words, numbers and PII, see :mod:`feedback_nlp.prepare`):
  :func:`keyword_terms` gives the unigrams and bigrams that c-TF-IDF (:mod:`feedback_nlp.ctfidf`) counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# Placeholders whose words are left out of theme keywords. The newer ones ([IBAN], [SSN], [ADDRESS]) are not
# listed: redacted spans never reach the lemmas, and "address" and "iban" are real feedback words that must
# stay keywords. Defined here, not in feedback_nlp.prepare, so that the report and alignment, which need
# terms but not spaCy, do not load spaCy (and with it torch).
REDACTION_TOKENS = ("[EMAIL]", "[PHONE]", "[CARD]", "[PERSON]", "[URL]")
_WORD = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ing", "ed", "es", "s", "er")
_REDACTION_WORDS = frozenset(token.strip("[]").lower() for token in REDACTION_TOKENS)


def words(text: str) -> list[str]:
    """The lower-case runs of letters and digits in ``text``, in order."""
    return _WORD.findall(text.lower())


def stem(word: str) -> str:
    """A crude stem: one common suffix off, then a final ``e`` or ``y`` (``rate``, ``rating`` -> ``rat``)."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] in "ey":  # rate / rated / rating, reply / replies
        word = word[:-1] + ("i" if word[-1] == "y" else "")
    return word


def light_stem(word: str) -> str:
    """A lighter stem for matching item names: only ``-ing``, ``-es`` or ``-s`` off, leaving 3 letters or
    more.

    The item matcher's decisions (which gaps are reported) were tuned with it; :func:`stem` would merge more
    words ("shipping" and "ship") and change them.
    """
    for suffix in ("ing", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """Lower-cased words without English stop words, stemmed: what BM25 counts."""
    return [stem(word) for word in words(text) if word not in ENGLISH_STOP_WORDS]


def keyword_terms(lemmas: Iterable[str]) -> list[str]:
    """The lemmas (redaction placeholders left out) and their bigrams: what c-TF-IDF counts."""
    kept = [lemma for lemma in lemmas if lemma not in _REDACTION_WORDS]
    return kept + [f"{a} {b}" for a, b in zip(kept, kept[1:]) if a != b]
