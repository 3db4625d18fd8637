"""Turning stored text into safe HTML: Markdown without raw HTML, marked snippets."""

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from search.snippets import Snippet

# js-default: CommonMark plus tables, with raw HTML switched off. markdown-it's
# link validation already refuses javascript:, vbscript:, file: and data: links.
_markdown = MarkdownIt("js-default", {"linkify": False, "typographer": False})


def render_markdown(text: str) -> Markup:
    return Markup(_markdown.render(text))  # noqa: S704 - html is disabled in the parser


def marked_snippet(snippet: Snippet) -> Markup:
    parts: list[str] = []
    position = 0
    for start, end in snippet.highlights:
        parts.append(str(escape(snippet.text[position:start])))
        parts.append(f"<mark>{escape(snippet.text[start:end])}</mark>")
        position = end
    parts.append(str(escape(snippet.text[position:])))
    return Markup("".join(parts))  # noqa: S704 - every piece escaped above
