"""Which words of a failed search say what it is about: labels for a gap, and the rule
that keeps keyboard mashing and empty queries out of the gaps.

The noise rule: a search is a need only if it has at least one *term*, that is
- a content word (three letters or more, not a stop word or filler such as "about",
  "always", "help", not one letter repeated like "aaa") that the search model's
  vocabulary knows (as a whole word, as two of its words run together like "forklift",
  or without a plural or -ed/-ing ending) or that the keyword index finds in some entry
  ("sinumerik" is none of the model's words, but the knowledge base has it); or
- a code that mixes letters and digits ("E4021", "828D"): error codes and part numbers.
So "asdf jkl", "qwerty", "zzz", "??", "ok" and "0.6" are noise, "forklift battery" and
"E4021 on start" are not.
"""

import json
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

STOPWORDS = frozenset(
    """a an and are as at be but by can could do does did for from has have had how i if in
    into is it its me my no not of on or our so than that the their them then there these
    they this to was we were what when where which who why will with without would you your
    after again all also any before being both each get gets got just more most off once
    only other out over same some still such too very while keep keeps""".split()
)
# Words that say nothing of what was needed: they make poor labels and no need alone.
FILLER = frozenset(
    """about above almost already always another anyone anything around away back best
    better cannot come does doing done each else even ever every find found getting give
    good great help here know like look looking lot make many maybe much must need needed
    needs never new nothing now often okay please problem problems question quite really
    right said say see seems should show since someone something sometimes sure take tell
    thanks thank thing things think through try trying use used using want way ways well
    work works yes yet""".split()
)
_TOKEN = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
_LETTERS = re.compile(r"[a-z]")
_ENDINGS = (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"))


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def is_code(token: str) -> bool:
    """An error code or part number: letters and digits mixed, three characters or more."""
    return len(token) >= 3 and any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def content_words(text: str) -> list[str]:
    """The words that can say what a text is about: letters only, three or more, not a
    stop word or filler, not one letter repeated."""
    return [
        word
        for word in tokens(text)
        if word.isalpha()
        and len(word) >= 3
        and word not in STOPWORDS
        and word not in FILLER
        and len(set(word)) > 1
    ]


def base_forms(word: str) -> list[str]:
    """The word and its forms without a plural or -ed/-ing ending."""
    forms = [word]
    for ending, replacement in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            forms.append(word[: -len(ending)] + replacement)
    return forms


def fold(word: str) -> str:
    """One key for "battery" and "batteries", "filter" and "filters" (labels only)."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


@lru_cache(maxsize=4)
def model_vocabulary(model_path: Path) -> frozenset[str]:
    """The whole words of the model's tokenizer (vocab.txt, or tokenizer.json's)."""
    vocab_file = model_path / "vocab.txt"
    if vocab_file.exists():
        entries = vocab_file.read_text(encoding="utf-8").splitlines()
    else:
        tokenizer_file = model_path / "tokenizer.json"
        if not tokenizer_file.exists():
            return frozenset()
        vocab = json.loads(tokenizer_file.read_text(encoding="utf-8")).get("model", {}).get("vocab")
        entries = list(vocab) if isinstance(vocab, dict) else []
    return frozenset(
        entry.lower()
        for entry in entries
        if entry and not entry.startswith(("##", "[", "<", "Ġ", "▁")) and entry.isalpha()
    )


def is_compound(word: str, vocabulary: frozenset[str]) -> bool:
    """Two of the vocabulary's words of three letters or more run together ("forklift")."""
    return any(
        word[:cut] in vocabulary and word[cut:] in vocabulary for cut in range(3, len(word) - 2)
    )


def is_noise(text: str, known: Callable[[str], bool]) -> bool:
    """True when a search names no term (see the module's rule). `known(word)`: the
    model's vocabulary or the keyword index has the word."""
    if len(_LETTERS.findall(text.lower())) < 3:
        return True
    if any(is_code(token) for token in tokens(text)):
        return False
    return not any(
        any(known(form) for form in base_forms(word)) for word in dict.fromkeys(content_words(text))
    )
