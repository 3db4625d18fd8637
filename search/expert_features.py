"""Features of (problem, person) pairs for learned routing, as of the problem's date.

`History` holds what the knowledge base knows about who solved what: every visible
problem, solution and practice with its author, date, tags and acceptance, the routings
(asked, taken, declined, passed) and the reuse and helpful marks. `build_pool` gathers,
for one problem, the people worth ranking (the candidate pool) and their features,
each computed only from what existed strictly *before* the problem's moment: a
solution, a routing or a mark dated at or after it is never seen, so the same code
serves training (replaying past problems) and suggesting (now).

The pool: the people of the similar cases (dense and keyword, separately), the people
who solved problems in the problem's tags, and the most active solvers (all time and
the last 90 days), so it never misses someone popularity would find.

One file, over 300 lines: the pool and every feature read the same `History` under the
same rule (nothing at or after the problem's moment), which is easier to check in one place.
"""

import bisect
import math
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import (
    HIDDEN_STATUSES,
    Entry,
    EntryKind,
    Feedback,
    Person,
    Routing,
    RoutingState,
)
from search.engine import SearchEngine
from search.experts import ExpertScoring

# The feature vector, in this order. Counts enter as log(1 + n).
FEATURES = (
    "dense_best",  # best cosine similarity of a similar case the person solved
    "dense_votes",  # sum over the similar cases they solved of cosine^3 (kb's formula)
    "keyword_best",  # best BM25 score of a case they solved, over the query's best
    "keyword_votes",  # BM25 similar-case voting: sum of those relative scores
    "accepted_similar",  # similar cases where theirs is the accepted solution
    "solved_all",  # solutions before the problem's date
    "solved_90d",
    "solved_30d",
    "accepted_all",
    "accepted_rate",  # (accepted + 1) / (solutions + 2)
    "days_since_last",  # log(1 + days) since their last solution; 0 solutions: 10 years
    "tag_solved",  # solutions to problems sharing a tag with this one
    "tag_solved_90d",
    "tag_share",  # tag_solved / solutions
    "declared",  # words and tags of the problem found in their declared expertise
    "open_load",  # problems routed to them, not yet answered, declined or passed
    "took_rate",  # (taken + 1) / (routed + 2), over routings before the date
    "marks",  # reuse and helpful marks on their solutions
    "formula",  # kb's hand formula over the similar cases: log(1 + 100 x score)
    # Within the pool, as a share of the pool's highest value (so that a small, young
    # community and a large, old one give the same scale):
    "solved_all_rel",
    "solved_90d_rel",
    "solved_30d_rel",
    "tag_solved_rel",
    "formula_rel",
)
RELATIVE = ("solved_all", "solved_90d", "solved_30d", "tag_solved", "formula")

# The features the stored model uses (bench/stackexchange_routing.py and BENCHMARKS.md
# "Learned routing" say how they were chosen, once for every knowledge base): recent
# activity, similar-case evidence (the formula and BM25 voting) and tag fit.
MODEL_FEATURES = (
    "solved_30d",
    "solved_90d",
    "formula",
    "keyword_votes",
    "tag_solved",
    "solved_30d_rel",
    "solved_90d_rel",
    "tag_solved_rel",
    "formula_rel",
)

POOL_CASES = 50  # similar cases per retriever whose people join the pool
POOL_TAG_PEOPLE = 20  # best solvers in the problem's tags
POOL_ACTIVE = 20  # most active solvers, all time and last 90 days (each)
SEARCH_DEPTH = 200  # entries asked of each retriever (later ones are dropped)
NEVER_DAYS = 3650.0
WORD = re.compile(r"[a-z0-9][a-z0-9+#.-]*[a-z0-9+#]|[a-z0-9]")
STOP = frozenset(
    "a an and are as at be but by for from has have how i if in is it my not of on or "
    "so that the this to was what when where which who why will with you your can do "
    "does any there their they we our".split()
)


@dataclass(frozen=True)
class Post:
    entry_id: int
    external_id: str
    kind: str
    author: str  # handle
    created_at: datetime
    tags: tuple[str, ...]
    solves: int | None  # the problem a solution answers (entry id)
    accepted: bool


@dataclass
class PersonInfo:
    handle: str
    name: str
    expertise_words: frozenset[str]


@dataclass(frozen=True)
class Solved:
    """One solution by one person, for the activity and tag features."""

    created_at: datetime
    problem_id: int
    accepted: bool


@dataclass
class History:
    posts: dict[int, Post]
    people: dict[str, PersonInfo]
    # per person: their solutions in date order, and the dates alone (for bisect)
    solved: dict[str, list[Solved]]
    solved_dates: dict[str, list[datetime]]
    accepted_dates: dict[str, list[datetime]]
    # per (person, tag): dates of their solutions to problems with that tag
    tag_dates: dict[tuple[str, str], list[datetime]]
    # per tag: the people who solved problems with it
    tag_people: dict[str, set[str]]
    # per problem: its solutions
    solutions_of: dict[int, list[Post]]
    # per person: (created_at, updated_at, final state) of routings to them
    routings: dict[str, list[tuple[datetime, datetime, str]]]
    # per person: dates of reuse/helpful marks on their solutions and practices
    mark_dates: dict[str, list[datetime]]
    # all solution dates with their author, in date order (for the most active solvers)
    all_solutions: list[tuple[datetime, str]]
    # the dates of every entry, in order: the knowledge base's own clock
    post_dates: list[datetime] = field(default_factory=list)
    # (start, end, n) over all_solutions -> the n most active solvers (suggesting asks
    # the same windows again and again until a solution is added or ages out)
    most_active_cache: dict[tuple[int, int, int], list[str]] = field(default_factory=dict)

    def newest_before(self, moment: datetime) -> datetime | None:
        """The date of the newest entry before the moment (never a later one)."""
        position = bisect.bisect_left(self.post_dates, moment)
        return self.post_dates[position - 1] if position else None

    @property
    def solved_problems(self) -> int:
        """Problems with at least one solution: the history a model can learn from."""
        return len(self.solutions_of)

    def case_of(self, entry_id: int) -> Post | None:
        """The case an entry stands for: a solution stands for its problem."""
        post = self.posts.get(entry_id)
        if post is None:
            return None
        if post.kind == EntryKind.SOLUTION and post.solves is not None:
            return self.posts.get(post.solves)
        return post


def words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOP and len(w) > 2}


def load_history(session: Session) -> History:
    """Everything learned routing needs, read once (a few queries, no per-row lookups)."""
    people = {
        p.handle: PersonInfo(p.handle, p.name, frozenset(words(p.expertise or "")))
        for p in session.scalars(select(Person))
    }
    handles = {p.id: p.handle for p in session.scalars(select(Person))}
    rows = session.execute(
        select(
            Entry.id,
            Entry.external_id,
            Entry.kind,
            Entry.author_id,
            Entry.created_at,
            Entry.tags,
            Entry.solves_id,
            Entry.accepted,
        ).where(Entry.status.not_in(HIDDEN_STATUSES))
    )
    posts = {
        row.id: Post(
            row.id,
            row.external_id,
            row.kind,
            handles.get(row.author_id, ""),
            row.created_at,
            tuple(row.tags or ()),
            row.solves_id,
            bool(row.accepted),
        )
        for row in rows
    }
    solved: dict[str, list[Solved]] = defaultdict(list)
    tag_dates: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    solutions_of: dict[int, list[Post]] = defaultdict(list)
    all_solutions: list[tuple[datetime, str]] = []
    for post in sorted(posts.values(), key=lambda p: p.created_at):
        if post.kind != EntryKind.SOLUTION or post.solves not in posts:
            continue
        assert post.solves is not None
        problem = posts[post.solves]
        solutions_of[problem.entry_id].append(post)
        solved[post.author].append(Solved(post.created_at, problem.entry_id, post.accepted))
        all_solutions.append((post.created_at, post.author))
        for tag in problem.tags:
            tag_dates[(post.author, tag)].append(post.created_at)
    routings: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for routing_row in session.execute(
        select(Routing.person_id, Routing.created_at, Routing.updated_at, Routing.state)
    ):
        handle = handles.get(routing_row.person_id)
        if handle:
            routings[handle].append(
                (routing_row.created_at, routing_row.updated_at, routing_row.state)
            )
    mark_dates: dict[str, list[datetime]] = defaultdict(list)
    for entry_id, kind, created_at in session.execute(
        select(Feedback.entry_id, Feedback.kind, Feedback.created_at)
    ):
        marked = posts.get(entry_id)
        if marked is not None and kind in ("reuse", "helpful"):
            mark_dates[marked.author].append(created_at)
    for dates in mark_dates.values():
        dates.sort()
    return History(
        posts=posts,
        people=people,
        solved=dict(solved),
        solved_dates={h: [s.created_at for s in items] for h, items in solved.items()},
        accepted_dates={
            h: [s.created_at for s in items if s.accepted] for h, items in solved.items()
        },
        tag_dates=dict(tag_dates),
        tag_people=_people_per_tag(tag_dates),
        solutions_of=dict(solutions_of),
        routings=dict(routings),
        mark_dates=dict(mark_dates),
        all_solutions=all_solutions,
        post_dates=sorted(post.created_at for post in posts.values()),
    )


def _people_per_tag(tag_dates: dict[tuple[str, str], list[datetime]]) -> dict[str, set[str]]:
    people: dict[str, set[str]] = defaultdict(set)
    for person, tag in tag_dates:
        people[tag].add(person)
    return dict(people)


@dataclass
class CaseEvidence:
    """A similar past case, as the pool saw it, for the explanations."""

    case_id: str
    entry_id: int
    dense: float  # best cosine of its entries (0 if found by keywords only)
    keyword: float  # best BM25 of its entries over the query's best (0 if none)


@dataclass
class Candidate:
    person: str
    features: dict[str, float]
    # the similar cases they solved, and how: (case, accepted?)
    cases: list[tuple[CaseEvidence, bool]] = field(default_factory=list)
    # the tag they solved most in (tag, solutions in the last 90 days, all time)
    best_tag: tuple[str, int, int] | None = None
    solved_30d: int = 0
    declared: list[str] = field(default_factory=list)
    # per similar case they solved (entry id): the id of their solution
    solutions: dict[int, str] = field(default_factory=dict)


@dataclass
class ProblemQuery:
    text: str
    moment: datetime
    tags: tuple[str, ...] = ()
    asker: str | None = None
    exclude_problem: int | None = None  # the problem itself, when replaying history


def similar_cases(
    engine: SearchEngine, history: History, query: ProblemQuery
) -> dict[int, CaseEvidence]:
    """Cases found by each retriever, asked before the query's moment, per problem id."""
    dense, _ = engine.dense_candidates(query.text, SEARCH_DEPTH)
    keyword = engine.keyword_candidates(query.text, SEARCH_DEPTH)
    cases: dict[int, CaseEvidence] = {}
    for ranking, side in ((dense, "dense"), (keyword, "keyword")):
        kept = 0
        top = 0.0
        for entry_id, score in ranking:
            post = history.posts.get(entry_id)
            case = history.case_of(entry_id)
            if post is None or case is None:
                continue
            if post.created_at >= query.moment or case.created_at >= query.moment:
                continue
            if case.entry_id == query.exclude_problem:
                continue
            evidence = cases.get(case.entry_id)
            if evidence is None:
                if kept >= POOL_CASES:
                    continue
                evidence = CaseEvidence(case.external_id, case.entry_id, 0.0, 0.0)
                cases[case.entry_id] = evidence
            if side == "dense":
                if evidence.dense == 0.0:
                    kept += 1
                evidence.dense = max(evidence.dense, float(score))
            else:
                top = top or float(score)
                if evidence.keyword == 0.0:
                    kept += 1
                evidence.keyword = max(evidence.keyword, float(score) / top if top > 0 else 0.0)
    return cases


def _count(dates: list[datetime] | None, start: datetime | None, end: datetime) -> int:
    if not dates:
        return 0
    right = bisect.bisect_left(dates, end)
    left = bisect.bisect_left(dates, start) if start is not None else 0
    return max(right - left, 0)


def _most_active(history: History, moment: datetime, since: datetime | None, n: int) -> list[str]:
    end = bisect.bisect_left(history.all_solutions, (moment, ""))
    start = bisect.bisect_left(history.all_solutions, (since, "")) if since else 0
    key = (start, end, n)
    found = history.most_active_cache.get(key)
    if found is None:
        counts = Counter(author for _, author in history.all_solutions[start:end])
        found = [person for person, _ in counts.most_common(n)]
        if len(history.most_active_cache) > 64:  # replaying: every problem has its own
            history.most_active_cache.clear()
        history.most_active_cache[key] = found
    return found


def build_pool(
    engine: SearchEngine,
    history: History,
    query: ProblemQuery,
    *,
    load: dict[str, int] | None = None,
    exclude: Collection[str] = (),
) -> list[Candidate]:
    """The candidate pool for one problem, each person with their features as of its moment.

    load: open routed problems per person *now*; when None (replaying history), the
    load is rebuilt from the routings as of the moment.
    """
    moment = query.moment
    # Recent activity is counted back from the problem's moment or, if the knowledge base
    # has seen nothing since some earlier date, from that date: "active lately" means
    # lately in what kb knows (a live knowledge base's newest entry is about now).
    newest = history.newest_before(moment)
    clock = min(moment, newest + timedelta(seconds=1)) if newest else moment
    skipped = set(exclude)
    if query.asker:
        skipped.add(query.asker)
    cases = similar_cases(engine, history, query)
    per_person: dict[str, list[tuple[CaseEvidence, bool]]] = defaultdict(list)
    written: dict[tuple[str, int], str] = {}  # (person, case) -> their solution's id
    formula: dict[str, float] = defaultdict(float)
    for evidence in cases.values():
        strongest: dict[str, Post] = {}
        for solution in history.solutions_of.get(evidence.entry_id, []):
            if solution.created_at >= moment:
                continue
            current = strongest.get(solution.author)
            if current is None or (solution.accepted and not current.accepted):
                strongest[solution.author] = solution
        for person, solution in strongest.items():
            per_person[person].append((evidence, solution.accepted))
            written[(person, evidence.entry_id)] = solution.external_id
            formula[person] += _formula_evidence(evidence, solution, clock)
    # Solvers in the problem's tags, best first.
    tag_counts: Counter[str] = Counter()
    if query.tags:
        for tag in set(query.tags):
            for person in history.tag_people.get(tag, ()):
                tag_counts[person] += _count(history.tag_dates[(person, tag)], None, moment)
    pool: list[str] = list(per_person)
    pool += [person for person, count in tag_counts.most_common(POOL_TAG_PEOPLE) if count]
    pool += _most_active(history, moment, None, POOL_ACTIVE)
    pool += _most_active(history, moment, clock - timedelta(days=90), POOL_ACTIVE)
    query_words = words(query.text) | {t.lower() for t in query.tags}
    candidates = []
    for person in dict.fromkeys(pool):
        if person in skipped or not person or person not in history.people:
            continue
        candidates.append(
            _candidate(history, query, clock, person, per_person.get(person, []), query_words, load)
        )
        candidates[-1].features["formula"] = math.log1p(100 * formula.get(person, 0.0))
        candidates[-1].solutions = {
            case.entry_id: written[(person, case.entry_id)] for case, _ in candidates[-1].cases
        }
    for name in RELATIVE:
        top = max((math.expm1(c.features[name]) for c in candidates), default=0.0)
        for candidate in candidates:
            value = math.expm1(candidate.features[name])
            candidate.features[f"{name}_rel"] = value / top if top > 0 else 0.0
    return candidates


def _formula_evidence(evidence: CaseEvidence, solution: Post, clock: datetime) -> float:
    """kb's hand formula (search.experts) for one case: cosine^3 x role x recency."""
    scoring = ExpertScoring()
    cosine = evidence.dense or scoring.keyword_only_similarity
    role = scoring.accepted_solution_weight if solution.accepted else scoring.solution_weight
    age_days = max((clock - solution.created_at).total_seconds() / 86_400, 0.0)
    half_life = scoring.half_life_days or math.inf
    return float(cosine**scoring.similarity_power * role * 0.5 ** (age_days / half_life))


def _candidate(
    history: History,
    query: ProblemQuery,
    clock: datetime,
    person: str,
    solved_cases: list[tuple[CaseEvidence, bool]],
    query_words: set[str],
    load: dict[str, int] | None,
) -> Candidate:
    moment = query.moment
    dates = history.solved_dates.get(person, [])
    solved_all = _count(dates, None, moment)
    solved_90 = _count(dates, clock - timedelta(days=90), moment)
    solved_30 = _count(dates, clock - timedelta(days=30), moment)
    accepted = _count(history.accepted_dates.get(person), None, moment)
    last = dates[bisect.bisect_left(dates, moment) - 1] if solved_all else None
    days_since = (clock - last).total_seconds() / 86_400 if last else NEVER_DAYS
    best_tag: tuple[str, int, int] | None = None
    tag_all = tag_90 = 0
    for tag in query.tags:
        tag_list = history.tag_dates.get((person, tag))
        count_all = _count(tag_list, None, moment)
        count_90 = _count(tag_list, clock - timedelta(days=90), moment)
        tag_all += count_all
        tag_90 += count_90
        if count_all and (best_tag is None or (count_90, count_all) > best_tag[1:]):
            best_tag = (tag, count_90, count_all)
    info = history.people[person]
    declared = sorted(query_words & info.expertise_words)
    routed = [r for r in history.routings.get(person, []) if r[0] < moment]
    settled = [r for r in routed if r[1] < moment]
    took = sum(1 for r in settled if r[2] in (RoutingState.TAKEN, RoutingState.CLOSED))
    if load is not None:
        open_load = load.get(person, 0)
    else:
        open_load = sum(
            1 for r in routed if r[1] >= moment or r[2] in (RoutingState.ASKED, RoutingState.TAKEN)
        )
    features = {
        "dense_best": max((c.dense for c, _ in solved_cases), default=0.0),
        "dense_votes": sum(c.dense**3 for c, _ in solved_cases),
        "keyword_best": max((c.keyword for c, _ in solved_cases), default=0.0),
        "keyword_votes": sum(c.keyword for c, _ in solved_cases),
        "accepted_similar": math.log1p(sum(1 for _, accepted in solved_cases if accepted)),
        "solved_all": math.log1p(solved_all),
        "solved_90d": math.log1p(solved_90),
        "solved_30d": math.log1p(solved_30),
        "accepted_all": math.log1p(accepted),
        "accepted_rate": (accepted + 1) / (solved_all + 2),
        "days_since_last": math.log1p(max(days_since, 0.0)),
        "tag_solved": math.log1p(tag_all),
        "tag_solved_90d": math.log1p(tag_90),
        "tag_share": tag_all / (solved_all + 1),
        "declared": math.log1p(len(declared)),
        "open_load": math.log1p(open_load),
        "took_rate": (took + 1) / (len(settled) + 2),
        "marks": math.log1p(_count(history.mark_dates.get(person), None, moment)),
    }
    return Candidate(
        person,
        features,
        cases=sorted(solved_cases, key=lambda item: -max(item[0].dense, item[0].keyword)),
        best_tag=best_tag,
        solved_30d=solved_30,
        declared=declared,
    )


def vector(candidate: Candidate, names: Sequence[str] = FEATURES) -> list[float]:
    return [candidate.features[name] for name in names]


MAX_REPLAY = 5000  # newest solved problems replayed for training (bounds `kb tune routing`)


def replay_problems(history: History, limit: int | None = None) -> list[Post]:
    """Past problems that got at least one solution, oldest first (the training set):
    the newest `limit` (default MAX_REPLAY) of them."""
    problems = [history.posts[pid] for pid in history.solutions_of]
    return sorted(problems, key=lambda post: post.created_at)[-(limit or MAX_REPLAY) :]
