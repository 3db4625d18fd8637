""" "This answers my question" on the Ask page: a past case fits, so nothing is posted.

It is the reuse of the case's accepted solution (or of the practice) that the entry page
records as "this solved my case too", plus the search log's note that the draft was
answered, so the tutors' console does not count it as a failed search."""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from kb.contributions import record_feedback
from kb.errors import InvalidContribution
from kb.models import Entry, EntryKind, FeedbackKind, Person
from kb.search_log import mark_case_answers
from kb.writes import write


@dataclass(frozen=True)
class Answered:
    case: Entry  # what the person was shown: a problem or a practice
    reused: Entry  # what counts the reuse: the accepted solution, or the practice
    counted: bool  # False when it was the person's own entry, or counted before


def reused_entry(case: Entry) -> Entry | None:
    """What a suggestion's reuse counts on: its accepted solution, or the practice itself."""
    if case.kind == EntryKind.PRACTICE:
        return case
    if case.kind == EntryKind.PROBLEM:
        return next((s for s in case.solutions if s.accepted), None)
    return None


def question_answered(
    session: Session,
    actor: Person,
    case: Entry,
    *,
    search_log_id: int | None,
    visitor: str,
) -> Answered:
    reused = reused_entry(case)
    if reused is None:
        raise InvalidContribution(
            f"{case.external_id} has no accepted solution yet: follow it, or post your "
            "problem so that the community can work on both"
        )
    with write(session):
        counted = False
        if reused.author_id != actor.id:  # one's own entry is no reuse
            counted = not record_feedback(session, actor, reused, FeedbackKind.REUSE).repeated
        if search_log_id is not None:
            mark_case_answers(session, search_log_id, visitor, case.id)
    return Answered(case, reused, counted)
