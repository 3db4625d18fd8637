"""Knowledge gaps: failed searches and unanswered problems, grouped by meaning.

Texts are embedded with the search model and grouped by average-linkage clustering
with a similarity threshold: two groups merge only while the mean similarity between
their members stays above it, which keeps groups tight (no chaining through one
borderline text) and gives the same groups for the same input. Each group is labelled
with its characteristic content words: frequent in the group, rare elsewhere.

What counts (docs/console.md): a search that led to an answer someone marked reused or
helpful is no failure (kb.search_log); noise is left out (search.gap_words); a group's
size is the number of distinct people; a failed search belongs to the community it was
searched in, else to the community of the entries it came nearest; a group answered
since (a new entry similar enough, or an assigned gap closed) leaves the list.
"""

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from kb.errors import InvalidContribution
from kb.models import (
    HIDDEN_STATUSES,
    Community,
    Entry,
    EntryKind,
    EntryStatus,
    Gap,
    GapState,
    SearchLog,
    utcnow,
)
from kb.search_log import failed_searches
from kb.settings import Settings
from kb.visibility import Visibility
from search.engine import SearchEngine
from search.gap_words import content_words, fold, is_compound, is_noise, model_vocabulary

TREND_WEEKS = 8
LABEL_TERMS = 3
NEAREST_ENTRIES = 5  # the entries a failed search is nearest to decide its community


@dataclass
class GapItem:
    """One failed search or Ask draft, or one unanswered problem."""

    text: str
    at: datetime
    source: str  # "search", "ask" or "problem"
    problem_id: str | None = None
    visitor: str = ""  # who, as the search log knows them: one person counts once
    community: str | None = None  # the community it is attributed to
    log: SearchLog | None = None


@dataclass(frozen=True)
class GapAnswer:
    """What answers a gap since its searches failed: an entry, or an assigned gap's
    answer (`by` says who wrote it)."""

    external_id: str
    title: str
    by: str


@dataclass
class GapCluster:
    items: list[GapItem]
    terms: list[str]
    centroid: np.ndarray
    trend: list[int] = field(default_factory=list)  # per week, oldest first
    central: str = ""  # the text nearest the group's mean
    answered_by: GapAnswer | None = None
    assigned: Gap | None = None  # an open assigned gap it matches

    @property
    def people(self) -> int:
        """Distinct people: one person repeating a search counts once."""
        return len({item.visitor or f"row-{id(item)}" for item in self.items})

    @property
    def searches(self) -> int:
        return sum(1 for item in self.items if item.source != "problem")

    @property
    def problems(self) -> int:
        return sum(1 for item in self.items if item.source == "problem")

    @property
    def size(self) -> int:
        return self.people

    @property
    def community(self) -> str | None:
        """The community most of its items are attributed to."""
        counts = Counter(item.community for item in self.items if item.community)
        return counts.most_common(1)[0][0] if counts else None

    @property
    def label(self) -> str:
        return ", ".join(self.terms) or (self.central or self.items[0].text)[:60]

    @property
    def examples(self) -> list[str]:
        """Distinct texts, the most central first, then the latest."""
        seen: list[str] = [self.central] if self.central else []
        for item in sorted(self.items, key=lambda i: i.at, reverse=True):
            if item.text not in seen:
                seen.append(item.text)
        return seen[:5]

    @property
    def latest(self) -> datetime:
        return max(item.at for item in self.items)


@dataclass
class GapReport:
    """The gaps, and the failed searches behind them (noise left out)."""

    clusters: list[GapCluster]
    failed: list[GapItem]
    noise: int  # failed searches left out as noise (search.gap_words)


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


def characteristic_terms(
    group_texts: list[str], all_texts: list[str], count: int = LABEL_TERMS
) -> list[str]:
    """The group's most distinctive content words (search.gap_words: no stop words,
    filler or numbers), frequent in the group and rare in the rest (tf × idf), each in
    the form the group uses most ("battery" and "batteries" are one word)."""
    documents = len(all_texts)
    frequency = Counter(fold(w) for text in all_texts for w in set(content_words(text)))
    in_group = Counter(fold(w) for text in group_texts for w in set(content_words(text)))
    surface: dict[str, Counter[str]] = {}
    for text in group_texts:
        for word in content_words(text):
            surface.setdefault(fold(word), Counter())[word] += 1
    scored = sorted(
        ((in_group[w] * math.log(1 + documents / frequency[w]), w) for w in in_group),
        key=lambda pair: (-pair[0], pair[1]),
    )
    # Terms shared by several members first; single mentions only fill up the label.
    shared = [w for _, w in scored if in_group[w] >= 2]
    single = [w for _, w in scored if in_group[w] < 2]
    chosen = (shared + single)[:count] if len(shared) < 2 else shared[:count]
    return [surface[w].most_common(1)[0][0] for w in chosen]


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
    engine: SearchEngine,
    items: list[GapItem],
    min_similarity: float,
    now: datetime,
    vectors: np.ndarray | None = None,
) -> list[GapCluster]:
    """Groups of items by meaning, the most people first. `vectors`: the items' texts
    embedded already (one row per item), else they are embedded here."""
    if not items:
        return []
    if vectors is None:
        vectors = engine.embedder.encode([item.text for item in items])
    all_texts = [item.text for item in items]
    clusters = []
    for group in average_linkage(vectors, min_similarity):
        group_items = [items[i] for i in group]
        centroid = vectors[group].mean(axis=0)
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-9)
        central = group_items[int(np.argmax(vectors[group] @ centroid))].text
        clusters.append(
            GapCluster(
                items=group_items,
                terms=characteristic_terms([i.text for i in group_items], all_texts),
                centroid=centroid.astype(np.float32),
                trend=weekly_trend([i.at for i in group_items], now),
                central=central,
            )
        )
    return sorted(clusters, key=lambda c: (-c.people, -len(c.items)))


def vocabulary_check(engine: SearchEngine) -> Callable[[str], bool]:
    """Whether a word is one of the model's words or found in the keyword index."""
    vocabulary = model_vocabulary(engine.embedder.model_path)
    found: dict[str, bool] = {}

    def known(word: str) -> bool:
        if word in vocabulary or is_compound(word, vocabulary):
            return True
        if word not in found:
            found[word] = bool(engine.keyword_candidates(word, 1))
        return found[word]

    return known


def nearest_communities(
    engine: SearchEngine, session: Session, vectors: np.ndarray
) -> list[str | None]:
    """Per vector: the community most of its nearest entries belong to (ties: the
    nearer), or None when the index is empty."""
    if len(vectors) == 0:
        return []
    matches = engine.live_index.search(vectors, NEAREST_ENTRIES * 3)
    ids = {int(i) for row in range(len(vectors)) for i in matches.entry_ids(row) if i >= 0}
    rows = session.execute(
        select(Entry.id, Community.slug)
        .join(Community, Community.id == Entry.community_id)
        .where(Entry.id.in_(sorted(ids)))
    ).all()
    slug_of: dict[int, str] = {entry_id: slug for entry_id, slug in rows}
    communities: list[str | None] = []
    for row in range(len(vectors)):
        nearest: list[str] = []
        for entry_id in matches.entry_ids(row).tolist():
            slug = slug_of.get(int(entry_id))
            if slug is not None and len(nearest) < NEAREST_ENTRIES:
                nearest.append(slug)
        counts = Counter(nearest)
        best = max(counts.values(), default=0)
        communities.append(next((s for s in nearest if counts[s] == best), None))
    return communities


def failed_search_items(
    engine: SearchEngine,
    session: Session,
    settings: Settings,
    *,
    since: datetime,
    community: str | None,
    now: datetime,
    visibility: Visibility | None,
) -> tuple[list[GapItem], np.ndarray, int]:
    """The failed searches that are needs (noise left out), each attributed to a
    community: the one it was searched in, else the one the entries it was nearest
    belong to; with their vectors and how many were noise."""
    rows = failed_searches(
        session, settings.failed_search_similarity, since, None, now=now, visibility=visibility
    )
    known = vocabulary_check(engine)
    needs = [row for row in rows if not is_noise(row.query, known)]
    vectors = engine.embedder.encode([row.query for row in needs])
    near = nearest_communities(engine, session, vectors)
    hidden = hidden_slugs(session, visibility)
    items, kept = [], []
    for index, (row, nearest) in enumerate(zip(needs, near, strict=True)):
        attributed = row.community or nearest
        if attributed in hidden or (community and attributed != community):
            continue
        items.append(GapItem(row.query, row.at, row.kind, None, row.visitor, attributed, row))
        kept.append(index)
    return items, vectors[kept], len(rows) - len(needs)


def hidden_slugs(session: Session, visibility: Visibility | None) -> set[str]:
    if visibility is None or not visibility.hidden_community_ids:
        return set()
    ids = sorted(visibility.hidden_community_ids)
    return set(session.scalars(select(Community.slug).where(Community.id.in_(ids))))


def find_answers(
    engine: SearchEngine,
    session: Session,
    clusters: list[GapCluster],
    threshold: float,
    visibility: Visibility | None,
) -> None:
    """Mark the groups answered since their searches failed: an entry (not a problem,
    not a draft) posted after the group's latest item whose passage is similar enough
    to the group's mean, or an assigned gap of the same need closed since. A group
    that matches an open assigned gap says so."""
    if not clusters:
        return
    seen = visibility or Visibility.everything()
    centroids = np.vstack([cluster.centroid for cluster in clusters])
    matches = engine.live_index.search(centroids, 30)
    gaps = list(session.scalars(select(Gap).order_by(Gap.created_at.desc())))
    for row, cluster in enumerate(clusters):
        scores = dict[int, float]()
        for score, entry_id in zip(
            matches.scores[row].tolist(), matches.entry_ids(row).tolist(), strict=True
        ):
            if entry_id >= 0 and score >= threshold and entry_id not in scores:
                scores[int(entry_id)] = float(score)
        if scores:
            answer = session.scalars(
                select(Entry).where(
                    Entry.id.in_(sorted(scores)),
                    Entry.kind != EntryKind.PROBLEM,
                    Entry.status.not_in(HIDDEN_STATUSES),
                    Entry.created_at > cluster.latest,
                    seen.allows(),
                )
            ).all()
            if answer:
                best = max(answer, key=lambda entry: scores[entry.id])
                cluster.answered_by = GapAnswer(best.external_id, best.title, best.author.name)
                continue
        for gap in gaps:
            centroid = np.frombuffer(gap.centroid, dtype=np.float32)
            if centroid.shape != cluster.centroid.shape:
                continue
            if float(centroid @ cluster.centroid) < engine.settings.gap_cluster_similarity:
                continue
            if gap.state == GapState.CLOSED:
                # Closed before some of these searches failed: its answer did not help them.
                closed_since = gap.closed_at is None or gap.closed_at > cluster.latest
                if closed_since and gap.answer is not None and seen.can_see(gap.answer):
                    answer_entry = gap.answer
                    cluster.answered_by = GapAnswer(
                        answer_entry.external_id, answer_entry.title, answer_entry.author.name
                    )
                    break
            elif cluster.assigned is None:
                cluster.assigned = gap


def gap_report(
    engine: SearchEngine,
    session: Session,
    settings: Settings,
    *,
    since: datetime,
    community: str | None = None,
    now: datetime | None = None,
    visibility: Visibility | None = None,
) -> GapReport:
    """Failed searches and unanswered problems since `since`, grouped by meaning; the
    groups answered since are marked (`answered_by`)."""
    moment = now or utcnow()
    items, vectors, noise = failed_search_items(
        engine,
        session,
        settings,
        since=since,
        community=community,
        now=moment,
        visibility=visibility,
    )
    problems = [
        GapItem(
            problem.title,
            problem.created_at,
            "problem",
            problem.external_id,
            f"person-{problem.author_id}",
            problem.community.slug,
        )
        for problem in unanswered_problems(session, since, community, visibility)
    ]
    if problems:
        vectors = np.vstack([vectors, engine.embedder.encode([p.text for p in problems])])
    clusters = cluster_items(
        engine, items + problems, settings.gap_cluster_similarity, moment, vectors
    )
    find_answers(engine, session, clusters, settings.failed_search_similarity, visibility)
    return GapReport(clusters, items, noise)


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
    """The groups still open: failed searches and unanswered problems since `since`,
    grouped by meaning, less the groups answered since."""
    report = gap_report(
        engine,
        session,
        settings,
        since=since,
        community=community,
        now=now,
        visibility=visibility,
    )
    return [cluster for cluster in report.clusters if cluster.answered_by is None]


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
