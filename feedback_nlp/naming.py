"""Names in words for groups of units (themes; areas made of themes): "Top-up failures", "Card activation".

A group's name is a short phrase chosen from what its own units say:

1. **Candidates.** spaCy noun chunks (alone or with a prepositional object: "fee for cash withdrawal"),
   verb-object and subject-verb pairs ("activate card", "top-up failed", "card not working") of a seeded
   sample of the group's units (:func:`sample_size`), cut to whole words, stop words stripped from both
   ends (but a phrasal verb is one word: "top up with card", "account topped up"), and dropped when they
   hold a weak word (:data:`WEAK_WORDS`), a redaction or masking token, or part of a person's or
   organisation's name (also where the tagger missed it, :data:`NAME_SHARE`). A phrase without a noun is no
   name. A verb phrase reads as a person titles it: a request verb first, an event done
   object first, a negated verb as a state ("they reverted my top-up" -> "top-up reverted", "card doesn't
   work" -> "card not working"). Inflections are counted together by lemma, but a candidate is shown in its
   most frequent surface form ("taxes", never the lemmatizer's "taxis").
2. **Scores.** Closeness of the phrase's embedding to the group's centroid (as KeyBERT does, with the same
   encoder as the units; one batched call for every group), plus its margin over the nearest *other*
   centroid (a name should point at its own group), plus a little of its class-based TF-IDF among the
   groups (:func:`feedback_nlp.ctfidf.class_tfidf_scores`).
3. **Distinct names.** Groups choose largest first, each with maximal marginal relevance against the names
   already given, so that siblings get different names; a name is never given twice (when every candidate
   of a group is taken, its name adds the keyword that sets it apart, or a number).

:func:`name_groups` is the one entry point; the training job calls it for themes, and the same call names
areas from their themes' units by noun phrases only (``subjects=True``: "Card activation", not "Activate
card").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from lemminflect import getAllLemmas, getInflection, getLemma
from spacy.lang.en.stop_words import STOP_WORDS

from feedback_nlp.ctfidf import class_tfidf_scores
from feedback_nlp.redact import KINDS

# Placeholders for a topic rather than a topic, as nouns ("the issue", "the process"). As verbs they name an
# event ("card issued", "top-up not processed"): only their listed forms are weak there, not their lemma.
PLACEHOLDER_NOUNS = frozenset(
    {
        "thing", "things", "stuff", "something", "anything", "issue", "issues", "problem", "problems",
        "question", "questions", "detail", "details", "process", "processes", "way", "ways", "lot",
        "lots", "kind", "sort", "type", "part", "bit", "reason", "case", "situation", "information",
        "info", "option", "options", "matter", "point", "regard", "regards", "respect",
    }
)  # fmt: skip
# Words that never appear in a name. Each is frequent in feedback and distinctive enough for c-TF-IDF to
# rank it, but says nothing a product manager can act on (and the placeholders above):
WEAK_WORDS = PLACEHOLDER_NOUNS | frozenset(
    {
        # filler and hedges: how people talk, not what about
        "actually", "really", "just", "still", "even", "basically", "literally", "simply", "anyway",
        "already", "again", "maybe", "probably", "ok", "okay", "yes", "hi", "hello", "thanks", "thank",
        "please", "sorry", "lol", "etc",
        # light verbs (any inflection): the object carries the meaning ("get" a refund -> "refund")
        "get", "gets", "getting", "got", "gotten", "set", "sets", "setting", "do", "does", "doing", "did",
        "done", "make", "makes", "making", "made", "go", "goes", "going", "went", "gone", "have", "has",
        "having", "had", "take", "takes", "taking", "took", "taken", "put", "give", "gives", "giving",
        "gave", "given", "let", "lets", "keep", "keeps", "keeping", "kept", "try", "tries", "trying",
        "tried", "use", "uses", "using", "used", "want", "wants", "wanting", "wanted", "need", "needs",
        "needing", "needed", "like", "see", "seeing", "saw", "seen", "look", "looking", "looked", "say",
        "said", "tell", "told", "know", "knew", "known", "think", "thought", "come", "came", "happen",
        "happens", "happened", "happening", "mean", "means", "meant", "help", "helps", "helping", "helped",
        "ask", "asked", "asking",
        # time words: when it happened, not what happened
        "time", "times", "day", "days", "week", "weeks", "month", "months", "year", "years", "today",
        "yesterday", "tomorrow", "ago", "now", "moment",
        # judgements and intensifiers: how it felt, not what it was about
        "good", "bad", "great", "nice", "terrible", "awful", "horrible", "right", "sure",
        "able", "new", "long", "couple", "much", "many", "very", "frustrate", "frustrated",
        "frustrating", "annoying", "love", "loves", "loved", "loving", "hate", "hated", "awesome", "amazing",
        "best", "worst", "excellent", "perfect", "fantastic", "cool", "fine", "useless", "useful",
        "wonderful", "brilliant", "superb",
        # people in general (who wrote, not about what)
        "customer", "customers", "client", "clients", "user", "users", "someone", "anyone", "people",
        "person", "guy", "guys", "team",
    }
)  # fmt: skip
# "process" alone is a placeholder ("the process"); "processing" names a product function ("payment
# processing") and is not listed.

# Masking tokens of other tools' exports: "XXXX", "XX/XX/2019", "xxxx-xxxx".
_MASK = re.compile(r"^(?:[x*#]{2,}[\W\dx*#]*|.*x{2,}.*/.*)$", re.IGNORECASE)
_REDACTION_KINDS = frozenset(KINDS)
_PLACEHOLDER = re.compile(r"^\[[A-Z_]+\]$")
# a hyphenated compound's parts are words of their own ("topping-off": "topping", "off")
_HYPHEN_OR_SPACE = re.compile(r"[\s\-]+")
_WORD_SHAPE = re.compile(r"^[a-z0-9][a-z0-9'\-]*$")
# Parts of speech that never start or end a name ("my card" -> "card", "card of" -> "card").
_EDGE_POS = frozenset({"DET", "PRON", "ADP", "CCONJ", "SCONJ", "PART", "PUNCT", "NUM", "AUX", "SYM", "X"})
_NAME_ENTITIES = frozenset({"PERSON", "ORG"})
_PLACE_ENTITIES = frozenset({"GPE", "LOC", "NORP"})
# A light verb's plain sense where it reads as a state of its object: "I didn't get my card" -> "card not
# received" ("get" itself is a weak word and never shows).
_PLAIN_VERB = {"get": "receive"}
# Prepositions that name a request's means or route ("pay with card", "pay by transfer").
_MEANS = frozenset({"with", "by", "via", "through", "from"})
_MAX_WORDS = 5
# Particles of phrasal verbs that also make nouns written open ("top up", "sign up", "log in", "check out").
_OPEN_PARTICLES = frozenset({"up", "in", "out", "off", "down", "back", "over"})

# Sample per group: at least MIN_SAMPLE units (a phrase used by one unit in ten is then seen about ten times),
# growing as SAMPLE_PER_SQRT * sqrt(n): big groups show rarer but still distinctive phrases while the spaCy
# cost stays sublinear in the data (10,000 units -> 1,000 parsed).
MIN_SAMPLE = 100
SAMPLE_PER_SQRT = 10
# A word the NER calls a person's or organisation's name in at least this share of the group's units that hold
# it is a name in all of them ("Facebook app" where "facebook" is tagged in a third): the tagger misses many
# names in lower-case reviews, and seldom tags a product word (a stray tag stays under the share).
NAME_SHARE = 0.25
# Candidates per group that are embedded: the most used phrases; the rest are seldom chosen and cost
# encoder time on every group (40 short phrases per group: 3,500 for Banking77's 88 themes, a few seconds of
# the encoder). On benchmarks/bench_names.py's sets 40 named as many themes right as 60 or more, and 25
# one fewer on Banking77.
CANDIDATES_PER_GROUP = 40
# How much the margin over the nearest other group's centroid adds: a name should point at its own group, not
# at a sibling ("Card delivery" sits between delivery estimates and card arrival; "Card arrival" does not).
# On the three labelled sets of benchmarks/bench_names.py 1.5 named as many themes right as 1.0 or more on
# each (one more on Banking77 and on URR); with the candidate kinds of issue 16's names work (states, means,
# phrases one unit used) 2.0 names one Banking77 theme more than 1.5 and the same on URR and IS-22, 2.5 one
# fewer on Banking77 and IS-22.
DISTINCTNESS_WEIGHT = 2.0
# How much c-TF-IDF (scaled to [0, 1] within a group) adds to the cosine to the centroid (about 0.3 to 0.9
# for a good phrase with sentence encoders): a tie-breaker between phrases about as close, for the one the
# group uses more than the others do. Larger weights let frequent but vague words win ("Cash" over "Cash
# deposit"); on the three labelled sets of benchmarks/bench_names.py 0.3 named fewer themes right than 0.1.
CTFIDF_WEIGHT = 0.1
# A lone noun ("Refund", "Payment") names a subject, not a request: it must beat the best phrase by this much
# (about the cosine a head noun loses to its phrase: "refund" 0.84, "refund not showing" 0.83). On each of the
# three labelled sets of benchmarks/bench_names.py it named as many themes right or more than no penalty.
SINGLE_WORD_PENALTY = 0.1
# An area's name must be about its themes: its mean cosine to their centroids (weighted by units) at least
# this share of their own names' mean cosine to them. On the bundled sample a word of a coherent area keeps
# 0.65 to 0.95 of it ("Card" 0.67, "Transfer" 0.70, "Refund" 0.94), a word its themes merely share under
# 0.55 ("Employees" 0.43 over SSO, card spend and memos; "Password" 0.53 over passcodes, identity checks,
# addresses and closing the account); every area name chosen on Banking77's 18 areas and URR's 8 keeps 0.6 or
# more. An area no phrase is about is named by its two largest themes.
ABOUT_SHARE = 0.6
# The longest name an area named by two of its themes may have: the width `feedback-nlp themes` gives a name
# (34 characters); longer, the name is one theme's "and more" (:func:`_mixed_name`).
MIXED_NAME_CHARS = 34
_AND_MORE = " and more"
# Maximal marginal relevance: how much closeness to a name already given counts against a candidate. Kept
# small: the margin above already points names away from sibling groups, and exact repeats are refused.
DIVERSITY = 0.15


@dataclass(frozen=True)
class GroupName:
    """A group's name, its keywords (shown beside it), and the runner-up phrases (best first)."""

    name: str
    keywords: tuple[str, ...]
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupMembers:
    """The themes an area is made of (largest first): their unit-length centroids, units and names."""

    centroids: np.ndarray
    sizes: tuple[int, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class NamingRequest:
    """The arguments of :func:`name_groups` that travel to where the spaCy pipeline and encoder live."""

    group_texts: tuple[tuple[str, ...], ...]
    centroids: np.ndarray
    keywords: tuple[tuple[str, ...], ...]
    reserved: tuple[str, ...] = ()
    subjects: bool = False  # name by subject (areas: "Card delivery"), not by request or event
    members: tuple[GroupMembers, ...] = ()  # areas: the themes each is made of


@dataclass(frozen=True)
class Phrase:
    """One candidate occurrence: its grouping key (lemmas) and how it was written (lower case but for
    acronyms)."""

    key: str
    surface: str
    subject: bool = True  # a noun phrase ("card delivery"), not a verb's ("activate card", "card arrived")
    setting: bool = False  # a lone noun saying where, with what or by whom ("on the app"), not what about


def sample_size(n_units: int) -> int:
    """Units of a group of ``n_units`` whose phrases are extracted (see :data:`MIN_SAMPLE`)."""
    return min(n_units, max(MIN_SAMPLE, math.ceil(SAMPLE_PER_SQRT * math.sqrt(n_units))))


def name_groups(
    group_texts: Sequence[Sequence[str]],
    group_centroids: np.ndarray,
    embed: Callable[[list[str]], np.ndarray],
    nlp: Any,
    keywords: Sequence[Sequence[str]] | None = None,
    reserved: Iterable[str] = (),
    random_state: int = 0,
    subjects: bool = False,
    members: Sequence[GroupMembers] = (),
) -> list[GroupName]:
    """Name each group from the phrases of its own units.

    Args:
        group_texts: the (redacted) texts of each group's units; group ``g`` gets ``result[g]``.
        group_centroids: ``(n_groups, dim)`` unit-length centroids in ``embed``'s space.
        embed: the units' encoder (texts -> unit-length rows); called once, with every candidate phrase.
        nlp: a loaded spaCy pipeline with a parser and NER (``TextPreparer._get_nlp()``).
        keywords: each group's c-TF-IDF keywords, kept beside the name (and used to tell apart two groups
            whose best phrase is the same).
        reserved: names already in use (curated seed themes): never given again.
        random_state: seeds the sample of each group's units.
        subjects: name each group by what it is about, a noun phrase ("Cards", "Card delivery"), as an area
            of several themes is named; a lone noun then needs no edge over a phrase
            (:data:`SINGLE_WORD_PENALTY`). Themes are named by any phrase ("Activate card", "Card arrived").
        members: for areas, the themes each group is made of: a name must be about them
            (:data:`ABOUT_SHARE`); an area no candidate is about is named by its two largest themes ("Support
            SSO and card spend").

    Returns:
        One :class:`GroupName` per group, no two with the same name (case ignored).
    """
    n_groups = len(group_texts)
    keywords = [list(k) for k in keywords] if keywords is not None else [[] for _ in range(n_groups)]
    counted = count_phrases(group_texts, nlp, random_state)
    surfaces = counted.surfaces
    ctfidf = class_tfidf_scores(counted.per_group)
    shortlist = _shortlists(counted, subjects)
    single_word_penalty = 0.0 if subjects else SINGLE_WORD_PENALTY
    phrases = sorted({key for keys in shortlist for key in keys})
    vectors, about = _embed_candidates(
        [_display(surfaces[key]) for key in phrases], members, embed, group_centroids
    )
    row = {key: n for n, key in enumerate(phrases)}
    taken: dict[str, np.ndarray | None] = {name.lower(): None for name in reserved}
    names: dict[int, GroupName] = {}
    for g in sorted(range(n_groups), key=lambda g: (-len(group_texts[g]), g)):  # largest choose first
        ranked = _rank(shortlist[g], ctfidf[g], vectors, row, group_centroids, g, taken, single_word_penalty)
        displays = [_display(surfaces[key]) for key in ranked]
        free = _free(displays, taken, vectors[[row[key] for key in ranked]], about[g] if about else None)
        if free:
            name = displays[free[0]]
            taken[name.lower()] = vectors[row[ranked[free[0]]]]
        else:
            name = _fallback(
                displays, members[g] if members else None, keywords[g], counted.blocked_words[g], taken
            )
            taken[name.lower()] = None
        names[g] = GroupName(name, tuple(keywords[g]), tuple(d for d in displays if d != name)[:4])
    return [names[g] for g in range(n_groups)]


def _about_members(
    members: Sequence[GroupMembers], member_vectors: np.ndarray
) -> list[tuple[np.ndarray, float]]:
    """Per group: the unit-weighted sum of its members' centroids (a phrase's product with it is its mean
    cosine to them) and the least that mean may be for a name (:data:`ABOUT_SHARE` of the members' own
    names')."""
    about = []
    start = 0
    for group in members:
        names = member_vectors[start : start + len(group.names)]
        start += len(group.names)
        weights = np.asarray(group.sizes, dtype=np.float64)
        weights = weights / (weights.sum() or 1.0)
        centroids = np.asarray(group.centroids, dtype=np.float64)
        own = float(np.sum(weights * np.sum(names * centroids, axis=1)))
        about.append((weights @ centroids, ABOUT_SHARE * own))
    return about


def _embed_candidates(
    displays: list[str],
    members: Sequence[GroupMembers],
    embed: Callable[[list[str]], np.ndarray],
    centroids: np.ndarray,
) -> tuple[np.ndarray, list[tuple[np.ndarray, float]]]:
    """The candidates' vectors and, for areas, what a name must be about (:func:`_about_members`): one call
    of the encoder for the candidates and the members' names."""
    member_names = [name for group in members for name in group.names]
    embedded = _embed_phrases(displays + member_names, embed, centroids)
    return embedded[: len(displays)], _about_members(members, embedded[len(displays) :])


def _fallback(
    displays: list[str], members: GroupMembers | None, keywords: Sequence[str], blocked: set[str], taken: dict
) -> str:
    """The name of a group none of whose candidates is free: an area's two largest themes where no phrase is
    about it, else the best candidate made distinct (:func:`_distinct`)."""
    mixed = _mixed_name(members) if members is not None else ""
    best = displays[0] if displays else ""
    return _distinct(mixed if mixed and mixed.lower() not in taken else best, keywords, blocked, taken)


def _free(
    displays: list[str], taken: dict, vectors: np.ndarray, about: tuple[np.ndarray, float] | None
) -> list[int]:
    """Positions of the ranked candidates a group may take: not given yet and, for an area, about its themes
    (:data:`ABOUT_SHARE`; ``vectors``: the candidates' rows)."""
    free = [n for n, display in enumerate(displays) if display.lower() not in taken]
    if about is None:
        return free
    direction, least = about
    return [n for n in free if float(vectors[n] @ direction) >= least]


def _mixed_name(group: GroupMembers) -> str:
    """An area no phrase is about, named by its two largest themes: "Support SSO and card spend" (the second
    name's capital kept only where it is an acronym's). Where the two are longer than
    :data:`MIXED_NAME_CHARS`, one of them "and more": the largest theme's where it fits, else the shorter
    ("Fee for card payment and more", not "Fee for card payment and extra pound charged")."""
    order = sorted(range(len(group.names)), key=lambda n: -group.sizes[n])
    names = [group.names[n] for n in order[:2]]
    if len(names) < 2:
        return names[0] if names else "Unnamed area"
    second = names[1]
    first_word = second.split()[0] if second.split() else second
    if not first_word.isupper():
        second = second[:1].lower() + second[1:]
    both = f"{names[0]} and {second}"
    if len(both) <= MIXED_NAME_CHARS:
        return both
    fits = len(names[0]) + len(_AND_MORE) <= MIXED_NAME_CHARS
    return (names[0] if fits else min(names, key=len)) + _AND_MORE


def shortlisted_phrases(
    group_texts: Sequence[Sequence[str]], nlp: Any, random_state: int = 0, subjects: bool = False
) -> list[list[str]]:
    """Each group's shortlisted candidates as a name shows them, most used first: the phrases
    :func:`name_groups` scores (a benchmark measures how good the best of them could be)."""
    counted = count_phrases(group_texts, nlp, random_state)
    return [[_display(counted.surfaces[key]) for key in keys] for keys in _shortlists(counted, subjects)]


@dataclass(frozen=True)
class PhraseCounts:
    """What the sampled units of every group say: per group, in how many units each candidate key occurs,
    the words no name may hold (names, masks) and the lemmas only one unit used; per key, its surface
    forms."""

    per_group: list[Counter[str]]
    surfaces: dict[str, Counter[str]]
    blocked_words: list[set[str]]
    noun_uses: Counter[str] = field(default_factory=Counter)  # how often each key was a noun phrase
    lone_words: list[set[str]] = field(default_factory=list)
    settings: list[set[str]] = field(default_factory=list)  # keys no name of the group may be (_is_setting)

    @property
    def subjects(self) -> set[str]:
        """Keys mostly written as noun phrases: "top-up fail" of one misparsed "why did the top-up fail" is
        the event "top-up failed", not a subject an area may be named by."""
        return {key for key, n in self.noun_uses.items() if 2 * n > sum(self.surfaces[key].values())}


def count_phrases(group_texts: Sequence[Sequence[str]], nlp: Any, random_state: int = 0) -> PhraseCounts:
    """Parse a seeded sample of each group's units (:func:`sample_size`) and count their candidates."""
    rng = np.random.default_rng(random_state)
    sampled: list[list[str]] = []
    for texts in group_texts:
        n = len(texts)
        chosen = np.sort(rng.choice(n, size=sample_size(n), replace=False)) if n else np.zeros(0, int)
        sampled.append([texts[i] for i in chosen])
    docs = iter(nlp.pipe([text for texts in sampled for text in texts], batch_size=64))
    counts = PhraseCounts([], {}, [])
    for texts in sampled:
        tally = _Tally()
        for doc in (next(docs) for _ in texts):
            tally.add(doc, counts)
        counts.per_group.append(tally.keys)
        # a lone noun most of the group's units name as where, with what or by whom something is done ("buy
        # crypto on the app", "the app rejected my top-up") is the setting, not the topic: never "App"
        counts.settings.append({key for key, n in tally.keys.items() if n > 2 * tally.as_topic[key]})
        counts.blocked_words.append(_name_words(tally.as_name, tally.seen, tally.compounds))
        counts.lone_words.append({w for w, n in tally.units_using.items() if n == 1})
    return counts


@dataclass
class _Tally:
    """One group's sampled units, counted unit by unit."""

    keys: Counter[str] = field(default_factory=Counter)  # in how many units each candidate key occurs
    as_topic: Counter[str] = field(default_factory=Counter)  # ... other than as a setting ("on the app")
    as_name: Counter[str] = field(default_factory=Counter)  # how often a word is a name's (or a mask)
    seen: Counter[str] = field(default_factory=Counter)
    units_using: Counter[str] = field(default_factory=Counter)  # in how many units each lemma occurs
    compounds: Counter[tuple[str, str]] = field(default_factory=Counter)  # (word, its compound's word)

    def add(self, doc: Any, counts: PhraseCounts) -> None:
        phrases = extract_phrases(doc)
        self.keys.update({p.key for p in phrases})
        self.as_topic.update({p.key for p in phrases if not p.setting})
        for p in phrases:
            counts.surfaces.setdefault(p.key, Counter())[p.surface] += 1
        counts.noun_uses.update(p.key for p in phrases if p.subject)
        self.seen.update(t.lower_ for t in doc)
        self.units_using.update({w for t in doc for w in (t.lemma_.lower(), t.lower_)})  # a compound's parts
        self.as_name.update(doc[i].lower_ for i in blocked_tokens(doc))
        self.compounds.update(_compound_pairs(doc))


def _compound_pairs(doc: Any) -> Iterator[tuple[str, str]]:
    """(proper noun, the word it forms a compound with): "Pay" of "Apple Pay", not "card" of "Visa card"."""
    for token in doc:
        if token.dep_ == "compound":
            if token.pos_ == "PROPN":
                yield token.lower_, token.head.lower_
            if token.head.pos_ == "PROPN":
                yield token.head.lower_, token.lower_


def _name_words(as_name: Counter[str], seen: Counter[str], compounds: Counter[tuple[str, str]]) -> set[str]:
    """The words a group uses as a name's (:data:`NAME_SHARE` of their uses), and the proper nouns it mostly
    uses in a compound with one of those: "Pay" of "Apple Pay" and "Google Pay" is a product's name even where
    the NER tagged only "Apple", and a theme named "Pay" says nothing."""
    named = {w for w, n in as_name.items() if n >= NAME_SHARE * seen[w]}
    beside: Counter[str] = Counter()
    for (word, partner), n in compounds.items():
        if partner in named and word not in named:
            beside[word] += n
    return named | {w for w, n in beside.items() if n >= NAME_SHARE * seen[w]}


def extract_phrases(doc: Any) -> list[Phrase]:
    """Candidate phrases of one parsed text: its noun chunks (with a prepositional object: "fee for cash
    withdrawal"), verb-object and subject-verb pairs ("activate card", "top-up reverted", "card not
    working"), cleaned (module docstring)."""
    blocked = blocked_tokens(doc)
    nouns = [_clean(tokens, blocked, {}, setting=setting) for tokens, setting in _noun_spans(doc)]
    verbs = [_clean(tokens, blocked, forms, subject=False) for tokens, forms in _verb_spans(doc)]
    return [phrase for phrase in [*nouns, *verbs] if phrase is not None]


def blocked_tokens(doc: Any) -> set[int]:
    """Indices of the tokens no name may hold: person and organisation names, placeholders and masks."""
    blocked = {t.i for ent in doc.ents if ent.label_ in _NAME_ENTITIES for t in ent if not _is_acronym(t)}
    blocked.update(t.i for t in doc if _is_placeholder(doc, t))
    return blocked


def _noun_spans(doc: Any) -> Iterator[tuple[list[Any], bool]]:
    """Noun chunks, alone and with a prepositional object ("fee for cash withdrawal") or an action ("fee
    for receiving money"); and whether the chunk is the setting of an action (:func:`_is_setting`)."""
    for noun_chunk in doc.noun_chunks:
        chunk = list(noun_chunk)
        if chunk[-1].i == noun_chunk.root.i:
            chunk[-1:] = _with_particle(noun_chunk.root)  # "my top up", not "my top"
        yield chunk, _is_setting(noun_chunk.root)
        for prep in noun_chunk.root.rights:
            if prep.dep_ != "prep":
                continue
            for obj in prep.children:
                if obj.dep_ == "pobj":
                    yield [*chunk, prep, *_noun_words(obj)], False
                elif obj.dep_ == "pcomp" and obj.pos_ == "VERB":
                    objects = [t for t in obj.children if t.dep_ in ("dobj", "obj") and t.pos_ == "NOUN"]
                    particle = [t for t in obj.children if t.dep_ == "prt" and t.i == obj.i + 1]
                    yield [*chunk, prep, obj, *particle, *(_noun_words(objects[0]) if objects else [])], False


def _is_setting(noun: Any) -> bool:
    """A noun that says where, with what or by whom something is done rather than what it is about: an
    action's prepositional object other than "of" ("buy crypto on the app", "processed by the app") or the
    agent of a verb with an object ("the app rejected my top-up")."""
    head = noun.head
    if noun.dep_ == "pobj" and head.dep_ in ("prep", "agent") and head.lower_ != "of":
        return bool(head.head.pos_ in ("VERB", "AUX"))
    return noun.dep_ == "nsubj" and head.pos_ == "VERB" and _has_object(head)


def _verb_spans(doc: Any) -> Iterator[tuple[list[Any], dict[int, str]]]:
    """Verb-object and subject-verb pairs in the words a person titles them with (tokens in name order, and
    the verb's written form where the sentence's is not the name's).

    A request reads verb first ("activate my card" -> "activate card"); an event already done reads object
    first ("they reverted my top-up" -> "top-up reverted", as the passive "my top-up was reverted" does);
    a verb after "do" or a modal reads as a participle or gerund ("when did my card arrive" -> "card
    arrived", "card didn't work" -> "card not working"). A subject is a topic only when the verb has no
    object: in "the app declined my payment" the app is the agent and "payment declined" the topic.

    Three more kinds say what went wrong with a thing rather than what someone did: a negated verb's object
    ("I didn't receive my card" -> "card not received"), a noun its relative clause acts on ("a payment I
    don't recognise" -> "payment not recognised") and a subject's state ("the rate was wrong" -> "wrong
    rate"); and a request keeps the means it names ("pay with my card" -> "pay with card")."""
    for token in doc:
        if token.pos_ in ("NOUN", "PROPN") and token.head.pos_ == "VERB":
            yield from _argument_spans(token, token.head)
        if token.lower_ == "it" and token.head.pos_ == "VERB":
            yield from _pronoun_spans(token, token.head)
        if token.pos_ in ("NOUN", "PROPN"):
            yield from _relative_spans(token)
        if token.dep_ == "acomp" and token.pos_ == "ADJ":
            yield from _state_spans(token)
        if token.pos_ == "VERB" and token.dep_ != "relcl":
            yield from _means_spans(token)


def _argument_spans(token: Any, verb: Any) -> Iterator[tuple[list[Any], dict[int, str]]]:
    """A verb with its object or its subject (:func:`_verb_spans`)."""
    particles, negation = _particles_and_negation(verb)
    if token.dep_ in ("dobj", "obj"):
        yield from _object_spans(token, verb, particles, negation)
    elif token.dep_ in ("nsubj", "nsubjpass") and token.i < verb.i and not _has_object(verb):
        if _premise(verb) and not negation:
            return
        forms = {**_forms(verb, None, particles), verb.i: _event_form(verb)}
        thing = [*_noun_words(token), *_of_object(token), *negation, verb, *particles]
        yield thing, forms
        for by in (t for t in verb.children if t.dep_ == "agent"):  # "... wasn't processed by the app"
            for agent in (t for t in by.children if t.dep_ == "pobj" and t.pos_ in ("NOUN", "PROPN")):
                yield [*thing, by, *_noun_words(agent)], forms


def _object_spans(
    token: Any, verb: Any, particles: list[Any], negation: list[Any]
) -> Iterator[tuple[list[Any], dict[int, str]]]:
    """A verb and its object: a request verb first, an event done or a negated verb object first."""
    # a particle right after the object is the noun's ("reject my sign up": "sign up", not "reject up")
    tail = [t for t in particles if t.i == token.i + 1]
    particles = [t for t in particles if t.i != token.i + 1]
    obj = [t for t in _noun_words(token) if t.i > verb.i] + tail
    phrasal = {token.i: token.lower_, **{t.i: t.lower_ for t in tail}} if tail else {}
    thing = [*obj, *_of_object(token)]  # object first, with what it measures ("amount of cash")
    if obj and _reported(verb, negation):
        if negation or not _premise(verb):
            yield [*thing, *negation, verb, *particles], {**_forms(verb, "VBN", particles), **phrasal}
        yield from _agent_spans(verb, particles, thing, negation, phrasal)
    else:
        yield [verb, *particles, *obj], {**_forms(verb, None, particles), **phrasal}


def _agent_spans(
    verb: Any, particles: list[Any], thing: list[Any], negation: list[Any], forms: Mapping[int, str]
) -> Iterator[tuple[list[Any], dict[int, str]]]:
    """An event with the thing that did it, as the passive says it: "the app rejected my top-up" -> "top-up
    rejected by app" (beside "top-up rejected"). Where a sibling group holds the same event done by another
    or by no one named ("top-up failed"), the agent is what tells them apart. Only a thing as agent: a
    person's "they" or "I" says nothing."""
    for agent in verb.children:
        if agent.dep_ == "nsubj" and agent.pos_ in ("NOUN", "PROPN") and agent.i < verb.i:
            written = {**forms, **_forms(verb, "VBN", particles)}
            yield [*thing, *negation, verb, *particles, _BY, *_noun_words(agent)], written


def _pronoun_spans(pronoun: Any, verb: Any) -> Iterator[tuple[list[Any], dict[int, str]]]:
    """An event whose object or subject is "it" and whose sentence names what "it" is in the clause before
    (:func:`_antecedent`): "I tried to top up but the app rejected it" -> "top-up rejected", "I ordered a
    card but it hasn't arrived" -> "card not arrived". Only events: what went wrong is the topic."""
    thing, nominal = _antecedent(verb)
    if not thing or verb.is_stop or (is_weak(verb.lemma_) and verb.lemma_ not in PLACEHOLDER_NOUNS):
        return  # "it didn't go through", "I can't see it": the verb says nothing the thing does not
    particles, negation = _particles_and_negation(verb)
    if pronoun.dep_ in ("dobj", "obj") and _reported(verb, negation):
        yield [*thing, *negation, verb, *particles], {**nominal, **_forms(verb, "VBN", particles)}
        yield from _agent_spans(verb, particles, thing, negation, nominal)
    elif pronoun.dep_ in ("nsubj", "nsubjpass") and pronoun.i < verb.i and not _has_object(verb):
        yield (
            [*thing, *negation, verb, *particles],
            {**nominal, **_forms(verb, None, particles), verb.i: _event_form(verb)},
        )


def _antecedent(verb: Any) -> tuple[list[Any], dict[int, str]]:
    """What "it" stands for in a verb's clause joined to an earlier one: the earlier act where a phrasal verb
    names it as a noun ("I topped up my card but it failed": the top-up failed, not the card), else the act's
    object or, without one, its subject (the nearest thing named, as "it" mostly refers to: "I ordered a
    card but it hasn't arrived"); nothing when the earlier clause names none."""
    if verb.dep_ != "conj" or verb.head.pos_ != "VERB" or verb.head.i > verb.i:
        return [], {}
    act = verb.head
    # "I tried to top up but ...": the act is the complement of "try", "want", ...
    act = next((t for t in act.children if t.dep_ == "xcomp" and t.pos_ == "VERB" and t.i < verb.i), act)
    particles = [t for t in act.children if t.dep_ == "prt" and t.i == act.i + 1]
    if particles:
        return [act], {act.i: _NounForm(f"{act.lemma_.lower()}-{particles[0].lower_}")}
    # the act's object, else the subject of an act without one ("my card arrived but it doesn't work")
    things = [t for t in act.children if t.dep_ in ("dobj", "obj") and t.pos_ in ("NOUN", "PROPN")] or [
        t for t in act.children if t.dep_ in ("nsubj", "nsubjpass") and t.pos_ in ("NOUN", "PROPN")
    ]
    if things:
        return [*_noun_words(things[0]), *_of_object(things[0])], {}
    return [], {}


def _premise(verb: Any) -> bool:
    """A verb whose clause is followed by "but" and another clause: what the writer did or expected, which
    that clause contradicts ("I topped up my account but the app failed to process it"). Its event ("account
    topped up") states the opposite of the complaint and is no candidate; the clause after "but" says what
    went wrong."""
    children = list(verb.children)
    contrast = any(t.dep_ == "cc" and t.lower_ in ("but", "yet") for t in children)
    return contrast and any(t.dep_ == "conj" and t.pos_ in ("VERB", "AUX") and t.i > verb.i for t in children)


# The word a passive puts before its agent, where the sentence is active and has none to take (_agent_spans)
_BY = "by"


class _NounForm(str):
    """A verb's written form that is a noun: the act a phrasal verb names ("top up" -> "top-up")."""


def _relative_spans(noun: Any) -> Iterator[tuple[list[Any], dict[int, str]]]:
    """A noun and the relative clause that acts on it, object first ("the cash I received" -> "cash
    received"); only where the clause's verb has its own subject and no other object or loose preposition
    ("the cash I asked for" says nothing about the cash)."""
    for verb in noun.children:
        if verb.dep_ != "relcl" or verb.pos_ != "VERB" or verb.i < noun.i:
            continue
        children = list(verb.children)
        has_subject = any(t.dep_ == "nsubj" for t in children)
        # "that" or "which" as the clause's object is the noun itself ("a withdrawal that I didn't perform")
        loose = any(
            t.dep_ in ("dobj", "obj", "prep", "dative", "xcomp", "ccomp") and t.tag_ not in ("WDT", "WP")
            for t in children
        )
        if has_subject and not loose:
            negation = [t for t in children if t.dep_ == "neg"]
            particles = [t for t in children if t.dep_ == "prt"]
            forms = _forms(verb, "VBN", particles)
            yield [*_noun_words(noun), *_of_object(noun), *negation, verb, *particles], forms


def _state_spans(adjective: Any) -> Iterator[tuple[list[Any], dict[int, str]]]:
    """A subject's state after "be", as a noun phrase: "the rate was wrong" -> "wrong rate"; a negated one
    keeps the sentence's order ("the amount isn't right" -> "amount not right")."""
    copula = adjective.head
    negation = [t for t in copula.children if t.dep_ == "neg"]
    for subject in copula.children:
        if subject.dep_ == "nsubj" and subject.pos_ in ("NOUN", "PROPN") and subject.i < adjective.i:
            words = [*_noun_words(subject), *_of_object(subject)]
            yield ([*words, *negation, adjective] if negation else [adjective, *words]), {}


def _means_spans(verb: Any) -> Iterator[tuple[list[Any], dict[int, str]]]:
    """A request with the means or route it names: "pay with my card" -> "pay with card", "pay by bank
    transfer" (only "with", "by", "via", "through" and "from": they say how, where other prepositions
    mostly say when or why)."""
    particles = [t for t in verb.children if t.dep_ == "prt"]
    objects = [t for t in verb.children if t.dep_ in ("dobj", "obj") and t.pos_ in ("NOUN", "PROPN")]
    obj = _noun_words(objects[0]) if objects else []
    for prep in verb.children:
        if prep.dep_ != "prep" or prep.lower_ not in _MEANS or prep.i < verb.i:
            continue
        for pobj in prep.children:
            if pobj.dep_ == "pobj" and pobj.pos_ in ("NOUN", "PROPN"):
                yield [verb, *particles, *obj, prep, *_noun_words(pobj)], _forms(verb, None, particles)


def _of_object(noun: Any) -> list[Any]:
    """A noun's "of" object, which says what it measures ("amount of cash")."""
    for prep in noun.rights:
        if prep.dep_ == "prep" and prep.lower_ == "of":
            for obj in prep.children:
                if obj.dep_ == "pobj" and obj.pos_ in ("NOUN", "PROPN"):
                    return [prep, *_noun_words(obj)]
    return []


def _forms(verb: Any, tag: str | None, particles: list[Any]) -> dict[int, str]:
    """The written forms of a verb (its ``tag`` form, or its lemma) and its particles."""
    form = _inflect(verb, tag) if tag else verb.lemma_.lower()
    return {verb.i: form, **{t.i: t.lower_ for t in particles}}


def _particles_and_negation(verb: Any) -> tuple[list[Any], list[Any]]:
    """A verb's particles ("top *up*") and negation ("did*n't*")."""
    children = list(verb.children)
    return [t for t in children if t.dep_ == "prt"], [t for t in children if t.dep_ == "neg"]


def _reported(verb: Any, negation: list[Any]) -> bool:
    """A verb whose object is what went wrong or what happened, so the name reads object first: negated
    ("didn't receive my card"), in the past ("they reverted my top-up") or after "did" (:func:`_done`)."""
    return bool(negation) or verb.tag_ in ("VBD", "VBN") or _done(verb)


def _done(verb: Any) -> bool:
    """A verb after "did": an event already done ("why did the app deny my top-up" -> "top-up denied")."""
    return any(t.dep_ == "aux" and t.tag_ == "VBD" and t.lemma_ == "do" for t in verb.children)


def _has_object(verb: Any) -> bool:
    """An object, or a clause in its place ("the app reverted what I topped up": the app is the agent)."""
    return any(t.dep_ in ("dobj", "obj", "ccomp") for t in verb.children)


def _event_form(verb: Any) -> str:
    """A verb after its subject as a name writes it: "declined", "arrived", "not working" (a negated
    verb reads as a state: "did not work" -> "not working")."""
    negated = any(t.dep_ == "neg" for t in verb.children)
    if negated and any(t.dep_ == "prt" for t in verb.children):
        # a phrasal verb's participle reads as a passive ("refund not shown up"); its gerund is the state
        return _inflect(verb, "VBG")
    if verb.tag_ not in ("VB", "VBP", "VBZ"):
        return _inflect(verb, "VBN") if verb.tag_ == "VBD" else verb.lower_
    past = not negated and any(t.dep_ == "aux" and t.tag_ == "VBD" for t in verb.children)
    return _inflect(verb, "VBN" if past else "VBG")


def _inflect(verb: Any, tag: str) -> str:
    """The verb's ``tag`` form from its lemma (lemminflect's tables: "withdrew" -> "withdrawn")."""
    lemma = verb.lemma_.lower()
    forms = getInflection(_PLAIN_VERB.get(lemma, lemma) if tag == "VBN" else lemma, tag=tag)
    return forms[0] if forms else verb.lower_


def _noun_words(noun: Any) -> list[Any]:
    """A noun with its compound and adjective modifiers ("virtual card", "top-up"), a compound with its own
    ("Apple Pay top-up", never "Pay top-up"), each with the particle of an open phrasal noun ("top up")."""
    words: list[Any] = []
    for token in noun.lefts:
        if token.dep_ == "compound":
            words.extend(_noun_words(token))
        elif token.dep_ == "amod" or token.text == "-":
            words.extend(_with_particle(token))
    return [*words, *_with_particle(noun)]


def _with_particle(token: Any) -> list[Any]:
    """A word with the particle that makes it an open phrasal noun: a verb used as a noun and the particle
    right after it, which the parser hangs on it or on its head for want of a better place ("my top up
    failed", "the app rejected my top up", "top up limit"). Written with a hyphen it is one word ("top-up");
    written open it is the same word, not the stop words "top" and "up"."""
    following = token.nbor(1) if token.i + 1 < len(token.doc) else None
    if (
        following is None
        or not token.whitespace_
        or following.lower_ not in _OPEN_PARTICLES
        or any(True for _ in following.children)
        or not getAllLemmas(token.lower_, upos="VERB")
    ):
        return [token]
    hung = following.dep_ == "advmod" and following.head.i in (token.i, token.head.i)
    return (
        [token, following] if hung or (following.dep_ == "prt" and following.head.i == token.i) else [token]
    )


def _is_placeholder(doc: Any, token: Any) -> bool:
    """A redaction placeholder ("[PERSON]", however the tokenizer split it) or a mask ("XXXX")."""
    if _PLACEHOLDER.match(token.text) or _MASK.match(token.text):
        return True
    bracketed = 0 < token.i < len(doc) - 1 and doc[token.i - 1].text == "[" and doc[token.i + 1].text == "]"
    return bracketed and token.text in _REDACTION_KINDS


def _is_acronym(token: Any) -> bool:
    """ "ATM", "PIN", "SEPA": the NER calls short capitals organisations; they are product words."""
    return token.is_upper and len(token.text) <= 5


def is_weak(word: str) -> bool:
    """A word that may never be part of a name (:data:`WEAK_WORDS`)."""
    return word.lower() in WEAK_WORDS


def _written(token: Any) -> str:
    """A token as a name shows it: lower case, but acronyms ("SSO") and proper nouns written with a capital
    inside a sentence ("India", "Google Pay") as written."""
    acronym = token.is_upper and len(token.text) > 1
    proper = token.pos_ == "PROPN" and token.text[:1].isupper() and not token.is_sent_start
    return token.text if acronym or proper else token.lower_


class _Word(NamedTuple):
    """One word of a candidate: how it was written, its lemma, and what it may be."""

    surface: str
    lemma: str
    edge: bool  # a stop word, determiner, pronoun, number...: never first or last in a name
    tokens: tuple[int, ...]
    noun: bool
    verb: bool = False


def _clean(
    tokens: list[Any],
    blocked: set[int],
    forms: Mapping[int, str],
    subject: bool = True,
    setting: bool = False,
) -> Phrase | None:
    """Whole words of ``tokens`` (in name order; ``forms``: a verb's written form by token index) without
    stop words at the ends; None when the phrase may not be a name."""
    words = _words(tokens, forms)
    while words and words[0].edge:
        words.pop(0)
    while words and words[-1].edge:
        words.pop()
    if not words or len(words) > _MAX_WORDS or not any(w.noun for w in words):
        return None  # a verb or adjective without its noun ("Received", "Change", "Top up") is not a name
    if not all(_allowed(word, blocked) for word in words) or _only_names(words, tokens):
        return None
    lone = len(words) == 1  # a phrase with the setting is still about something ("payment on app")
    if lone and words[0].lemma in STOP_WORDS:
        return None  # capitals spelling a stop word name nothing alone ("IT", "US"): maybe a shouted pronoun
    return Phrase(
        " ".join(w.lemma for w in words), " ".join(w.surface for w in words), subject, setting and lone
    )


def _allowed(word: _Word, blocked: set[int]) -> bool:
    """A word a name may hold: no person's or company's name, mask or weak word."""
    if blocked.intersection(word.tokens) or not _is_name_word(word.surface):
        return False
    return not (is_weak(word.surface) or (is_weak(word.lemma) and not _event_of_placeholder(word)))


def _only_names(words: list[_Word], tokens: list[Any]) -> bool:
    """Proper nouns alone ("Pay" of "Google Pay" once "Google" is barred, "Apple Pay", "US") name a company,
    a product, a place or a person, never a theme; beside a common word ("Delivery to US") they may."""
    places = {t.i for t in tokens if not isinstance(t, str) and t.ent_type_ in _PLACE_ENTITIES}
    return all(
        (w.surface[:1].isupper() and not w.surface.isupper()) or places.intersection(w.tokens) for w in words
    )


def _event_of_placeholder(word: _Word) -> bool:
    """A placeholder noun's verb ("issued", "processed"): an event, not a placeholder
    (:data:`PLACEHOLDER_NOUNS`; its weak forms, "process" and "processes", are still refused by their
    surface)."""
    return word.verb and word.lemma in PLACEHOLDER_NOUNS


def _words(tokens: list[Any], forms: Mapping[int, str]) -> list[_Word]:
    """The words of ``tokens`` in the given order; a hyphenated compound ("top-up", three spaCy tokens) is
    one."""
    groups: list[list[Any] | str] = []
    for token in tokens:
        last = groups[-1] if groups else None
        previous = last[-1] if isinstance(last, list) else None
        if isinstance(token, str):  # a word the sentence implies ("by" before an active verb's agent)
            groups.append(token)
            continue
        hyphen = previous is not None and not previous.whitespace_ and "-" in (token.text, previous.text)
        if previous is not None and previous.i == token.i - 1 and (hyphen or _open_pair(previous, token)):
            groups[-1].append(token)  # type: ignore[union-attr]
        else:
            groups.append([token])
    return [_Word(g, g, True, (), False) if isinstance(g, str) else _word(g, forms) for g in groups]


def _open_pair(word: Any, particle: Any) -> bool:
    """Whether ``particle`` makes ``word`` an open phrasal noun (:func:`_with_particle`)."""
    return (
        particle.pos_ != "VERB" and word.pos_ in ("NOUN", "ADJ") and _with_particle(word)[-1].i == particle.i
    )


def _word(group: list[Any], forms: Mapping[int, str]) -> _Word:
    # "n't" reads "not" in a name ("card not working")
    surface = (
        "not" if group[0].dep_ == "neg" else "".join(_spaced(t, forms, t is not group[-1]) for t in group)
    )
    indices = tuple(t.i for t in group)
    if len(group) > 1:
        hanging = surface.startswith("-") or surface.endswith("-")
        return _Word(surface, surface.lower(), hanging, indices, True)
    token = group[0]
    if isinstance(forms.get(token.i), _NounForm):
        return _Word(surface, surface.lower(), False, indices, True)
    lemma = token.lemma_.lower() or surface.lower()
    stop = token.is_stop
    if token.i in forms and token.pos_ == "VERB":  # the shown form's lemma ("received" shown for "got")
        lemma = next(iter(getLemma(surface, upos="VERB")), lemma)
        stop = surface in STOP_WORDS
    # spaCy's stop words include some verbs and particles ("top", "call", "up"): they stay off a name's ends
    # (no name starts or ends with a stop word), so "top up with card" is no candidate; "top-up" is one word.
    # A word written in capitals is an acronym or a proper noun, never the stop word it spells ("delivery to
    # the US", not "us")
    stop_word = (stop or lemma in STOP_WORDS) and not _capitals(token)
    edge = stop_word or token.pos_ in _EDGE_POS or token.like_num
    if _phrasal(token):
        # a phrasal verb is one word, whatever its verb alone is: "top up with card", "account topped up"
        # keep the stop-word verb ("top", "call", "fill") and its particle
        edge = False
    return _Word(surface, lemma, bool(edge), indices, token.pos_ in ("NOUN", "PROPN"), token.pos_ == "VERB")


def _spaced(token: Any, forms: Mapping[int, str], inner: bool) -> str:
    """A token of a word of several as the word shows it: an open compound is spelled with its hyphen ("top
    up" -> "top-up"), one word with one spelling."""
    return (forms.get(token.i) or _written(token)) + ("-" if inner and token.whitespace_ else "")


def _capitals(token: Any) -> bool:
    """A word of two or more letters written in capitals in a text that is not all capitals ("US", "IT"): an
    acronym or a proper noun. In a text typed in capitals the case says nothing ("PLEASE HELP US")."""
    return len(token.text) > 1 and token.text.isalpha() and token.is_upper and not token.doc.text.isupper()


def _phrasal(token: Any) -> bool:
    """A verb with its particle right after it, or that particle ("top up"; not "top my account up")."""
    if token.dep_ == "prt":
        return token.head.pos_ == "VERB" and token.head.i == token.i - 1
    return token.pos_ == "VERB" and any(t.dep_ == "prt" and t.i == token.i + 1 for t in token.children)


def _is_name_word(surface: str) -> bool:
    """A plain word: letters (digits and hyphens inside allowed), not a mask or a redaction placeholder."""
    if _MASK.match(surface):
        return False
    return bool(_WORD_SHAPE.match(surface.lower())) and any(c.isalpha() for c in surface)


def _shortlists(counted: PhraseCounts, subjects: bool) -> list[list[str]]:
    """Each group's shortlist (:func:`_shortlist`); only noun phrases when naming by subject."""
    per_group = [_only(c, counted.subjects) for c in counted.per_group] if subjects else counted.per_group
    lone = counted.lone_words or [set() for _ in per_group]
    settings = counted.settings or [set() for _ in per_group]
    shortlists = [
        _shortlist(c, counted.surfaces, b, w) for c, b, w in zip(per_group, counted.blocked_words, lone)
    ]
    # a setting leaves the shortlist after the cut, so that it never lets in a phrase the cut left out
    return [[key for key in keys if key not in s] for keys, s in zip(shortlists, settings)]


def _shortlist(
    counts: Counter[str],
    surfaces: dict[str, Counter[str]],
    blocked: set[str],
    lone: frozenset[str] | set[str] = frozenset(),
) -> list[str]:
    """The most used keys of a group (ties by key), none holding a word the group's units use as a name
    (:data:`NAME_SHARE`). A phrase one unit used stays in: a small group often says its point once in the
    words of its label ("incorrect amount of cash"), and the scores, not the counts, judge it; but not when
    one of its words is that unit's alone (a typo, "top up with Apply Pay", or an aside), unless the group
    has no other."""
    ranked = sorted(
        ((key, n) for key, n in counts.items() if not _holds(key, surfaces[key], blocked)),
        key=lambda kv: (-kv[1], kv[0]),
    )
    # "by" is the passive's, not the writer's ("card swallowed by ATM" of "the ATM swallowed my card")
    shared = [key for key, n in ranked if n > 1 or not lone.intersection(_HYPHEN_OR_SPACE.split(key)) - {_BY}]
    return (shared or [key for key, _ in ranked])[:CANDIDATES_PER_GROUP]


def _only(counts: Counter[str], keys: set[str]) -> Counter[str]:
    return Counter({key: n for key, n in counts.items() if key in keys})


def _holds(key: str, surfaces: Counter[str], words: set[str]) -> bool:
    """Whether the key or any of its surface forms holds one of ``words`` (lower case)."""
    return bool(words) and any(
        words.intersection(text.lower().replace("-", " ").split() + text.lower().split())
        for text in [key, *surfaces]
    )


def _display(surfaces: Counter[str]) -> str:
    """The most frequent surface form (ties: the shortest, then alphabetical), first letter capitalised."""
    surface = min(surfaces.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[0]
    return surface[:1].upper() + surface[1:]


def _embed_phrases(
    displays: list[str], embed: Callable[[list[str]], np.ndarray], centroids: np.ndarray
) -> np.ndarray:
    if not displays:
        return np.zeros((0, centroids.shape[1] if centroids.ndim == 2 else 0), dtype=np.float32)
    vectors = np.asarray(embed([d.lower() for d in displays]), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def _rank(
    keys: list[str],
    ctfidf: dict[str, float],
    vectors: np.ndarray,
    row: dict[str, int],
    centroids: np.ndarray,
    group: int,
    taken: dict[str, np.ndarray | None],
    single_word_penalty: float,
) -> list[str]:
    """A group's candidate keys, best first: relevance (module docstring) less the MMR penalty."""
    if not keys:
        return []
    X = vectors[[row[k] for k in keys]]
    similarity = X @ centroids.T
    own = similarity[:, group]
    others = np.delete(similarity, group, axis=1)
    nearest_other = others.max(axis=1) if others.shape[1] else np.zeros(len(keys))
    top = max((ctfidf.get(k, 0.0) for k in keys), default=0.0) or 1.0
    relevance = (
        own
        + DISTINCTNESS_WEIGHT * (own - nearest_other)
        + CTFIDF_WEIGHT * np.asarray([ctfidf.get(k, 0.0) / top for k in keys])
        - single_word_penalty * np.asarray([" " not in k for k in keys], dtype=np.float64)
    )
    given = [v for v in taken.values() if v is not None]
    penalty = (X @ np.vstack(given).T).max(axis=1) if given else np.zeros(len(keys))
    score = (1 - DIVERSITY) * relevance - DIVERSITY * np.maximum(penalty, 0.0)
    order = np.lexsort((np.asarray(keys), -score))
    return [keys[i] for i in order]


def _distinct(best: str, keywords: Sequence[str], blocked: set[str], taken: dict[str, Any]) -> str:
    """A name not yet given: ``best`` plus the first keyword that is not in it ("Refund failed (bank)"),
    else a number. A keyword holding a weak word or a word the group's texts use in a person's or company's
    name is passed over; a group with no candidate at all is an "Unnamed theme"."""
    base = best or "Unnamed theme"
    if base.lower() not in taken:
        return base
    for keyword in keywords:
        words = keyword.lower().split()
        if blocked.intersection(words) or any(is_weak(w) or not _is_name_word(w) for w in words):
            continue
        if keyword.lower() not in base.lower() and f"{base} ({keyword})".lower() not in taken:
            return f"{base} ({keyword})"
    n = 2
    while f"{base} ({n})".lower() in taken:
        n += 1
    return f"{base} ({n})"
