"""Community health, week by week: problems asked and solved, how fast answers come,
how often existing knowledge is reused, who contributes and who helps most.

Weeks start on Monday. A problem counts in the week it was asked; "solved" means it has
an accepted solution now; time to solution runs from asking to the accepted solution
being written; time to first answer, to the first solution or comment by someone else.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import (
    Comment,
    Community,
    Entry,
    EntryKind,
    Feedback,
    FeedbackKind,
    Person,
    utcnow,
)
from kb.visibility import Visibility


@dataclass
class WeekHealth:
    week: date  # the Monday
    asked: int = 0
    solved: int = 0
    hours_to_first_answer: float | None = None  # median
    hours_to_solution: float | None = None  # median
    reuses: int = 0
    contributors: int = 0

    @property
    def share_solved(self) -> float | None:
        return self.solved / self.asked if self.asked else None

    @property
    def reuse_rate(self) -> float | None:
        """Reuses of existing answers per problem asked: knowledge used instead of asked."""
        return self.reuses / self.asked if self.asked else None


@dataclass
class Helper:
    handle: str
    name: str
    solutions: int
    accepted: int


@dataclass
class HealthReport:
    community: str | None
    since: date
    until: date
    weeks: list[WeekHealth]
    top_helpers: list[Helper] = field(default_factory=list)

    @property
    def asked(self) -> int:
        return sum(w.asked for w in self.weeks)

    @property
    def solved(self) -> int:
        return sum(w.solved for w in self.weeks)

    @property
    def share_solved(self) -> float | None:
        return self.solved / self.asked if self.asked else None

    @property
    def reuses(self) -> int:
        return sum(w.reuses for w in self.weeks)

    def as_dict(self) -> dict[str, object]:
        return {
            "community": self.community,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "asked": self.asked,
            "solved": self.solved,
            "share_solved": self.share_solved,
            "reuses": self.reuses,
            "weeks": [
                {
                    "week": w.week.isoformat(),
                    "asked": w.asked,
                    "solved": w.solved,
                    "share_solved": w.share_solved,
                    "median_hours_to_first_answer": w.hours_to_first_answer,
                    "median_hours_to_solution": w.hours_to_solution,
                    "reuses": w.reuses,
                    "reuse_rate": w.reuse_rate,
                    "active_contributors": w.contributors,
                }
                for w in self.weeks
            ],
            "top_helpers": [vars(helper) for helper in self.top_helpers],
        }


def monday(moment: datetime | date) -> date:
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def _hours(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 3600, 2)


def community_health(
    session: Session,
    *,
    since: datetime,
    community: str | None = None,
    now: datetime | None = None,
    helpers: int = 5,
    visibility: Visibility | None = None,
) -> HealthReport:
    moment = now or utcnow()
    weeks: dict[date, WeekHealth] = {}
    day = monday(since)
    while day <= monday(moment):
        weeks[day] = WeekHealth(day)
        day += timedelta(days=7)

    entries = select(Entry).where((visibility or Visibility.everything()).allows())
    if community:
        entries = entries.join(Community, Community.id == Entry.community_id).where(
            Community.slug == community
        )
    all_entries = list(session.scalars(entries))
    by_id = {entry.id: entry for entry in all_entries}
    solutions_of: dict[int, list[Entry]] = defaultdict(list)
    for entry in all_entries:
        if entry.kind == EntryKind.SOLUTION and entry.solves_id is not None:
            solutions_of[entry.solves_id].append(entry)
    comments = [c for c in session.scalars(select(Comment)) if c.entry_id in by_id and c.created_at]
    comments_on: dict[int, list[Comment]] = defaultdict(list)
    for comment in comments:
        comments_on[comment.entry_id].append(comment)

    first_answer_hours: dict[date, list[float]] = defaultdict(list)
    solution_hours: dict[date, list[float]] = defaultdict(list)
    contributors: dict[date, set[int]] = defaultdict(set)
    for entry in all_entries:
        week = monday(entry.created_at)
        if week in weeks and entry.created_at <= moment:
            contributors[week].add(entry.author_id)
        if entry.kind != EntryKind.PROBLEM or week not in weeks or entry.created_at > moment:
            continue
        health = weeks[week]
        health.asked += 1
        answers = [s.created_at for s in solutions_of[entry.id] if s.author_id != entry.author_id]
        answers += [c.created_at for c in comments_on[entry.id] if c.author_id != entry.author_id]
        if answers:
            first_answer_hours[week].append(_hours(entry.created_at, min(answers)))
        accepted = [s for s in solutions_of[entry.id] if s.accepted]
        if accepted:
            health.solved += 1
            solution_hours[week].append(_hours(entry.created_at, accepted[0].created_at))
    for comment in comments:
        week = monday(comment.created_at)
        if week in weeks:
            contributors[week].add(comment.author_id)

    for feedback in session.scalars(select(Feedback).where(Feedback.kind == FeedbackKind.REUSE)):
        week = monday(feedback.created_at)
        if week in weeks and feedback.entry_id in by_id:
            weeks[week].reuses += 1

    for week, health in weeks.items():
        health.contributors = len(contributors[week])
        if first_answer_hours[week]:
            health.hours_to_first_answer = round(median(first_answer_hours[week]), 2)
        if solution_hours[week]:
            health.hours_to_solution = round(median(solution_hours[week]), 2)

    return HealthReport(
        community=community,
        since=monday(since),
        until=moment.date(),
        weeks=list(weeks.values()),
        top_helpers=_top_helpers(session, all_entries, since, moment, helpers),
    )


def _top_helpers(
    session: Session, entries: list[Entry], since: datetime, now: datetime, count: int
) -> list[Helper]:
    solutions: Counter[int] = Counter()
    accepted: Counter[int] = Counter()
    for entry in entries:
        if entry.kind == EntryKind.SOLUTION and since <= entry.created_at <= now:
            solutions[entry.author_id] += 1
            accepted[entry.author_id] += int(entry.accepted)
    ranked = sorted(solutions, key=lambda pid: (-accepted[pid], -solutions[pid], pid))[:count]
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(ranked)))}
    return [
        Helper(people[pid].handle, people[pid].name, solutions[pid], accepted[pid])
        for pid in ranked
    ]
