"""Turning stored text into safe HTML: Markdown without raw HTML, marked snippets."""

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import cast

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_block import StateBlock, blockquote
from markdown_it.rules_inline import StateInline, image, link
from markdown_it.rules_inline.autolink import AUTOLINK_RE, EMAIL_RE
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup, escape

from search.snippets import Snippet

# js-default: CommonMark plus tables, with raw HTML switched off. markdown-it's
# link validation already refuses javascript:, vbscript:, file: and data: links.
_markdown = MarkdownIt("js-default", {"linkify": False, "typographer": False})

# Bounds on pathological input (security issue 22: 49,000 "[" took 2.2 s on every view).
# markdown-it is linear in the input but for two shapes, where the work per character
# grows with the nesting limit (maxNesting, 100 here) or with the quote depth:
#
# - "[" that never closes, or closes at a great depth ("[" * 49_000, "![" * 24_500,
#   "[<" or "[`" repeated, "[" * 48_999 + "]"): from each one the link rule scans ahead
#   through up to maxNesting nested labels, 2 to 6 s for 49,000 characters. In an inline
#   run (a paragraph, a heading, a table cell) with more than _BRACKETS_LEFT_ALONE "[",
#   the link and image rules pass over the hopeless ones at once: those that no "]"
#   closes, which cannot start a link anyway, and those nested inside more than
#   _MAX_BRACKET_DEPTH pairs of brackets. They still count as brackets for the labels
#   around them, and stay plain text. Runs with fewer "[" (every ordinary document) are
#   parsed as before.
# - A deep block quote followed by many lines: every level re-scans every lazy line
#   (">" * 200 + " a" and 24,000 more lines: 11 s). Quotes nest at most
#   _QUOTE_LINE_BUDGET // lines deep (at least once); a deeper ">" stays text. Documents
#   under 200 lines nest as deep as maxNesting allows anyway.
#
# Emphasis, code spans, autolinks, lists and tables measured linear: at most 0.5 s for
# 49,000 characters, and cached (below) after the first view.
_BRACKETS_LEFT_ALONE = 32
_MAX_BRACKET_DEPTH = 4
_QUOTE_LINE_BUDGET = 20_000
# What the inline parser treats as a unit: a backslash escape, a backtick run, "<" (of a
# possible autolink), a bracket.
_BRACKET_SCAN = re.compile(r"\\[\s\S]|`+|<|\[|\]")
_BACKTICKS = re.compile(r"`+")
_AUTOLINK_BODY = re.compile(r"([^<>\x00-\x20]*)>")
_NONE: frozenset[int] = frozenset()


def _hopeless_brackets(state: StateInline) -> frozenset[int]:
    """Where in state.src a "[" cannot start a link (see above); worked out once per text."""
    known: dict[str, frozenset[int]] = state.env.setdefault("kb_hopeless_brackets", {})
    found = known.get(state.src)
    if found is None:
        found = known[state.src] = (
            _find_hopeless_brackets(state.src)
            if state.src.count("[") > _BRACKETS_LEFT_ALONE
            else _NONE
        )
    return found


def _find_hopeless_brackets(text: str) -> frozenset[int]:
    """Brackets paired as the inline parser pairs them (code spans and autolinks skipped
    whole, escaped characters not brackets): the unpaired "[", and the paired ones nested
    more than _MAX_BRACKET_DEPTH pairs deep."""
    unpaired: list[int] = []
    events: list[tuple[int, int]] = []  # (position, +1 for a paired "[" or -1 for its "]")
    no_closer_from: dict[int, int] = {}  # backtick run length: no closing run after here
    pos = 0
    while match := _BRACKET_SCAN.search(text, pos):
        start, pos = match.span()
        found = match.group()
        if found == "[":
            unpaired.append(start)
        elif found == "]":
            if unpaired:
                events += [(unpaired.pop(), 1), (start, -1)]
        elif found[0] == "`":
            pos = _after_code_span(text, pos, len(found), no_closer_from)
        elif found == "<" and (body := _AUTOLINK_BODY.match(text, pos)):
            if AUTOLINK_RE.match(body.group(1)) or EMAIL_RE.match(body.group(1)):
                pos = body.end()
    hopeless = set(unpaired)
    depth = 0
    for position, step in sorted(events):
        depth += step
        if depth > _MAX_BRACKET_DEPTH:
            hopeless.add(position)  # only a "[" raises the depth
    return frozenset(hopeless)


def _after_code_span(text: str, pos: int, length: int, no_closer_from: dict[int, int]) -> int:
    """Where the code span opened by a run of `length` backticks ending at pos ends; pos
    itself if no run of the same length follows (the backticks are then plain text)."""
    if pos < no_closer_from.get(length, len(text) + 1):
        for run in _BACKTICKS.finditer(text, pos):
            if run.end() - run.start() == length:
                return run.end()
        no_closer_from[length] = pos
    return pos


def _bounded_link(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] != "[" or state.pos not in (hopeless := _hopeless_brackets(state)):
        return link(state, silent)
    if silent:  # inside a label: one plain "[" the label's scan counts
        return False
    end = state.pos + 1  # a run of hopeless "[" is text in one go
    while end < state.posMax and end in hopeless:
        end += 1
    state.pending += state.src[state.pos : end]
    state.pos = end
    return True


def _bounded_image(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] == "!" and state.pos + 1 in _hopeless_brackets(state):
        return False
    return image(state, silent)


def _bounded_blockquote(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    env = state.env
    if "kb_quote_limit" not in env:
        env["kb_quote_limit"] = max(1, _QUOTE_LINE_BUDGET // len(state.bMarks))
        env["kb_quote_depth"] = 0
    depth = env["kb_quote_depth"]
    if depth >= env["kb_quote_limit"]:
        return False
    env["kb_quote_depth"] = depth + 1
    try:
        return blockquote(state, start_line, end_line, silent)
    finally:
        env["kb_quote_depth"] = depth


_markdown.inline.ruler.at("link", _bounded_link)
_markdown.inline.ruler.at("image", _bounded_image)
# The same "alt" as markdown-it gives it: a quote can interrupt these.
_markdown.block.ruler.at(
    "blockquote", _bounded_blockquote, {"alt": ["paragraph", "reference", "blockquote", "list"]}
)

# Images: only kb's own attachments (`![alt](/attachments/12)`) are shown. Any other
# image source would be fetched by every reader's browser (a tracking pixel, a picture
# from anywhere); it stays as its alt text instead.
OWN_IMAGE_SRC = re.compile(r"^/attachments/[1-9][0-9]{0,9}$")


def own_images_only(
    _renderer_self: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    token = tokens[idx]
    if OWN_IMAGE_SRC.match(str(token.attrGet("src") or "")):
        token.attrSet("loading", "lazy")
        return str(_default_image(tokens, idx, options, env))
    alt = _renderer.renderInlineAsText(token.children or [], options, env)
    return f'<span class="image-elsewhere">[image: {escape(alt)}]</span>'


_renderer = cast(RendererHTML, _markdown.renderer)
_default_image = _renderer.rules["image"]
_markdown.add_render_rule("image", own_images_only)

# Rendered HTML by the SHA-256 of the source: an entry is rendered once, not on every
# view, so even a costly one costs once per process. The digest is the key rather than
# the text itself so that the cache holds 32 bytes per key, not up to 50,000 characters;
# a collision would need a SHA-256 collision. Least recently used first out, at most
# _CACHE_MAX_CHARS of HTML in all (about 32 MB), whatever the number of entries.
_CACHE_MAX_CHARS = 32_000_000
_cache: OrderedDict[bytes, str] = OrderedDict()
_cache_chars = 0
_cache_lock = threading.Lock()  # pages render in the thread pool


def render_markdown(text: str) -> Markup:
    global _cache_chars
    key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    with _cache_lock:
        html = _cache.get(key)
        if html is not None:
            _cache.move_to_end(key)
    if html is None:
        html = _markdown.render(text)
        with _cache_lock:
            if key not in _cache:
                _cache[key] = html
                _cache_chars += len(html)
                while _cache_chars > _CACHE_MAX_CHARS:
                    _cache_chars -= len(_cache.popitem(last=False)[1])
    return Markup(html)  # noqa: S704 - html is disabled in the parser


def marked_snippet(snippet: Snippet) -> Markup:
    parts: list[str] = []
    position = 0
    for start, end in snippet.highlights:
        parts.append(str(escape(snippet.text[position:start])))
        parts.append(f"<mark>{escape(snippet.text[start:end])}</mark>")
        position = end
    parts.append(str(escape(snippet.text[position:])))
    return Markup("".join(parts))  # noqa: S704 - every piece escaped above
