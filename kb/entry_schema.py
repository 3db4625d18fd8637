"""The shape of an entry and its limits: one set, used by the JSON API's schemas, the
form pages, the importer and the CLI. SECURITY.md and docs/architecture.md state them;
tests/test_docs.py checks those pages against these numbers."""

import re
from dataclasses import dataclass, field

from kb.errors import InvalidContribution

MAX_TITLE_CHARS = 300
MAX_BODY_CHARS = 50_000
MAX_COMMENT_CHARS = 10_000
MAX_TAGS = 10
MAX_TAG_CHARS = 40
MIN_FLAG_REASON_CHARS = 3
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9+#._-]*$")


@dataclass
class EntryDraft:
    """Title, body and tags as a person typed them, checked and tidied by `checked()`."""

    title: str
    body: str = ""
    tags: list[str] = field(default_factory=list)

    def checked(self, body_required: bool = False, title_required: bool = True) -> "EntryDraft":
        """`title_required=False` for solutions: their problem's title says what they are
        about, so a title of their own is optional (and none is made up)."""
        title = " ".join(self.title.split())
        body = self.body.replace("\r\n", "\n").strip()
        if not title and title_required:
            raise InvalidContribution("the title is empty: say in a few words what it is about")
        if len(title) > MAX_TITLE_CHARS:
            raise InvalidContribution(
                f"the title has {len(title)} characters; keep it under {MAX_TITLE_CHARS}"
            )
        if body_required and not body:
            raise InvalidContribution("the text is empty: write what you did and why it works")
        if len(body) > MAX_BODY_CHARS:
            raise InvalidContribution(
                f"the text has {len(body):,} characters; the limit is {MAX_BODY_CHARS:,}"
            )
        if "\x00" in title or "\x00" in body:
            raise InvalidContribution("the text contains a NUL character")
        return EntryDraft(title, body, checked_tags(self.tags))


def checked_tags(tags: list[str]) -> list[str]:
    tidy: list[str] = []
    for raw in tags:
        tag = raw.strip().lower().replace(" ", "-")
        if not tag or tag in tidy:
            continue
        if len(tag) > MAX_TAG_CHARS or not TAG_PATTERN.match(tag):
            raise InvalidContribution(
                f"the tag {raw!r} is not usable: lower-case letters, digits and - . _ + #, "
                f"at most {MAX_TAG_CHARS} characters"
            )
        tidy.append(tag)
    if len(tidy) > MAX_TAGS:
        raise InvalidContribution(f"{len(tidy)} tags given; at most {MAX_TAGS}")
    return tidy


def parse_tags(text: str) -> list[str]:
    """Tags as typed in a form: separated by commas or spaces."""
    return [part for part in re.split(r"[,\s]+", text) if part]
