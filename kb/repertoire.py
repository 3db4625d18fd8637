"""The standard repertoire: articles distilled from solved cases, and candidates for
promotion. Their review dates are in kb.reviews."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.announcements import ArticlePromoted
from kb.contributions import _new_entry, edit_entry, feedback_counts
from kb.entry_schema import MAX_BODY_CHARS, EntryDraft
from kb.errors import InvalidContribution
from kb.history import record_event
from kb.models import (
    Article,
    ArticleSource,
    Community,
    Entry,
    EntryKind,
    EntryStatus,
    Passage,
    Person,
    utcnow,
)
from kb.permissions import Action, require
from kb.visibility import Visibility
from kb.writes import announce, write

SECTIONS: dict[str, str] = {
    "problem": "Problem",
    "context": "Context",
    "cause": "Cause",
    "resolution": "Resolution",
    "applies_when": "When it applies",
    "not_applies_when": "When it does not apply",
}
MAX_SOURCES = 20


def article_body(sections: dict[str, str]) -> str:
    """The Markdown that is shown, searched and embedded: one heading per section."""
    parts = [
        f"## {heading}\n\n{sections[key].strip()}"
        for key, heading in SECTIONS.items()
        if sections.get(key, "").strip()
    ]
    return "\n\n".join(parts)


def checked_sections(sections: dict[str, str]) -> dict[str, str]:
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise InvalidContribution(
            f"unknown section(s) {', '.join(sorted(unknown))}; sections: {', '.join(SECTIONS)}"
        )
    tidy = {key: sections.get(key, "").replace("\r\n", "\n").strip() for key in SECTIONS}
    for key in ("problem", "resolution"):
        if not tidy[key]:
            raise InvalidContribution(f"an article needs its {SECTIONS[key].lower()} section")
    if sum(len(text) for text in tidy.values()) > MAX_BODY_CHARS:
        raise InvalidContribution(f"the sections together exceed {MAX_BODY_CHARS:,} characters")
    return tidy


def promote_to_article(
    session: Session,
    actor: Person,
    *,
    title: str,
    sections: dict[str, str],
    sources: Sequence[Entry],
    owner: Person | None = None,
    scope: str | None = None,
    review_interval_days: int = 180,
    tags: list[str] | None = None,
    now: datetime | None = None,
) -> Article:
    """A knowledge manager distils solved cases into a standard-repertoire article."""
    require(actor, Action.PROMOTE)
    moment = now or utcnow()
    if not sources:
        raise InvalidContribution("name at least one solved case the article comes from")
    if len(sources) > MAX_SOURCES:
        raise InvalidContribution(f"at most {MAX_SOURCES} source cases")
    for source in sources:
        if source.kind == EntryKind.ARTICLE:
            raise InvalidContribution(f"{source.external_id} is an article itself")
    if not 1 <= review_interval_days <= 3650:
        raise InvalidContribution("the review interval is 1 to 3650 days")
    if (
        scope is not None
        and session.scalar(select(Community).where(Community.slug == scope)) is None
    ):
        raise InvalidContribution(f"no community is called {scope!r}")
    tidy = checked_sections(sections)
    draft = EntryDraft(title, article_body(tidy), tags or []).checked(body_required=True)
    with write(session):
        entry = _new_entry(session, EntryKind.ARTICLE, actor, draft, scope or "general")
        entry.status = EntryStatus.STANDARD
        entry.created_at = entry.updated_at = moment
        article = Article(
            entry_id=entry.id,
            sections=tidy,
            scope=scope,
            owner_id=(owner or actor).id,
            review_interval_days=review_interval_days,
            next_review_at=moment + timedelta(days=review_interval_days),
        )
        article.sources = [
            ArticleSource(source_id=source.id, position=position)
            for position, source in enumerate(dict.fromkeys(sources))
        ]
        session.add(article)
        record_event(
            session,
            entry,
            actor,
            "promoted",
            f"from {', '.join(s.external_id for s in sources)}",
            moment,
        )
        session.flush()
        announce(session, ArticlePromoted(entry.id, actor.id))
    return article


def credits(article: Article) -> list[Person]:
    """Whose work the article stands on: the authors of its sources, and for a source
    problem, of its accepted solution(s)."""
    people: dict[int, Person] = {}
    for link in article.sources:
        source = link.source
        people.setdefault(source.author_id, source.author)
        for solution in source.solutions:
            if solution.accepted:
                people.setdefault(solution.author_id, solution.author)
    return list(people.values())


def update_article(
    session: Session,
    actor: Person,
    article: Article,
    *,
    sections: dict[str, str] | None = None,
    owner: Person | None = None,
    scope: str | None = None,
    review_interval_days: int | None = None,
    next_review_at: datetime | None = None,
    now: datetime | None = None,
) -> Article:
    """Revise the sections, or change the review schedule: owner, scope (a community's
    slug; "" for the whole organisation), interval and the next review date. A new
    interval without a date moves the next review to that many days from now. Each
    schedule change is one line of the entry's history."""
    moment = now or utcnow()
    schedule_changes = (owner, scope, review_interval_days, next_review_at)
    if any(value is not None for value in schedule_changes):
        require(actor, Action.SET_REVIEW)
    if review_interval_days is not None and not 1 <= review_interval_days <= 3650:
        raise InvalidContribution("the review interval is 1 to 3650 days")
    if next_review_at is not None and next_review_at.tzinfo is not None:
        raise InvalidContribution("give the next review date without a time zone (UTC)")
    if next_review_at is not None and next_review_at.date() < moment.date():
        raise InvalidContribution("the next review date cannot be in the past")
    if next_review_at is not None and next_review_at > moment + timedelta(days=3650):
        raise InvalidContribution("the next review date is at most ten years ahead")
    if scope and session.scalar(select(Community).where(Community.slug == scope)) is None:
        raise InvalidContribution(f"no community is called {scope!r}")
    with write(session):
        if sections is not None:
            tidy = checked_sections(sections)
            entry = article.entry
            draft = EntryDraft(entry.title, article_body(tidy), list(entry.tags))
            edit_entry(session, actor, entry, draft)
            article.sections = tidy
        changes = []
        if owner is not None and owner.id != article.owner_id:
            article.owner_id = owner.id
            article.owner = owner
            changes.append(f"owner {owner.handle}")
        if scope is not None and (scope or None) != article.scope:
            article.scope = scope or None
            changes.append(f"scope {scope or 'whole organisation'}")
        if (
            review_interval_days is not None
            and review_interval_days != article.review_interval_days
        ):
            article.review_interval_days = review_interval_days
            changes.append(f"every {review_interval_days} days")
            if next_review_at is None:
                next_review_at = moment + timedelta(days=review_interval_days)
        if next_review_at is not None and next_review_at != article.next_review_at:
            article.next_review_at = next_review_at
            changes.append(f"next review {next_review_at:%d %b %Y}")
        if changes:
            detail = "; ".join(changes)
            record_event(session, article.entry, actor, "review schedule", detail, moment)
    return article


# -- candidates for promotion ----------------------------------------------------------


@dataclass
class Candidate:
    problem: Entry
    reuses: int
    helpful: int

    @property
    def evidence(self) -> int:
        return self.reuses * 2 + self.helpful


def promotion_candidates(
    session: Session, visibility: Visibility, limit: int = 20
) -> list[Candidate]:
    """Solved cases that others reused or found helpful and that no article covers yet."""
    covered = set(session.scalars(select(ArticleSource.source_id)))
    solved = list(
        session.scalars(
            select(Entry).where(
                Entry.kind == EntryKind.PROBLEM,
                Entry.status.in_([EntryStatus.SOLVED, EntryStatus.CLOSED]),
                visibility.allows(),
            )
        )
    )
    solutions: dict[int, list[int]] = {}
    for solution_id, problem_id in session.execute(
        select(Entry.id, Entry.solves_id).where(Entry.solves_id.in_([p.id for p in solved]))
    ):
        if problem_id is not None:
            solutions.setdefault(problem_id, []).append(solution_id)
    ids = [p.id for p in solved] + [s for group in solutions.values() for s in group]
    counts = feedback_counts(session, ids) if ids else {}
    candidates = []
    for problem in solved:
        family = [problem.id, *solutions.get(problem.id, [])]
        if any(entry_id in covered for entry_id in family):
            continue
        reuses = sum(counts[i]["reuse"] for i in family)
        helpful = sum(counts[i]["helpful"] for i in family)
        if reuses or helpful:
            candidates.append(Candidate(problem, reuses, helpful))
    return sorted(candidates, key=lambda c: (-c.evidence, c.problem.external_id))[:limit]


def near_duplicate_solutions(
    session: Session,
    visibility: Visibility,
    min_similarity: float = 0.9,
    limit: int = 20,
    max_solutions: int = 5000,
) -> list[tuple[Entry, Entry, float]]:
    """Pairs of solutions (or practices) that say nearly the same thing: merge candidates.
    Compares the first passage of each, newest `max_solutions` entries."""
    rows = session.execute(
        select(Entry.id, Passage.vector)
        .join(Passage, Passage.entry_id == Entry.id)
        .where(
            Entry.kind.in_([EntryKind.SOLUTION, EntryKind.PRACTICE]),
            Entry.status != EntryStatus.ARCHIVED,
            Passage.passage_no == 0,
            visibility.allows(),
        )
        .order_by(Entry.created_at.desc())
        .limit(max_solutions)
    ).all()
    if len(rows) < 2:
        return []
    ids = [row[0] for row in rows]
    vectors = np.vstack([np.frombuffer(row[1], dtype=np.float32) for row in rows])
    similarity = vectors @ vectors.T
    upper = np.triu(similarity, k=1)
    first, second = np.nonzero(upper >= min_similarity)
    order = np.argsort(-upper[first, second])[:limit]
    entries = {e.id: e for e in session.scalars(select(Entry).where(Entry.id.in_(ids)))}
    return [
        (
            entries[ids[first[i]]],
            entries[ids[second[i]]],
            round(float(upper[first[i], second[i]]), 3),
        )
        for i in order
    ]


def repertoire(
    session: Session, visibility: Visibility, include_archived: bool = False
) -> list[Article]:
    query = (
        select(Article)
        .join(Entry, Entry.id == Article.entry_id)
        .where(visibility.allows())
        .order_by(Entry.title)
    )
    if not include_archived:
        query = query.where(Entry.status != EntryStatus.ARCHIVED)
    return list(session.scalars(query))
