"""The one rule for ids: entries' ids, people's handles and community slugs.

Each is a single URL path segment (/entries/ID) and a file name (`kb export`, ID.md),
so: ASCII letters, digits and . _ - only, starting with a letter or digit (no slash, no
leading dot, no spaces), at most MAX_ID_CHARS characters. The importer, the API's
schemas, `kb user add` and export all use it."""

import re

MAX_ID_CHARS = 200
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ID_RULE = (
    "an id is ASCII letters, digits and . _ - (starting with a letter or digit), "
    f"at most {MAX_ID_CHARS} characters"
)


def is_valid_id(value: str) -> bool:
    return len(value) <= MAX_ID_CHARS and ID_PATTERN.fullmatch(value) is not None


def checked_id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError(ID_RULE)
    return value
