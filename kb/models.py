"""The domain model: communities, people, entries and their stored passage vectors.

Every table is here, in one file over 300 lines on purpose: the relations between them
read in one place, and the migrations (kb/migrations) are checked against this file."""

import hashlib
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# JSON on SQLite; JSONB on PostgreSQL, whose plain json has no equality (DISTINCT, GROUP BY).
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class EntryKind(StrEnum):
    PROBLEM = "problem"
    SOLUTION = "solution"
    PRACTICE = "practice"
    ARTICLE = "article"  # a standard-repertoire article distilled from solved cases


class EntryStatus(StrEnum):
    # problems
    OPEN = "open"  # no accepted solution, nobody has taken it
    IN_PROGRESS = "in_progress"  # someone it was routed to is working on it
    SOLVED = "solved"  # a solution is accepted
    CLOSED = "closed"  # solved and closed: no more answers needed
    # solutions, practices and articles
    DRAFT = "draft"  # only its author sees it
    COMMUNITY = "community"  # shared, not validated yet
    VALIDATED = "validated"  # checked by a knowledge manager
    STANDARD = "standard"  # part of the organisation's standard repertoire
    ARCHIVED = "archived"  # kept for the record, hidden from search unless asked


HIDDEN_STATUSES = (EntryStatus.DRAFT, EntryStatus.ARCHIVED)


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Members only: its entries are invisible to everyone else (kb/visibility.py).
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    expertise: Mapped[str] = mapped_column(Text, default="")
    roles: Mapped[list[str]] = mapped_column(JSONType, default=list)
    communities: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # argon2 hash; None means this person cannot sign in (yet).
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    # Where routed problems are mailed, if KB_SMTP_HOST is set.
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    # Away people and people who opted out are not suggested for routing.
    away: Mapped[bool] = mapped_column(Boolean, default=False)
    routing_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised to end every session of this person (sign-out, password change, "sign out
    # everywhere"): a session cookie is valid only while it carries the current value.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # How notifications reach this person by e-mail (an EmailSetting); the inbox has them all.
    notification_email: Mapped[str] = mapped_column(
        String(20), default="immediately", server_default="immediately"
    )


class EmailSetting(StrEnum):
    """When a person's notifications are e-mailed to them."""

    IMMEDIATELY = "immediately"  # one e-mail per notification
    DAILY = "daily"  # a digest, sent by `kb digest --period daily`
    WEEKLY = "weekly"
    OFF = "off"  # the inbox only


class Entry(Base):
    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(20), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    solves_id: Mapped[int | None] = mapped_column(
        ForeignKey("entries.id", ondelete="SET NULL"), index=True
    )
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # sha256 of the embedded text; vectors are current when embedded_hash matches.
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    embedded_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    embedding_model: Mapped[str | None] = mapped_column(String(200), default=None)

    author: Mapped[Person] = relationship(lazy="joined")
    community: Mapped[Community] = relationship(lazy="joined")
    solves: Mapped["Entry | None"] = relationship(remote_side=[id], back_populates="solutions")
    solutions: Mapped[list["Entry"]] = relationship(back_populates="solves")
    passages: Mapped[list["Passage"]] = relationship(
        back_populates="entry", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def embedding_text(self) -> str:
        return embedding_text(self.title, self.body)

    @property
    def heading(self) -> str:
        """What a link to the entry says: its title; a solution without one (titles are
        optional for them) is named by the problem it answers."""
        if self.title:
            return self.title
        if self.solves is not None:
            return f"Answer to: {self.solves.title}"
        return "Untitled"


def embedding_text(title: str, body: str) -> str:
    return f"{title.strip()}\n\n{body.strip()}".strip()


def content_hash(title: str, body: str) -> str:
    return hashlib.sha256(embedding_text(title, body).encode("utf-8")).hexdigest()


@event.listens_for(Entry, "before_insert")
@event.listens_for(Entry, "before_update")
def _refresh_content_hash(_mapper: object, _connection: object, entry: Entry) -> None:
    entry.content_hash = content_hash(entry.title, entry.body)


class Passage(Base):
    """One window of an entry's text and its embedding (float32, L2-normalised)."""

    __tablename__ = "passages"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    passage_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_char: Mapped[int] = mapped_column(Integer)
    end_char: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    entry: Mapped[Entry] = relationship(back_populates="passages")


class IndexState(Base):
    """One row: bumped whenever stored vectors change, so an index file knows if it is stale."""

    __tablename__ = "index_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str | None] = mapped_column(String(200), default=None)


class IndexChange(Base):
    """Which entries' stored vectors changed at which index generation: a server catches
    up on those entries alone instead of rebuilding its whole index."""

    __tablename__ = "index_changes"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key: the log also records entries that were deleted.
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ApiToken(Base):
    """A bearer token for scripts; only its sha256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    person: Mapped[Person] = relationship(lazy="joined")


class SsoIdentity(Base):
    """A person's account at the single sign-on provider: the ID token's issuer and
    subject, which stay the same when the person's name, e-mail or groups change."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")


class SignInFailure(Base):
    """A failed sign-in, kept while it counts for the throttle: in the database, so that
    every worker process and machine counts the same failures."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_who", "handle", "address", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(200))  # lower-cased, as typed
    address: Mapped[str] = mapped_column(String(100))
    failed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Revision(Base):
    """One saved version of an entry's text; number 1 is the original."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    editor_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    editor: Mapped[Person] = relationship(lazy="joined")


class Attachment(Base):
    """An image or file on an entry; its bytes live under KB_HOME/attachments by SHA-256
    (kb.attachment_store), so the same file uploaded twice is stored once."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    uploaded_by: Mapped[Person | None] = relationship(lazy="joined")


class Comment(Base):
    """Discussion under a problem, solution or practice."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set when the author turned this comment into a solution.
    solution_id: Mapped[int | None] = mapped_column(
        ForeignKey("entries.id", ondelete="SET NULL"), default=None
    )

    author: Mapped[Person] = relationship(lazy="joined")
    entry: Mapped[Entry] = relationship(foreign_keys=[entry_id])
    solution: Mapped[Entry | None] = relationship(foreign_keys=[solution_id])


class FeedbackKind(StrEnum):
    REUSE = "reuse"  # "this solved my case too"
    HELPFUL = "helpful"
    FLAG = "flag"  # needs attention; the reason says why
    DID_NOT_WORK = "did_not_work"  # tried it, it did not solve my case: triggers a review


class Feedback(Base):
    """One person's reuse, helpful vote or flag on an entry (at most one of each kind)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("entry_id", "person_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")


class RoutingState(StrEnum):
    ASKED = "asked"  # waiting in the person's inbox
    TAKEN = "taken"  # they are working on it
    DECLINED = "declined"
    PASSED = "passed"  # handed on to someone else
    CLOSED = "closed"  # the problem got an accepted solution


class Routing(Base):
    """A problem asked of one person ("asked of you"), with why they were chosen."""

    __tablename__ = "routings"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    routed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    state: Mapped[str] = mapped_column(String(20), default=RoutingState.ASKED, index=True)
    # The past cases that made kb suggest this person: [{case_id, title, role, similarity}].
    reasons: Mapped[list[dict[str, object]]] = mapped_column(JSONType, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    escalation: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    problem: Mapped[Entry] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="joined")
    routed_by: Mapped[Person | None] = relationship(foreign_keys=[routed_by_id])


class SearchLog(Base):
    """One search, or one Ask draft, for the tutors' console.

    `visitor` is a random key kept in the session cookie: it links a search to the
    result opened next and to a problem posted after it, without saying who searched.
    `person_id` is kept only when KB_LOG_SEARCHER_IDENTITY is on.
    """

    __tablename__ = "search_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "search" or "ask"
    query: Mapped[str] = mapped_column(Text)
    community: Mapped[str | None] = mapped_column(String(100), default=None)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    best_similarity: Mapped[float | None] = mapped_column(default=None)
    visitor: Mapped[str] = mapped_column(String(64), default="", index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    opened_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("entries.id", ondelete="SET NULL"), default=None
    )
    posted_problem_id: Mapped[int | None] = mapped_column(
        ForeignKey("entries.id", ondelete="SET NULL"), default=None
    )
    # An entry it led to that the visitor then marked reused or helpful: not a failure.
    answered_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("entries.id", ondelete="SET NULL"), default=None
    )


class GapState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Gap(Base):
    """A group of failed searches or unanswered problems that a tutor asked someone to fill."""

    __tablename__ = "gaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(300))
    examples: Mapped[list[str]] = mapped_column(JSONType, default=list)
    size: Mapped[int] = mapped_column(Integer, default=0)
    # Mean of the group's L2-normalised vectors (float32 bytes), to recognise the answer.
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    community: Mapped[str | None] = mapped_column(String(100), default=None)
    assigned_to_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default=GapState.OPEN, index=True)
    answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("entries.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    read_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    assigned_to: Mapped[Person] = relationship(foreign_keys=[assigned_to_id], lazy="joined")
    assigned_by: Mapped[Person] = relationship(foreign_keys=[assigned_by_id], lazy="joined")
    answer: Mapped[Entry | None] = relationship()


class Article(Base):
    """The repertoire side of an entry of kind "article": its structure, provenance,
    scope, owner and review schedule."""

    __tablename__ = "articles"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    # {"problem", "context", "cause", "resolution", "applies_when", "not_applies_when"}
    sections: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    scope: Mapped[str | None] = mapped_column(String(100), default=None)  # None: organisation
    owner_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    review_interval_days: Mapped[int] = mapped_column(Integer, default=180)
    next_review_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    review_requested_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    review_reason: Mapped[str] = mapped_column(Text, default="")
    # The due date (next_review_at, or review_requested_at) that `kb reviews notify`
    # announced as due: announced once per due date, however often it runs.
    review_due_announced_for: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    entry: Mapped[Entry] = relationship(lazy="joined")
    owner: Mapped[Person] = relationship(lazy="joined")
    sources: Mapped[list["ArticleSource"]] = relationship(
        cascade="all, delete-orphan", order_by="ArticleSource.position"
    )


class ArticleSource(Base):
    """Provenance: a solved case (or solution, practice) an article was distilled from."""

    __tablename__ = "article_sources"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.entry_id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)

    source: Mapped[Entry] = relationship(lazy="joined")


class ReviewOutcome(StrEnum):
    CONFIRMED = "confirmed"
    REVISED = "revised"
    ARCHIVED = "archived"


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    reviewer: Mapped[Person] = relationship(lazy="joined")


class EntryEvent(Base):
    """A state change or other action on an entry: who, when, what."""

    __tablename__ = "entry_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[Person | None] = relationship(lazy="joined")


class Collection(Base):
    """A case study or teaching booklet: an introduction, then ordered entries, then
    questions for discussion."""

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    introduction: Mapped[str] = mapped_column(Text, default="")
    questions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    owner_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    owner: Mapped[Person] = relationship(lazy="joined")
    items: Mapped[list["CollectionItem"]] = relationship(
        cascade="all, delete-orphan", order_by="CollectionItem.position"
    )


class CollectionItem(Base):
    __tablename__ = "collection_items"

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))

    entry: Mapped[Entry] = relationship(lazy="joined")


class NotificationKind(StrEnum):
    SOLUTION_POSTED = "solution_posted"  # a solution to a problem you asked or follow
    REQUEST_TAKEN = "request_taken"  # someone asked about your problem took it
    REQUEST_DECLINED = "request_declined"
    REQUEST_PASSED = "request_passed"
    SOLUTION_ACCEPTED = "solution_accepted"  # on a problem you follow, or your solution
    PROBLEM_ASKED = "problem_asked"  # a new problem in a tag, community or by a person you follow


class Notification(Base):
    """Something that happened that one person should hear of, shown in their inbox."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_person_created", "person_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    # The problem (or solution) it is about.
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), default=None
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    # Set once the notification went out by e-mail, alone or in a digest: never twice.
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    actor: Mapped[Person | None] = relationship(foreign_keys=[actor_id], lazy="joined")
    entry: Mapped[Entry | None] = relationship(lazy="joined")


class FollowTarget(StrEnum):
    PROBLEM = "problem"  # value: the problem's row id, as text
    TAG = "tag"  # value: the tag, lower-cased
    COMMUNITY = "community"  # value: the community's slug
    PERSON = "person"  # value: the person's handle


class Follow(Base):
    """One person follows a problem, a tag, a community or a person.

    One table for the four kinds, keyed by (target, value), so that "who follows any of
    these" is one query; the value is text because a tag has no row of its own."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("person_id", "target", "value"),
        Index("ix_follows_target_value", "target", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Webhook(Base):
    """An operator's integration: kb POSTs the events it chose to its URL, signed with
    its secret (kb.webhooks, kb.webhook_delivery)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Kept as it is: each delivery is signed with it (HMAC-SHA256), so it cannot be a hash.
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Slugs of the communities whose entries it hears of; empty: every community.
    communities: Mapped[list[str]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt failed; kept in the log


class WebhookDelivery(Base):
    """One event for one webhook: the outbox row the deliverer sends, and its log."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, object]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    # Raised when a deliverer claims the row for an attempt: the claim is an UPDATE that
    # expects the count it read, so two deliverers never send one attempt twice.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    webhook: Mapped[Webhook] = relationship(lazy="joined")


Index("ix_entries_solves_accepted", Entry.solves_id, Entry.accepted)
