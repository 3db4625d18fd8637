"""Who has solved problems like this one: document-model expert finding.

Two steps, kept apart so that scoring can be tuned without searching again:

1. `gather_evidence` runs the hybrid search and turns its hits into past *cases*
   (a problem with its solutions, or a good practice), each with the people who
   took part in it and their role.
2. `rank_experts` lets every person collect evidence from their cases: the case's
   similarity to the new problem, times the weight of their role, times a recency
   decay. Busy people are down-weighted; excluded and unavailable people are dropped.

Every suggestion keeps the cases that gave its evidence, so it can say why.
"""

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from kb.models import Entry, EntryKind, Person, utcnow
from kb.visibility import Visibility
from search.engine import SearchEngine, SearchHit
from search.filters import SearchFilters


class Role(StrEnum):
    """What a person did in a past case, strongest first."""

    ACCEPTED_SOLUTION = "accepted solution"
    SOLUTION = "solution"
    PRACTICE = "practice"
    ASKED = "asked"


@dataclass(frozen=True)
class ExpertScoring:
    """The parameters of expert ranking.

    cases, the role weights, similarity_power and half_life_days were tuned on the
    two Stack Exchange routing sets together (bench/stackexchange_routing.py
    --tune; BENCHMARKS.md has the figures and what the choice costs there).
    practice_weight and load_penalty are judgement calls: that data has neither
    good practices nor routed problems.
    """

    cases: int = 50  # past cases (best first) that give evidence
    accepted_solution_weight: float = 1.0
    solution_weight: float = 0.6
    practice_weight: float = 0.5
    asked_weight: float = 0.0
    # A case's similarity is the cosine similarity of its best-matching entry to the
    # query, to this power: higher values trust close cases more than the long tail.
    similarity_power: float = 3.0
    # A case found by keywords only is below the dense similarity floor; it counts as this.
    keyword_only_similarity: float = 0.15
    # Evidence loses half its weight every half_life_days; None switches decay off.
    half_life_days: float | None = 365.0
    # Each open problem already routed to a person divides their score by (1 + this).
    load_penalty: float = 0.5

    def role_weight(self, role: Role) -> float:
        return {
            Role.ACCEPTED_SOLUTION: self.accepted_solution_weight,
            Role.SOLUTION: self.solution_weight,
            Role.PRACTICE: self.practice_weight,
            Role.ASKED: self.asked_weight,
        }[role]


@dataclass(frozen=True)
class Contribution:
    """One person's part in one case: what they did and when."""

    person: str  # the person's handle (their id as imported)
    name: str
    role: Role
    entry_id: str  # external id of the entry they wrote
    created_at: datetime


@dataclass
class Case:
    """A past problem (with its solutions) or a good practice that matched the query."""

    id: str  # external id of the problem or the practice
    title: str
    kind: str
    rank: int  # 1 = the best-matching case
    search_score: float  # fused (hybrid) score of the case's best-matching entry
    dense_score: float | None = None  # best cosine similarity of its entries, if above the floor
    contributions: list[Contribution] = field(default_factory=list)


@dataclass(frozen=True)
class Reason:
    """A past case that gave a person evidence."""

    case_id: str
    title: str
    role: Role
    entry_id: str
    similarity: float
    evidence: float


@dataclass
class Expert:
    person: str
    name: str
    score: float
    open_routed: int = 0
    reasons: list[Reason] = field(default_factory=list)
    # The strongest reasons in words, strongest first.
    explanations: list[str] = field(default_factory=list)


def gather_evidence(
    engine: SearchEngine,
    text: str,
    community: str | None = None,
    cases: int = 50,
    visibility: Visibility | None = None,
) -> list[Case]:
    """The past cases most similar to `text`, best first, with who took part in each.

    A matching solution stands for its problem; a practice is a case of its own.
    Raises QueryError for an empty or too long text.
    """
    # Several hits can fall into one case (a problem and its solutions), so ask for more.
    filters = SearchFilters.seen_by(visibility or Visibility.everything(), community=community)
    # Evidence is weighed by similarity, so weak cases count little; the relevance floor
    # (what the results page calls a match) stays off, as when the weights were tuned.
    results = engine.search(text, filters, limit=cases * 3, relevance_floor=False)
    found: dict[str, Case] = {}
    for hit in results.hits:
        case_id = _case_id(hit)
        case = found.get(case_id)
        if case is None:
            if len(found) == cases:
                continue
            case = Case(case_id, title="", kind="", rank=len(found) + 1, search_score=hit.score)
            found[case_id] = case
        if hit.dense_score is not None:
            case.dense_score = max(case.dense_score or 0.0, hit.dense_score)
    _add_contributions(engine, found)
    return list(found.values())


def _case_id(hit: SearchHit) -> str:
    if hit.kind == EntryKind.SOLUTION and hit.solves:
        return hit.solves
    return hit.id


def _add_contributions(engine: SearchEngine, cases: dict[str, Case]) -> None:
    if not cases:
        return
    with engine.database.session() as session:
        heads = list(session.scalars(select(Entry).where(Entry.external_id.in_(list(cases)))))
        problem_ids = [entry.id for entry in heads if entry.kind == EntryKind.PROBLEM]
        solutions = session.scalars(select(Entry).where(Entry.solves_id.in_(problem_ids)))
        solutions_by_problem: dict[int, list[Entry]] = {}
        for solution in solutions:
            assert solution.solves_id is not None
            solutions_by_problem.setdefault(solution.solves_id, []).append(solution)
        for head in heads:
            case = cases[head.external_id]
            case.title, case.kind = head.title, head.kind
            head_role = Role.PRACTICE if head.kind == EntryKind.PRACTICE else Role.ASKED
            case.contributions.append(_contribution(head, head.author, head_role))
            for solution in solutions_by_problem.get(head.id, []):
                role = Role.ACCEPTED_SOLUTION if solution.accepted else Role.SOLUTION
                case.contributions.append(_contribution(solution, solution.author, role))
    # An entry removed since the index was built leaves a case without a head.
    for case_id in [case_id for case_id, case in cases.items() if not case.kind]:
        del cases[case_id]


def _contribution(entry: Entry, author: Person, role: Role) -> Contribution:
    return Contribution(author.handle, author.name, role, entry.external_id, entry.created_at)


def rank_experts(
    cases: list[Case],
    scoring: ExpertScoring | None = None,
    *,
    limit: int = 5,
    load: Mapping[str, int] | None = None,
    exclude: Collection[str] = (),
    unavailable: Collection[str] = (),
    now: datetime | None = None,
) -> list[Expert]:
    """People ranked by the evidence their past cases give, best first.

    load: person -> open problems already routed to them (down-weights busy people).
    exclude: people never suggested here, such as the asker.
    unavailable: people who are away or opted out of routing.
    now: the moment recency is measured from (default: the current time).
    """
    scoring = scoring or ExpertScoring()
    load = load or {}
    now = now or utcnow()
    skipped = set(exclude) | set(unavailable)
    considered = sorted(cases, key=lambda case: case.rank)[: scoring.cases]
    experts: dict[str, Expert] = {}
    for case in considered:
        similarity = case_similarity(case, scoring)
        for contribution in _strongest_role_per_person(case.contributions, scoring):
            if contribution.person in skipped:
                continue
            evidence = (
                similarity
                * scoring.role_weight(contribution.role)
                * _recency(contribution.created_at, now, scoring.half_life_days)
            )
            if evidence <= 0:
                continue
            expert = experts.setdefault(
                contribution.person, Expert(contribution.person, contribution.name, 0.0)
            )
            expert.score += evidence
            expert.reasons.append(
                Reason(
                    case_id=case.id,
                    title=case.title,
                    role=contribution.role,
                    entry_id=contribution.entry_id,
                    similarity=round(similarity, 4),
                    evidence=evidence,
                )
            )
    for expert in experts.values():
        expert.open_routed = load.get(expert.person, 0)
        expert.score /= 1.0 + scoring.load_penalty * expert.open_routed
        expert.reasons.sort(key=lambda reason: reason.evidence, reverse=True)
        expert.explanations = explain_cases(expert.reasons)
    ranked = sorted(experts.values(), key=lambda expert: (-expert.score, expert.person))
    return ranked[:limit]


def explain_cases(reasons: list[Reason]) -> list[str]:
    """What the formula rests on, in words: the similar cases and the person's part."""
    accepted = sum(1 for reason in reasons if reason.role == Role.ACCEPTED_SOLUTION)
    solved = sum(1 for reason in reasons if reason.role == Role.SOLUTION)
    practices = sum(1 for reason in reasons if reason.role == Role.PRACTICE)
    phrases = []
    for count, what in (
        (accepted, "accepted on {n} {case} like this one"),
        (solved, "solved {n} other {case} like this one"),
        (practices, "wrote {n} good {practice} like this one"),
    ):
        if count:
            case = "case" if count == 1 else "cases"
            practice = "practice" if count == 1 else "practices"
            phrases.append(what.format(n=count, case=case, practice=practice))
    return phrases


def case_similarity(case: Case, scoring: ExpertScoring) -> float:
    """How close a case is to the query, in [0, 1]."""
    cosine = case.dense_score if case.dense_score is not None else scoring.keyword_only_similarity
    return float(max(cosine, 0.0) ** scoring.similarity_power)


def _strongest_role_per_person(
    contributions: list[Contribution], scoring: ExpertScoring
) -> list[Contribution]:
    """Two answers to one case count once, with the stronger role."""
    strongest: dict[str, Contribution] = {}
    for contribution in contributions:
        current = strongest.get(contribution.person)
        if current is None or scoring.role_weight(contribution.role) > scoring.role_weight(
            current.role
        ):
            strongest[contribution.person] = contribution
    return list(strongest.values())


def _recency(created_at: datetime, now: datetime, half_life_days: float | None) -> float:
    if half_life_days is None:
        return 1.0
    age_days = max((now - created_at).total_seconds() / 86_400, 0.0)
    return math.pow(0.5, age_days / half_life_days)


def find_experts(
    engine: SearchEngine,
    text: str,
    *,
    community: str | None = None,
    limit: int = 5,
    scoring: ExpertScoring | None = None,
    load: Mapping[str, int] | None = None,
    exclude: Collection[str] = (),
    unavailable: Collection[str] = (),
    now: datetime | None = None,
    visibility: Visibility | None = None,
) -> list[Expert]:
    """The people to ask about `text`, best first, each with the cases that say why
    (only cases `visibility` allows)."""
    scoring = scoring or ExpertScoring()
    cases = gather_evidence(engine, text, community, scoring.cases, visibility)
    return rank_experts(
        cases,
        scoring,
        limit=limit,
        load=load,
        exclude=exclude,
        unavailable=unavailable,
        now=now,
    )
