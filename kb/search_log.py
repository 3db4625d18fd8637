"""The search log behind the tutors' console: what people looked for, whether they found
it, what they opened, and whether they then had to ask."""

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.orm import Session

from kb.models import Community, Entry, Person, SearchLog, utcnow
from kb.visibility import Visibility
from kb.writes import write

# An Ask page sends a lookup per typing pause; they update one row per visitor and draft.
ASK_DRAFT_MINUTES = 30
# A problem posted this soon after a search counts as "searched, then asked".
POSTED_AFTER_MINUTES = 60
ABANDONED_AFTER_MINUTES = 30


def log_search(
    session: Session,
    *,
    kind: str,
    query: str,
    hits: int,
    best_similarity: float | None,
    visitor: str,
    community: str | None = None,
    person: Person | None = None,
    now: datetime | None = None,
    may_add_row: Callable[[], bool] = lambda: True,
) -> SearchLog | None:
    """Record a search, or the latest state of an Ask draft (one row per draft).

    `may_add_row` is asked only when a new row would be written (not when a draft's row
    is updated); when it says no, nothing is logged and None is returned."""
    moment = now or utcnow()
    entry = None
    if kind == "ask" and visitor:
        entry = session.scalar(
            select(SearchLog)
            .where(
                SearchLog.kind == "ask",
                SearchLog.visitor == visitor,
                SearchLog.posted_problem_id.is_(None),
                SearchLog.answered_entry_id.is_(None),  # an answered draft is finished
                SearchLog.at >= moment - timedelta(minutes=ASK_DRAFT_MINUTES),
            )
            .order_by(SearchLog.at.desc())
            .limit(1)
        )
    with write(session):
        if entry is None:
            if not may_add_row():
                return None
            entry = SearchLog(kind=kind, visitor=visitor)
            session.add(entry)
        entry.at = moment
        entry.query = query[:1000]
        entry.hits = hits
        entry.best_similarity = best_similarity
        entry.community = community
        entry.person_id = person.id if person is not None else None
        session.flush()
    return entry


def mark_opened(session: Session, log_id: int, visitor: str, entry_id: int) -> None:
    """The visitor opened this result; only their own log rows can be marked."""
    with write(session):
        session.execute(
            update(SearchLog)
            .where(
                SearchLog.id == log_id,
                SearchLog.visitor == visitor,
                SearchLog.opened_entry_id.is_(None),
            )
            .values(opened_entry_id=entry_id)
        )


def mark_case_answers(session: Session, log_id: int, visitor: str, entry_id: int) -> bool:
    """The visitor said this case answers their search or draft ("This answers my
    question"): it is no failed search, whatever its similarity. Only their own rows;
    False when the row is not theirs."""
    with write(session):
        result = session.execute(
            update(SearchLog)
            .where(SearchLog.id == log_id, SearchLog.visitor == visitor)
            .values(opened_entry_id=entry_id, answered_entry_id=entry_id)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_posted(
    session: Session, visitor: str, problem_id: int, now: datetime | None = None
) -> None:
    """The visitor posted a problem: their recent searches and draft did not answer it.
    Part of the write that asks the problem (kb.contributions.ask_problem)."""
    if not visitor:
        return
    moment = now or utcnow()
    session.execute(
        update(SearchLog)
        .where(
            SearchLog.visitor == visitor,
            SearchLog.posted_problem_id.is_(None),
            SearchLog.at >= moment - timedelta(minutes=POSTED_AFTER_MINUTES),
        )
        .values(posted_problem_id=problem_id)
    )


def mark_answered(
    session: Session, visitor: str, entry: Entry, now: datetime | None = None
) -> None:
    """The visitor marked this entry reused or helpful: their recent searches that led
    to it (opened it, the problem it solves, or a problem it is a solution of) found
    their answer. Part of the feedback's write (kb.contributions.record_feedback)."""
    if not visitor:
        return
    moment = now or utcnow()
    led_to = [entry.id] + ([entry.solves_id] if entry.solves_id is not None else [])
    solutions = select(Entry.id).where(Entry.solves_id == entry.id)
    session.execute(
        update(SearchLog)
        .where(
            SearchLog.visitor == visitor,
            SearchLog.at >= moment - timedelta(minutes=POSTED_AFTER_MINUTES),
            or_(SearchLog.opened_entry_id.in_(led_to), SearchLog.opened_entry_id.in_(solutions)),
        )
        .values(answered_entry_id=entry.id)
        .execution_options(synchronize_session=False)
    )


def unmark_answered(session: Session, visitor: str, entry: Entry) -> None:
    """The visitor took back their reuse or helpful mark: those searches count again."""
    if not visitor:
        return
    session.execute(
        update(SearchLog)
        .where(SearchLog.visitor == visitor, SearchLog.answered_entry_id == entry.id)
        .values(answered_entry_id=None)
        .execution_options(synchronize_session=False)
    )


def prune(session: Session, keep_days: int, now: datetime | None = None) -> int:
    """Forget searches older than KB_SEARCH_LOG_DAYS."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    with write(session):
        result = session.execute(delete(SearchLog).where(SearchLog.at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _not_about_hidden(visibility: Visibility) -> list[ColumnElement[bool]]:
    """Leave out searches made in a members-only community the viewer may not see, or
    that led to one of its entries (the text may be about it)."""
    hidden_slugs = select(Community.slug).where(Community.id.in_(visibility.hidden_community_ids))
    hidden_entries = select(Entry.id).where(~visibility.allows())
    return [
        or_(SearchLog.community.is_(None), SearchLog.community.not_in(hidden_slugs)),
        or_(SearchLog.opened_entry_id.is_(None), SearchLog.opened_entry_id.not_in(hidden_entries)),
        or_(
            SearchLog.posted_problem_id.is_(None),
            SearchLog.posted_problem_id.not_in(hidden_entries),
        ),
    ]


def failed_searches(
    session: Session,
    threshold: float,
    since: datetime,
    community: str | None = None,
    now: datetime | None = None,
    visibility: Visibility | None = None,
) -> list[SearchLog]:
    """Searches and Ask drafts that did not find what was needed: the best hit was not
    similar enough, a problem was posted after them, or nobody opened a result
    (abandoned; judged once the search is ABANDONED_AFTER_MINUTES old). A search that led
    to an entry the visitor then marked reused or helpful is never one (mark_answered)."""
    abandoned_before = (now or utcnow()) - timedelta(minutes=ABANDONED_AFTER_MINUTES)
    query = (
        select(SearchLog)
        .where(SearchLog.at >= since, SearchLog.answered_entry_id.is_(None))
        .order_by(SearchLog.at)
    )
    if community:
        query = query.where(SearchLog.community == community)
    if visibility is not None and visibility.hidden_community_ids:
        query = query.where(*_not_about_hidden(visibility))
    failed = []
    for entry in session.scalars(query):
        weak = entry.best_similarity is None or entry.best_similarity < threshold
        asked = entry.posted_problem_id is not None
        abandoned = (
            entry.kind == "search" and entry.opened_entry_id is None and entry.at < abandoned_before
        )
        if weak or asked or abandoned:
            failed.append(entry)
    return failed
