"""The JSON shapes of the repertoire API: states, articles, reviews, candidates, members and
collections."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from kb import repertoire as kb_repertoire
from kb.collections import visible_items
from kb.entry_schema import MAX_TAGS, MAX_TITLE_CHARS
from kb.models import Article, Collection
from kb.visibility import Visibility
from web.timestamps import UtcDateTime


class StateIn(BaseModel):
    to: str = Field(description="The new state, e.g. validated, standard, archived, closed.")
    note: str = Field(default="", max_length=2000)


class ArticleIn(BaseModel):
    title: str = Field(max_length=MAX_TITLE_CHARS)
    sections: dict[str, str] = Field(
        description="problem, context, cause, resolution, applies_when, not_applies_when"
    )
    sources: list[str] = Field(min_length=1, max_length=20, description="Ids of solved cases.")
    owner: str | None = Field(default=None, description="Handle; default: you.")
    scope: str | None = Field(default=None, description="Community slug; none: organisation.")
    review_interval_days: int | None = Field(default=None, ge=1, le=3650)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)


class ArticleEdit(BaseModel):
    """What is left out stays as it is."""

    sections: dict[str, str] | None = None
    owner: str | None = Field(default=None, description="The reviewer's handle.")
    scope: str | None = Field(
        default=None, description='A community slug; "" for the whole organisation.'
    )
    review_interval_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Without next_review_on, the next review moves to this many days from now.",
    )
    next_review_on: date | None = Field(
        default=None, description="The next review's day (YYYY-MM-DD, UTC), today or later."
    )


class ArticleOut(BaseModel):
    id: str
    title: str
    status: str
    sections: dict[str, str]
    sources: list[str]
    credits: list[str]
    owner: str
    scope: str | None
    review_interval_days: int
    next_review_at: UtcDateTime
    review_requested: bool
    review_reason: str

    @classmethod
    def from_article(cls, article: Article) -> "ArticleOut":
        return cls(
            id=article.entry.external_id,
            title=article.entry.title,
            status=article.entry.status,
            sections=dict(article.sections),
            sources=[link.source.external_id for link in article.sources],
            credits=[person.handle for person in kb_repertoire.credits(article)],
            owner=article.owner.handle,
            scope=article.scope,
            review_interval_days=article.review_interval_days,
            next_review_at=article.next_review_at,
            review_requested=article.review_requested_at is not None,
            review_reason=article.review_reason,
        )


class ReviewIn(BaseModel):
    outcome: str = Field(description="confirmed, revised or archived")
    note: str = Field(default="", max_length=2000)


class QueueItemOut(BaseModel):
    article: ArticleOut
    state: str
    due_at: UtcDateTime


class FlagReviewIn(BaseModel):
    reason: str = Field(min_length=3, max_length=2000)


class CandidateOut(BaseModel):
    problem: str
    title: str
    reuses: int
    helpful: int


class DuplicateOut(BaseModel):
    first: str
    second: str
    similarity: float


class CandidatesOut(BaseModel):
    cases: list[CandidateOut]
    near_duplicates: list[DuplicateOut]


class MemberIn(BaseModel):
    person: str
    member: bool = True


class CollectionIn(BaseModel):
    title: str = Field(max_length=300)
    introduction: str = Field(default="", max_length=50_000)
    entries: list[str] = Field(default_factory=list, max_length=100)
    questions: list[str] = Field(default_factory=list, max_length=50)


class CollectionEdit(BaseModel):
    """What is left out stays as it is."""

    title: str | None = Field(default=None, max_length=300)
    introduction: str | None = Field(default=None, max_length=50_000)
    questions: list[str] | None = Field(default=None, max_length=50)


class CollectionEntryIn(BaseModel):
    entry: str = Field(description="The id of an article or case, as shown on its page.")


class CollectionMoveIn(BaseModel):
    direction: Literal["up", "down"]


class CollectionOrderIn(BaseModel):
    entries: list[str] = Field(
        max_length=100, description="Every entry of the collection once, in the new order."
    )


class CollectionOut(BaseModel):
    id: int
    title: str
    owner: str
    introduction: str
    entries: list[str]
    questions: list[str]
    booklet_html: str
    booklet_markdown: str

    @classmethod
    def from_collection(cls, collection: Collection, visibility: Visibility) -> "CollectionOut":
        return cls(
            id=collection.id,
            title=collection.title,
            owner=collection.owner.handle,
            introduction=collection.introduction,
            entries=[item.entry.external_id for item in visible_items(collection, visibility)],
            questions=list(collection.questions),
            booklet_html=f"/collections/{collection.id}/booklet.html",
            booklet_markdown=f"/collections/{collection.id}/booklet.md",
        )
