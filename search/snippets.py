"""Snippets: the part of an entry's text that best matches the query, with matched terms marked.

A snippet is plain text plus the character spans of matched terms, so each
caller marks them its own way (HTML <mark>, bold in a terminal) without
trusting the text.
"""

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it import MarkdownIt

from search.keyword import query_terms

SNIPPET_WORDS = 36
STOPWORDS = frozenset(
    """a an and are as at be but by can do does for from has have how i if in is it its
    me my no not of on or our so that the their then there this to was we what when where
    which who why will with you your after again all also am any been before being both
    did each few had he her here him his into just more most off only other out over own
    same she should some such than them they these those through too under until up very
    were while""".split()
)

_markdown = MarkdownIt("commonmark")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Snippet:
    text: str
    highlights: list[tuple[int, int]] = field(default_factory=list)


@lru_cache(maxsize=4096)
def plain_text(markdown: str) -> str:
    """The words a reader sees, without Markdown syntax."""
    parts: list[str] = []
    for token in _markdown.parse(markdown):
        if token.type == "inline" and token.children:
            parts.append(
                "".join(
                    child.content if child.type in {"text", "code_inline"} else " "
                    for child in token.children
                )
            )
        elif token.type in {"code_block", "fence"}:
            parts.append(token.content)
    return re.sub(r"\s+", " ", " ".join(parts)).strip()


@lru_cache(maxsize=1024)
def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """Words that are one of the terms, or share a term's stem: a light stand-in for
    stemming, so that "leaks" and "leaking" match "leak"."""
    stems = [term[: max(4, len(term) - 2)] for term in terms if len(term) >= 4]
    choices = [rf"(?<!\w)(?:{'|'.join(map(re.escape, terms))})(?!\w)"] if terms else []
    if stems:
        choices.append(rf"(?<!\w)(?:{'|'.join(map(re.escape, stems))})\w*")
    return re.compile("|".join(choices), re.IGNORECASE) if choices else None


def make_snippet(text: str, query: str, words: int = SNIPPET_WORDS) -> Snippet:
    terms = [t for t in query_terms(query) if t not in STOPWORDS]
    tokens = list(_WORD.finditer(text))
    if not tokens:
        return Snippet(text[:240])
    pattern = _term_pattern(tuple(terms))
    starts = [token.start() for token in tokens]
    # Every match begins where a word does: its word's number is its place among them.
    hits = (
        [bisect_left(starts, found.start()) for found in pattern.finditer(text)] if pattern else []
    )
    start_token = 0
    if hits:
        start_token = max(0, _densest_window(tokens, hits, words) - 4)
    end_token = min(len(tokens), start_token + words)
    start_char = 0 if start_token == 0 else tokens[start_token].start()
    end_char = len(text) if end_token == len(tokens) else tokens[end_token - 1].end()
    prefix = "" if start_char == 0 else "… "
    suffix = "" if end_char == len(text) else " …"
    snippet_text = prefix + text[start_char:end_char] + suffix
    shift = len(prefix) - start_char
    highlights = [
        (tokens[i].start() + shift, tokens[i].end() + shift)
        for i in hits
        if start_token <= i < end_token
    ]
    return Snippet(snippet_text, highlights)


def _densest_window(tokens: list[re.Match[str]], hits: list[int], words: int) -> int:
    """The hit that starts the window holding the most distinct matched words."""
    window: Counter[str] = Counter()
    best, best_count, right = hits[0], 0, 0
    for first in hits:
        while right < len(hits) and hits[right] < first + words:
            window[tokens[hits[right]].group().lower()] += 1
            right += 1
        if len(window) > best_count:
            best, best_count = first, len(window)
        word = tokens[first].group().lower()
        window[word] -= 1
        if window[word] == 0:
            del window[word]
    return best
