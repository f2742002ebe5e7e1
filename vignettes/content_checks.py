"""What a trainee reads before scoring must not carry the answer: no case-type
label in a title or case file, and none of the sentences that exist only to hand over an
item's code ("No source describes it as taking up significant time").

The patterns are deliberately narrow: a case file states facts, and a fact such as "the
'child' was an officer using an online profile" is what the trainee must weigh. What is
refused is a label (the project's case-type names), a sentence naming an item or a score, and
the stock phrasings of absence written for one item. A real file implies absence by what its
records contain, or states it as a records fact ("The criminal record check shows no other
entries").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# The case-type tags and their labels (vignettes.models.CaseType), as words a reader sees.
CASE_TYPE_LABELS = (
    r"csem[- ]exclusive", r"csem[- ]contact(?:[- ]conviction)?", r"csem[- ]admitted[- ]contact",
    r"luring[- ]real[- ]child", r"luring[- ]decoy", r"ncii(?:[- ]adult)?", r"contact[- ]only",
    r"csem only, no known contact offence", r"csem with (?:a contact conviction|admitted)",
    r"luring a (?:real child|police decoy)", r"sharing intimate images of adults",
    r"contact offending without csem", r"dual offender", r"crossover offender",
    r"case type", r"mixed offender",
)
# Words that in a title say what kind of case it is (the body may state the facts).
TITLE_WORDS = (
    r"csem", r"contact", r"images?", r"online", r"decoy", r"sting", r"police operation",
    r"sextortion", r"luring", r"grooming", r"possession", r"distribution", r"exposure",
    r"offen[cs]es?", r"abuse", r"victim",
)
GIVEAWAYS = (
    # "No source describes / reports / indicates ..." written for one item.
    r"\bno source (?:describes|reports|records|indicates|suggests|mentions|links|shows|"
    r"describes it)\b",
    r"\bnothing in the (?:file|files|record|records) (?:shows|suggests|indicates)\b",
    r"\bis not described as\b",
    r"\bno (?:hostile|negative) (?:remarks?|views?|beliefs?|attitudes?)\b",
    r"\bno (?:exploitative|reckless|impulsive) (?:conduct|behaviou?r|acts?)\b",
    r"\bno (?:resentment|grievance|grievances|volatility|preoccupation)\b",
    r"\b(?:significant|excessive) time\b.{0,40}\bno\b|\bno\b.{0,40}\b(?:significant|excessive) "
    r"time\b",
    # A sentence that names an item or a score.
    r"\b(?:STABLE|CPORT|S99R|Static-99R?)[- ]?\d+\b",
    r"\bscor(?:e|es|ed|ing) (?:a )?[0-3]\b",
)
_LABELS = re.compile(r"\b(?:" + "|".join(CASE_TYPE_LABELS) + r")\b", re.I)
_TITLE = re.compile(r"\b(?:" + "|".join(TITLE_WORDS) + r")\b", re.I)
_GIVEAWAYS = [re.compile(p, re.I) for p in GIVEAWAYS]
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
# A bundled vignette's title: the person's name and a case number, nothing else.
BUNDLED_TITLE = re.compile(r"^[A-Z][a-z]+(?:-[A-Z][a-z]+)? [A-Z]\. \(case \d{3}\)$")


def title_problems(title: str, *, bundled: bool) -> Iterator[str]:
    if bundled and not BUNDLED_TITLE.match(title or ""):
        yield (f"{title!r} is not a neutral title: a bundled case is titled with the person's "
               "name and its case number, e.g. 'Aidan R. (case 053)'")
        return
    found = _TITLE.search(title or "") or _LABELS.search(title or "")
    if found:
        yield (f"{title!r} tells the trainee what kind of case it is ({found.group(0)!r}); "
               "titles are shown before scoring")


def body_problems(body: str) -> Iterator[str]:
    for sentence in _SENTENCE.findall(body or ""):
        label = _LABELS.search(sentence)
        if label:
            yield (f"names a case type ({label.group(0)!r}) in text a trainee reads before "
                   f"scoring: {sentence.strip()[:120]!r}")
            continue
        for pattern in _GIVEAWAYS:
            if pattern.search(sentence):
                yield ("gives away an item's code (state the records' facts instead, so "
                       f"absence is implied by what they contain): {sentence.strip()[:120]!r}")
                break
