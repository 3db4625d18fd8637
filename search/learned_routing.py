"""Suggesting people with the learned model, training it, and the baselines it is measured
against (most solutions, BM25 similar-case voting).

The history a model learns from is read once per process and kept while the entries,
routings and marks are unchanged (`HistoryCache`), so a suggestion costs two
retrievals, a pool and a dot product.
"""

import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.models import Entry, Feedback, IndexState, Routing, utcnow
from kb.visibility import Visibility
from search.engine import SearchEngine
from search.expert_features import (
    Candidate,
    History,
    ProblemQuery,
    build_pool,
    load_history,
    replay_problems,
)
from search.expert_model import (
    MIN_SOLVED_PROBLEMS,
    Group,
    RoutingModel,
    explain,
    load_model,
    train,
    training_groups,
)
from search.experts import Expert, ExpertScoring, Reason, Role

LOAD_PENALTY = ExpertScoring().load_penalty
REFRESH_SECONDS = 60.0  # the history is re-read at least this often
STALE_GROWTH = 1.5  # a model is stale once the solved problems grew by half since training


class HistoryCache:
    """The history of one database, re-read when an entry, routing or mark is added or
    a vector changes (cheap checks on primary keys and the index generation), and at
    least every REFRESH_SECONDS for changes in place (an accepted solution)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._read_at = 0.0
        self._history: History | None = None

    def get(self, session: Session) -> History:
        key = (
            session.scalar(select(func.max(Entry.id))),
            session.scalar(select(IndexState.generation).where(IndexState.id == 1)),
            session.scalar(select(func.max(Routing.id))),
            session.scalar(select(func.max(Feedback.id))),
        )
        with self._lock:
            fresh = time.monotonic() - self._read_at < REFRESH_SECONDS
            if self._history is None or key != self._key or not fresh:
                self._history = load_history(session)
                self._key = key
                self._read_at = time.monotonic()
            return self._history


_caches: dict[str, HistoryCache] = {}
_models: dict[Path, tuple[float, RoutingModel | None]] = {}


def history_of(engine: SearchEngine | None, session: Session) -> History:
    """The history of the session's database (engine is accepted for symmetry only)."""
    cache = _caches.setdefault(str(session.get_bind().engine.url), HistoryCache())
    return cache.get(session)


def stored_model(home: Path) -> RoutingModel | None:
    """The model stored in KB_HOME, re-read when its file changes."""
    path = home / "routing-model.json"
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return None
    cached = _models.get(home)
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_model(home))
        _models[home] = cached
    return cached[1]


@dataclass
class RoutingStatus:
    """Which ranking kb uses and why, for `kb status` and `kb doctor`."""

    solved_problems: int
    model: RoutingModel | None
    learned: bool
    reason: str
    stale: bool = False


def routing_status(home: Path, session: Session) -> RoutingStatus:
    """Learned or formula ranking, and why; needs no index or model of embeddings."""
    history = history_of(None, session)
    model = stored_model(home)
    solved = history.solved_problems
    if solved < MIN_SOLVED_PROBLEMS:
        reason = (
            f"cold start: {solved} solved problems, fewer than {MIN_SOLVED_PROBLEMS}; "
            "people are ranked by the explained formula (similar cases, roles, recency)"
        )
        return RoutingStatus(solved, model, False, reason)
    if model is None:
        reason = (
            f"{solved} solved problems, no routing model yet: run `kb tune routing`; "
            "until then the explained formula ranks people"
        )
        return RoutingStatus(solved, None, False, reason)
    reason = (
        f"learned model trained {model.trained_at} on {model.trained_on} problems "
        f"(MRR {model.figures.get('MRR', 0):.3f} on its newest "
        f"{int(model.figures.get('held_out_problems', 0))}, most solutions "
        f"{model.figures.get('popularity_MRR', 0):.3f})"
    )
    stale = solved > STALE_GROWTH * max(model.solved_problems, 1)
    if stale:
        reason += (
            f"; {solved} solved problems now against {model.solved_problems} then: "
            "run `kb tune routing` again"
        )
    return RoutingStatus(solved, model, True, reason, stale)


def learned_model_for(engine: SearchEngine, session: Session) -> RoutingModel | None:
    """The model to rank with, or None for the formula (cold start or no model)."""
    status = routing_status(engine.settings.home, session)
    return status.model if status.learned else None


def problem_texts(session: Session, entry_ids: Collection[int], limit_chars: int) -> dict[int, str]:
    rows = session.execute(
        select(Entry.id, Entry.title, Entry.body).where(Entry.id.in_(list(entry_ids)))
    )
    return {row.id: f"{row.title}\n{row.body}"[:limit_chars] for row in rows}


def replay_groups(
    engine: SearchEngine,
    session: Session,
    history: History,
    on_progress: Callable[[], None] | None = None,
) -> list[Group]:
    """The training set: every solved past problem's pool as of its own date."""
    replayed = [problem.entry_id for problem in replay_problems(history)]
    texts = problem_texts(session, replayed, engine.settings.max_query_chars)

    def pool_for(problem_id: int) -> list[Candidate]:
        problem = history.posts[problem_id]
        query = ProblemQuery(
            texts[problem_id],
            problem.created_at,
            problem.tags,
            asker=problem.author,
            exclude_problem=problem_id,
        )
        return build_pool(engine, history, query)

    return training_groups(history, pool_for, on_progress)


def tune_routing(
    engine: SearchEngine,
    session: Session,
    on_progress: Callable[[], None] | None = None,
    now: datetime | None = None,
) -> RoutingModel:
    history = history_of(engine, session)
    groups = replay_groups(engine, session, history, on_progress)
    if len(groups) < 2:
        raise ValueError(
            f"too little history to learn from: {len(groups)} solved problems with a "
            "solver seen before"
        )
    model = train(history, groups, now=now)
    model.solved_problems = history.solved_problems
    return model


def learned_experts(
    engine: SearchEngine,
    session: Session,
    model: RoutingModel,
    query: ProblemQuery,
    *,
    limit: int = 5,
    load: Mapping[str, int] | None = None,
    exclude: Collection[str] = (),
    unavailable: Collection[str] = (),
    visibility: Visibility | None = None,
) -> list[Expert]:
    """People ranked by the learned model, each with the cases and reasons in words.
    A reason never names a case `visibility` hides (a members-only community's)."""
    visibility = visibility or Visibility.everything()
    history = history_of(engine, session)
    pool = build_pool(
        engine, history, query, load=dict(load or {}), exclude=set(exclude) | set(unavailable)
    )
    # Load balancing, as the formula does it: each open routed problem divides the
    # odds by (1 + LOAD_PENALTY), on top of what the model learned from `open_load`.
    scores = [
        score - math.log1p(LOAD_PENALTY * (load or {}).get(candidate.person, 0))
        for score, candidate in zip(model.scores(pool), pool, strict=True)
    ]
    order = sorted(range(len(pool)), key=lambda i: (-scores[i], pool[i].person))[:limit]
    chosen = [pool[i] for i in order]
    case_ids = {case.entry_id for c in chosen for case, _ in c.cases[:3]}
    titles = {
        row.id: row.title
        for row in session.execute(
            select(Entry.id, Entry.title).where(Entry.id.in_(case_ids), visibility.allows())
        )
    }
    experts = []
    for i in order:
        candidate = pool[i]
        info = history.people[candidate.person]
        reasons = [
            Reason(
                case_id=case.case_id,
                title=titles.get(case.entry_id, ""),
                role=Role.ACCEPTED_SOLUTION if accepted else Role.SOLUTION,
                entry_id=candidate.solutions.get(case.entry_id, case.case_id),
                similarity=round(max(case.dense, 0.0), 4),
                evidence=max(case.dense, case.keyword),
            )
            for case, accepted in candidate.cases[:3]
            if case.entry_id in titles
        ]
        experts.append(
            Expert(
                person=candidate.person,
                name=info.name,
                score=scores[i],
                open_routed=(load or {}).get(candidate.person, 0),
                reasons=reasons,
                explanations=explain(model, candidate),
            )
        )
    return experts


def now_query(
    text: str, tags: Collection[str] = (), moment: datetime | None = None, asker: str | None = None
) -> ProblemQuery:
    return ProblemQuery(text, moment or utcnow(), tuple(tags), asker=asker)


def popularity_ranking(
    history: History, moment: datetime, exclude: Collection[str] = ()
) -> list[str]:
    """Most solutions before the moment first (the "ask whoever answered most" baseline)."""
    import bisect
    from collections import Counter

    end = bisect.bisect_left(history.all_solutions, (moment, ""))
    counts = Counter(author for _, author in history.all_solutions[:end])
    return [p for p, _ in sorted(counts.items(), key=lambda i: (-i[1], i[0])) if p not in exclude]


def keyword_voting_ranking(
    engine: SearchEngine, history: History, query: ProblemQuery
) -> list[str]:
    """BM25 similar-case voting: each solver of one of the 50 best keyword cases gets
    the case's BM25 score (over the query's best); most solutions break ties."""
    from search.expert_features import POOL_CASES

    found = engine.keyword_candidates(query.text, POOL_CASES * 4)
    votes: dict[str, float] = {}
    seen: set[int] = set()
    top = 0.0
    for entry_id, score in found:
        post = history.posts.get(entry_id)
        case = history.case_of(entry_id)
        if post is None or case is None or case.entry_id in seen:
            continue
        if post.created_at >= query.moment or case.created_at >= query.moment:
            continue
        if len(seen) == POOL_CASES:
            break
        seen.add(case.entry_id)
        top = top or score
        for author in {
            s.author
            for s in history.solutions_of.get(case.entry_id, [])
            if s.created_at < query.moment
        }:
            votes[author] = votes.get(author, 0.0) + score / top
    popular = popularity_ranking(history, query.moment)
    position = {person: n for n, person in enumerate(popular)}
    ranked = sorted(votes, key=lambda p: (-votes[p], position.get(p, len(position)), p))
    return [p for p in ranked if p != query.asker]
