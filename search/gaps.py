"""Knowledge gaps: failed searches and unanswered problems, grouped by meaning.

Texts are embedded with the search model and grouped by average-linkage clustering
with a similarity threshold: two groups merge only while the mean similarity between
their members stays above it, which keeps groups tight (no chaining through one
borderline text) and gives the same groups for the same input. Each group is labelled
with its characteristic terms: frequent in the group, rare elsewhere.
"""

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from kb.accounts import Role, has_role
from kb.contributions import InvalidContribution, NotAllowed
from kb.models import (
    Community,
    Entry,
    EntryKind,
    EntryStatus,
    Gap,
    GapState,
    Passage,
    Person,
    utcnow,
)
from kb.search_log import failed_searches
from kb.settings import Settings
from search.engine import SearchEngine

CONSOLE_ROLES = (Role.TUTOR, Role.COMMUNITY_LEADER, Role.KNOWLEDGE_MANAGER)
TREND_WEEKS = 8
STOPWORDS = set(
    """a an and are as at be but by can do does for from has have how i if in into is it
    its my no not of on or our so than that the their then there this to was we what
    when where which who why will with without you your after again all also any
    before being both did each get gets got just more most off once only other out
    over same some still such too very while keeps keep after""".split()
)
WORD = re.compile(r"[a-z0-9][a-z0-9\-_.]*[a-z0-9]|[a-z0-9]")


@dataclass
class GapItem:
    """One failed search or Ask draft, or one unanswered problem."""

    text: str
    at: datetime
    source: str  # "search", "ask" or "problem"
    problem_id: str | None = None


@dataclass
class GapCluster:
    items: list[GapItem]
    terms: list[str]
    centroid: np.ndarray
    trend: list[int] = field(default_factory=list)  # per week, oldest first

    @property
    def size(self) -> int:
        return len(self.items)

    @property
    def label(self) -> str:
        return ", ".join(self.terms) or self.items[0].text[:60]

    @property
    def examples(self) -> list[str]:
        seen: list[str] = []
        for item in sorted(self.items, key=lambda i: i.at, reverse=True):
            if item.text not in seen:
                seen.append(item.text)
        return seen[:5]


def average_linkage(vectors: np.ndarray, min_similarity: float) -> list[list[int]]:
    """Groups of row indices of L2-normalised vectors, largest first."""
    count = len(vectors)
    if count == 0:
        return []
    similarity = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(similarity, -np.inf)
    members: list[list[int]] = [[i] for i in range(count)]
    alive = np.ones(count, dtype=bool)
    while alive.sum() > 1:
        masked = np.where(alive[:, None] & alive[None, :], similarity, -np.inf)
        flat = int(np.argmax(masked))
        i, j = divmod(flat, count)
        if masked[i, j] < min_similarity:
            break
        size_i, size_j = len(members[i]), len(members[j])
        merged = (size_i * similarity[i] + size_j * similarity[j]) / (size_i + size_j)
        similarity[i, :] = merged
        similarity[:, i] = merged
        similarity[i, i] = -np.inf
        members[i] = members[i] + members[j]
        members[j] = []
        alive[j] = False
    groups = [sorted(group) for group in members if group]
    return sorted(groups, key=lambda group: (-len(group), group[0]))


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2]


def characteristic_terms(group_texts: list[str], all_texts: list[str], count: int = 4) -> list[str]:
    """Terms frequent in the group and rare in the rest (tf × idf over all texts)."""
    documents = len(all_texts)
    frequency = Counter(w for text in all_texts for w in set(words(text)))
    in_group = Counter(w for text in group_texts for w in set(words(text)))
    scored = sorted(
        ((in_group[w] * math.log(1 + documents / frequency[w]), w) for w in in_group),
        key=lambda pair: (-pair[0], pair[1]),
    )
    # Terms shared by several members first; single mentions only fill up the label.
    shared = [w for _, w in scored if in_group[w] >= 2]
    single = [w for _, w in scored if in_group[w] < 2]
    return (shared + single)[:count] if len(shared) < 2 else shared[:count]


def weekly_trend(dates: list[datetime], now: datetime, weeks: int = TREND_WEEKS) -> list[int]:
    counts = [0] * weeks
    for date in dates:
        age_weeks = int((now - date).total_seconds() // (7 * 86_400))
        if 0 <= age_weeks < weeks:
            counts[weeks - 1 - age_weeks] += 1
    return counts


def unanswered_problems(
    session: Session, since: datetime, community: str | None = None
) -> list[Entry]:
    solution = aliased(Entry)
    query = select(Entry).where(
        Entry.kind == EntryKind.PROBLEM,
        Entry.status == EntryStatus.OPEN,
        Entry.created_at >= since,
        ~exists().where(solution.solves_id == Entry.id),
    )
    if community:
        query = query.join(Community, Community.id == Entry.community_id).where(
            Community.slug == community
        )
    return list(session.scalars(query.order_by(Entry.created_at)))


def cluster_items(
    engine: SearchEngine, items: list[GapItem], min_similarity: float, now: datetime
) -> list[GapCluster]:
    if not items:
        return []
    vectors = engine.embedder.encode([item.text for item in items])
    all_texts = [item.text for item in items]
    clusters = []
    for group in average_linkage(vectors, min_similarity):
        group_items = [items[i] for i in group]
        centroid = vectors[group].mean(axis=0)
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-9)
        clusters.append(
            GapCluster(
                items=group_items,
                terms=characteristic_terms([i.text for i in group_items], all_texts),
                centroid=centroid.astype(np.float32),
                trend=weekly_trend([i.at for i in group_items], now),
            )
        )
    return clusters


def find_gaps(
    engine: SearchEngine,
    session: Session,
    settings: Settings,
    *,
    since: datetime,
    community: str | None = None,
    now: datetime | None = None,
) -> list[GapCluster]:
    """Failed searches and unanswered problems since `since`, grouped by meaning."""
    moment = now or utcnow()
    items = [
        GapItem(entry.query, entry.at, entry.kind)
        for entry in failed_searches(
            session, settings.failed_search_similarity, since, community, now=moment
        )
    ]
    items += [
        GapItem(problem.title, problem.created_at, "problem", problem.external_id)
        for problem in unanswered_problems(session, since, community)
    ]
    return cluster_items(engine, items, settings.gap_cluster_similarity, moment)


# -- acting on a gap -------------------------------------------------------------------


def may_use_console(person: Person | None) -> bool:
    return person is not None and has_role(person, *CONSOLE_ROLES)


def assign_gap(
    session: Session,
    actor: Person,
    cluster: GapCluster,
    assignee: Person,
    note: str = "",
    community: str | None = None,
) -> Gap:
    if not may_use_console(actor):
        raise NotAllowed("only tutors, community leaders, knowledge managers and admins")
    if not cluster.items:
        raise InvalidContribution("this group is empty")
    gap = Gap(
        label=cluster.label[:300],
        examples=cluster.examples,
        size=cluster.size,
        centroid=cluster.centroid.astype(np.float32).tobytes(),
        community=community,
        assigned_to_id=assignee.id,
        assigned_by_id=actor.id,
        note=" ".join(note.split())[:2000],
    )
    session.add(gap)
    session.flush()
    return gap


def open_gaps(session: Session) -> list[Gap]:
    return list(
        session.scalars(
            select(Gap).where(Gap.state == GapState.OPEN).order_by(Gap.created_at.desc())
        )
    )


def close_answered_gaps(
    session: Session, entry: Entry, vectors: np.ndarray, min_similarity: float
) -> list[Gap]:
    """A new solution or practice answers every open gap whose centroid it matches."""
    if entry.kind == EntryKind.PROBLEM or len(vectors) == 0:
        return []
    closed = []
    for gap in open_gaps(session):
        centroid = np.frombuffer(gap.centroid, dtype=np.float32)
        if centroid.shape[0] != vectors.shape[1]:
            continue
        if float(np.max(vectors @ centroid)) >= min_similarity:
            gap.state = GapState.CLOSED
            gap.answer_id = entry.id
            gap.closed_at = utcnow()
            closed.append(gap)
    return closed


def close_gaps_answered_by(session: Session, entry: Entry, min_similarity: float) -> list[Gap]:
    """Close the open gaps a new solution or practice answers, using its stored vectors."""
    rows = session.scalars(select(Passage.vector).where(Passage.entry_id == entry.id))
    vectors = [np.frombuffer(row, dtype=np.float32) for row in rows]
    if not vectors:
        return []
    return close_answered_gaps(session, entry, np.vstack(vectors), min_similarity)


def gaps_assigned_to(session: Session, person: Person) -> list[Gap]:
    return list(
        session.scalars(
            select(Gap)
            .where(Gap.assigned_to_id == person.id)
            .order_by(Gap.state.desc(), Gap.created_at.desc())
        )
    )


def unread_gaps(session: Session, person: Person) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Gap)
            .where(Gap.assigned_to_id == person.id, Gap.read_at.is_(None))
        )
        or 0
    )
