"""Review dates of repertoire articles: the queue, recorded reviews, and reviews that
events ask for (a source case reopened, "did not work for me", a tutor's flag)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.announcements import ReviewsDue
from kb.entry_schema import MIN_FLAG_REASON_CHARS
from kb.errors import InvalidContribution
from kb.history import record_event
from kb.models import (
    Article,
    ArticleSource,
    Entry,
    EntryKind,
    EntryStatus,
    Person,
    Review,
    ReviewOutcome,
    utcnow,
)
from kb.permissions import Action, require
from kb.visibility import Visibility
from kb.writes import announce, write


def article_of(session: Session, entry: Entry) -> Article | None:
    return session.get(Article, entry.id) if entry.kind == EntryKind.ARTICLE else None


@dataclass
class QueueItem:
    article: Article
    state: str  # "requested", "overdue" or "due"
    due_at: datetime


def review_queue(
    session: Session,
    now: datetime | None = None,
    due_within_days: int = 14,
    owner: Person | None = None,
    visibility: Visibility | None = None,
) -> list[QueueItem]:
    """Articles to review: asked for by an event, overdue, or due soon; most urgent first."""
    moment = now or utcnow()
    horizon = moment + timedelta(days=due_within_days)
    query = (
        select(Article)
        .join(Entry, Entry.id == Article.entry_id)
        .where(Entry.status != EntryStatus.ARCHIVED)
        .where((visibility or Visibility.everything()).allows())
        .where((Article.next_review_at <= horizon) | Article.review_requested_at.is_not(None))
    )
    if owner is not None:
        query = query.where(Article.owner_id == owner.id)
    items = []
    for article in session.scalars(query):
        if article.review_requested_at is not None:
            items.append(QueueItem(article, "requested", article.review_requested_at))
        elif article.next_review_at < moment:
            items.append(QueueItem(article, "overdue", article.next_review_at))
        else:
            items.append(QueueItem(article, "due", article.next_review_at))
    order = {"requested": 0, "overdue": 1, "due": 2}
    return sorted(items, key=lambda item: (order[item.state], item.due_at))


UPCOMING_ORDERS = ("date", "-date")


def upcoming_reviews(
    session: Session,
    visibility: Visibility,
    owner: Person | None = None,
    order: str = "date",
) -> list[Article]:
    """Every article that is not archived, with its next review date: soonest first
    ("date") or latest first ("-date"). A new article is here at once."""
    if order not in UPCOMING_ORDERS:
        raise InvalidContribution(f"sort by date or -date, not {order!r}")
    when = Article.next_review_at.desc() if order == "-date" else Article.next_review_at
    query = (
        select(Article)
        .join(Entry, Entry.id == Article.entry_id)
        .where(Entry.status != EntryStatus.ARCHIVED, visibility.allows())
        .order_by(when, Entry.title)
    )
    if owner is not None:
        query = query.where(Article.owner_id == owner.id)
    return list(session.scalars(query))


def announce_due_reviews(session: Session, now: datetime | None = None) -> list[QueueItem]:
    """Announce (ReviewsDue) the articles whose review date has passed or whose review was
    asked for, each once per due date: running it again announces nothing new, and an
    article announced as overdue is announced again once a review was asked for, or after
    its next review date passes in turn. `kb reviews notify` runs it (from cron)."""
    moment = now or utcnow()
    due = [
        item
        for item in review_queue(session, moment, due_within_days=0)
        if item.due_at <= moment and item.article.review_due_announced_for != item.due_at
    ]
    if not due:
        return []
    with write(session):
        for item in due:
            item.article.review_due_announced_for = item.due_at
        announce(session, ReviewsDue(tuple(item.article.entry_id for item in due)))
    return due


def is_overdue(article: Article, now: datetime | None = None) -> bool:
    return article.next_review_at < (now or utcnow()) or article.review_requested_at is not None


def record_review(
    session: Session,
    actor: Person,
    article: Article,
    outcome: str,
    note: str = "",
    now: datetime | None = None,
) -> Review:
    require(actor, Action.SET_REVIEW)
    moment = now or utcnow()
    try:
        result = ReviewOutcome(outcome)
    except ValueError:
        raise InvalidContribution(
            f"a review outcome is confirmed, revised or archived, not {outcome!r}"
        ) from None
    with write(session):
        review = Review(
            entry_id=article.entry_id,
            reviewer_id=actor.id,
            outcome=result,
            note=" ".join(note.split()),
            at=moment,
        )
        session.add(review)
        article.review_requested_at = None
        article.review_reason = ""
        article.next_review_at = moment + timedelta(days=article.review_interval_days)
        if result == ReviewOutcome.ARCHIVED:
            article.entry.status = EntryStatus.ARCHIVED
        record_event(
            session,
            article.entry,
            actor,
            "reviewed",
            result + (f": {review.note}" if review.note else ""),
            moment,
        )
        session.flush()
    return review


def reviews_of(session: Session, entry: Entry) -> list[Review]:
    return list(
        session.scalars(
            select(Review).where(Review.entry_id == entry.id).order_by(Review.at.desc())
        )
    )


def flag_for_review(session: Session, actor: Person, article: Article, reason: str) -> None:
    """A tutor or knowledge manager puts the article in the review queue now."""
    require(actor, Action.FLAG_FOR_REVIEW)
    reason = " ".join(reason.split())
    if len(reason) < MIN_FLAG_REASON_CHARS:
        raise InvalidContribution("say why it needs a review")
    with write(session):
        request_review(session, article, f"{actor.name}: {reason}")


def request_review(
    session: Session, article: Article, reason: str, now: datetime | None = None
) -> None:
    """An event says the article may be wrong: it goes to the front of the queue now.
    Part of the write that found it out (a reopened case, "did not work for me")."""
    article.review_requested_at = article.review_requested_at or (now or utcnow())
    article.review_reason = reason[:2000]
    record_event(session, article.entry, None, "review requested", reason, now)


def articles_citing(session: Session, entry: Entry) -> list[Article]:
    """Articles that name this entry, or the problem it solves, as a source."""
    ids = [entry.id] + ([entry.solves_id] if entry.solves_id else [])
    return list(
        session.scalars(
            select(Article).join(ArticleSource).where(ArticleSource.source_id.in_(ids)).distinct()
        )
    )


def request_reviews_citing(
    session: Session, entry: Entry, reason: str, now: datetime | None = None
) -> list[Article]:
    articles = articles_citing(session, entry)
    own = article_of(session, entry)
    if own is not None:
        articles.append(own)
    for article in articles:
        request_review(session, article, reason, now)
    return articles


def overdue_articles(
    session: Session, external_ids: list[str], now: datetime | None = None
) -> set[str]:
    """Which of these entries are articles whose review is overdue or requested."""
    moment = now or utcnow()
    rows = session.execute(
        select(Entry.external_id, Article.next_review_at, Article.review_requested_at)
        .join(Article, Article.entry_id == Entry.id)
        .where(Entry.external_id.in_(external_ids))
    )
    return {
        external_id
        for external_id, next_review_at, requested_at in rows
        if next_review_at < moment or requested_at is not None
    }
