"""A query as the search engine takes it: its text checked, and which retrievers rank it."""

from enum import StrEnum


class QueryError(ValueError):
    """A query that cannot be searched; the message says why."""


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    KEYWORD = "keyword"

    @property
    def uses_dense(self) -> bool:
        return self in (SearchMode.HYBRID, SearchMode.DENSE)

    @property
    def uses_keyword(self) -> bool:
        return self in (SearchMode.HYBRID, SearchMode.KEYWORD)


def validate_query(query: str | None, max_chars: int) -> str:
    text = (query or "").strip()
    if not text:
        raise QueryError("the query is empty: type a few words describing what you look for")
    if len(text) > max_chars:
        raise QueryError(
            f"the query is {len(text)} characters long; the limit is {max_chars}. "
            "Shorten it to the essential words or error codes."
        )
    return text


class SearchSort(StrEnum):
    RELEVANCE = "relevance"  # the fused ranking, best first
    NEWEST = "newest"  # the same matches, most recently written first
