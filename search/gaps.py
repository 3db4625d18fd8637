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
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from kb.errors import InvalidContribution
from kb.models import (
    Community,
    Entry,
    EntryKind,
    EntryStatus,
    utcnow,
)
from kb.search_log import failed_searches
from kb.settings import Settings
from kb.visibility import Visibility
from search.engine import SearchEngine

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
    session: Session,
    since: datetime,
    community: str | None = None,
    visibility: Visibility | None = None,
) -> list[Entry]:
    solution = aliased(Entry)
    query = select(Entry).where(
        (visibility or Visibility.everything()).allows(),
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
    visibility: Visibility | None = None,
) -> list[GapCluster]:
    """Failed searches and unanswered problems since `since`, grouped by meaning."""
    moment = now or utcnow()
    items = [
        GapItem(entry.query, entry.at, entry.kind)
        for entry in failed_searches(
            session,
            settings.failed_search_similarity,
            since,
            community,
            now=moment,
            visibility=visibility,
        )
    ]
    items += [
        GapItem(problem.title, problem.created_at, "problem", problem.external_id)
        for problem in unanswered_problems(session, since, community, visibility)
    ]
    return cluster_items(engine, items, settings.gap_cluster_similarity, moment)


def gap_of_texts(engine: SearchEngine, texts: list[str], label: str) -> GapCluster:
    """A group the console showed, from its texts (as a facilitator assigns it): their
    mean vector is what later answers are matched against."""
    if not texts:
        raise InvalidContribution("this group has no texts")
    now = utcnow()
    items = [GapItem(text, now, "search") for text in texts]
    centroid = engine.embedder.encode(texts).mean(axis=0)
    centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-9)
    terms = [term.strip() for term in label.split(",") if term.strip()][:6]
    return GapCluster(items=items, terms=terms, centroid=centroid.astype(np.float32))
