"""What signed-in people write: problems, solutions, practices, comments, acceptance,
reuse and feedback, and edits with every revision kept.

Each write checks the rules (who may do it, and whether it makes sense) and raises
NotAllowed or InvalidContribution with a reason a person can act on; then it saves in
one transaction (kb.writes) and announces what changed: a new or edited entry becomes
searchable through the announcement's subscribers, not through its caller.
"""

import re
import secrets
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.accounts import Role, has_role
from kb.announcements import EntrySaved, SolutionAccepted
from kb.entry_schema import MAX_COMMENT_CHARS, MIN_FLAG_REASON_CHARS, EntryDraft
from kb.errors import InvalidContribution, NotAllowed
from kb.follows import follow_problem
from kb.models import (
    Comment,
    Community,
    Entry,
    EntryKind,
    EntryStatus,
    Feedback,
    FeedbackKind,
    Person,
    Revision,
    Routing,
    RoutingState,
    utcnow,
)
from kb.problems import refresh_problem_status
from kb.reviews import request_reviews_citing
from kb.search_log import mark_answered, mark_posted, unmark_answered
from kb.visibility import may_see_community
from kb.writes import announce, write

# -- creating entries ------------------------------------------------------------------


def ask_problem(
    session: Session,
    author: Person,
    draft: EntryDraft,
    community_slug: str | None,
    searched_as: str | None = None,
) -> Entry:
    """`searched_as`: the visitor whose searches led here, so that the search log
    counts them as answered by asking (not as knowledge gaps)."""
    draft = draft.checked()
    with write(session):
        problem = _new_entry(session, EntryKind.PROBLEM, author, draft, community_slug)
        problem.status = EntryStatus.OPEN
        follow_problem(session, author, problem)  # the asker hears of what happens to it
        if searched_as is not None:
            mark_posted(session, searched_as, problem.id)
    return problem


def capture_practice(
    session: Session, author: Person, draft: EntryDraft, community_slug: str | None
) -> Entry:
    draft = draft.checked(body_required=True)
    with write(session):
        practice = _new_entry(session, EntryKind.PRACTICE, author, draft, community_slug)
        practice.status = EntryStatus.COMMUNITY
    return practice


def add_solution(session: Session, author: Person, problem: Entry, draft: EntryDraft) -> Entry:
    if problem.kind != EntryKind.PROBLEM:
        raise InvalidContribution(f"{problem.external_id} is a {problem.kind}, not a problem")
    draft = draft.checked(body_required=True, title_required=False)
    with write(session):
        solution = _new_entry(
            session,
            EntryKind.SOLUTION,
            author,
            draft,
            problem.community.slug,
            tags=problem.tags,
            id_words=draft.title or problem.title,
        )
        solution.status = EntryStatus.COMMUNITY
        solution.solves_id = problem.id
    return solution


def _new_entry(
    session: Session,
    kind: EntryKind,
    author: Person,
    draft: EntryDraft,
    community_slug: str | None,
    tags: list[str] | None = None,
    id_words: str | None = None,
) -> Entry:
    community = _community(session, author, community_slug or _home_community(author))
    entry = Entry(
        external_id=_new_external_id(session, id_words or draft.title),
        kind=kind,
        title=draft.title,
        body=draft.body,
        tags=draft.tags or list(tags or []),
        author_id=author.id,
        community_id=community.id,
        accepted=False,
        status="",
    )
    session.add(entry)
    session.flush()
    _record_revision(session, entry, author)
    announce(session, EntrySaved(entry.id, kind, created=True))
    return entry


def _home_community(person: Person) -> str:
    return person.communities[0] if person.communities else "general"


def _community(session: Session, author: Person, slug: str) -> Community:
    """The community to post in; a members-only one the author is not in does not exist."""
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is not None and may_see_community(author, community):
        return community
    if slug == "general":
        community = Community(slug="general", name="General", description="")
        session.add(community)
        session.flush()
        return community
    known = ", ".join(
        c.slug
        for c in session.scalars(select(Community).order_by(Community.slug))
        if may_see_community(author, c)
    )
    raise InvalidContribution(f"no community is called {slug!r}; communities: {known}")


def _new_external_id(session: Session, title: str) -> str:
    """A readable, stable id such as `pump-seal-leaks-after-restart-3f9a`."""
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    stem = words[:50].rstrip("-") or "entry"
    while True:
        candidate = f"{stem}-{secrets.token_hex(2)}"
        if session.scalar(select(Entry.id).where(Entry.external_id == candidate)) is None:
            return candidate


# -- acceptance ------------------------------------------------------------------------


def may_accept(person: Person, problem: Entry) -> bool:
    return person.id == problem.author_id or has_role(person, Role.KNOWLEDGE_MANAGER)


def accept_solution(session: Session, actor: Person, solution: Entry) -> Entry:
    """Mark the solution as the accepted one of its problem; returns the problem."""
    problem = solution.solves
    if solution.kind != EntryKind.SOLUTION or problem is None:
        raise InvalidContribution(f"{solution.external_id} is not a solution to a problem")
    if not may_accept(actor, problem):
        raise NotAllowed(
            "only the person who asked this problem or a knowledge manager can accept a solution"
        )
    with write(session):
        for other in problem.solutions:
            other.accepted = other.id == solution.id
        session.flush()
        refresh_problem_status(session, problem.id)
        problem.updated_at = utcnow()
        open_requests = select(Routing).where(
            Routing.problem_id == problem.id,
            Routing.state.in_([RoutingState.ASKED, RoutingState.TAKEN]),
        )
        for routing in session.scalars(open_requests):  # solved: nobody needs to be asked
            routing.state = RoutingState.CLOSED
            routing.updated_at = problem.updated_at
        announce(session, SolutionAccepted(problem.id, solution.id, actor.id))
    return problem


# -- reuse and feedback ----------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackRecorded:
    """The feedback, and whether the person had given it already (nothing new counted)."""

    feedback: Feedback
    repeated: bool


def record_feedback(
    session: Session,
    actor: Person,
    entry: Entry,
    kind: FeedbackKind,
    reason: str = "",
    searched_as: str | None = None,
) -> FeedbackRecorded:
    """Reuse, a helpful vote or a flag. Giving the same one twice counts it once: the
    answer says it was `repeated` (a flag's new reason replaces the old one).
    `searched_as`: the visitor whose searches led here; a reuse or helpful vote tells
    the search log that those searches found their answer (no knowledge gap)."""
    reason = " ".join(reason.split())
    own_entry_kinds = (FeedbackKind.REUSE, FeedbackKind.HELPFUL, FeedbackKind.DID_NOT_WORK)
    if kind in own_entry_kinds and entry.author_id == actor.id:
        raise NotAllowed("reuse and helpful votes count what others found; this entry is yours")
    if kind == FeedbackKind.FLAG and len(reason) < MIN_FLAG_REASON_CHARS:
        raise InvalidContribution("say why you flag it: outdated, wrong, duplicate, unsafe, …")
    if len(reason) > MAX_COMMENT_CHARS:
        raise InvalidContribution(f"the reason is longer than {MAX_COMMENT_CHARS:,} characters")
    with write(session):
        if searched_as is not None and kind in (FeedbackKind.REUSE, FeedbackKind.HELPFUL):
            mark_answered(session, searched_as, entry)
        existing = _feedback_of(session, actor, entry, kind)
        if existing is not None:
            if reason:
                existing.reason = reason
            return FeedbackRecorded(existing, repeated=True)
        feedback = Feedback(entry_id=entry.id, person_id=actor.id, kind=kind, reason=reason)
        session.add(feedback)
        session.flush()
        if kind == FeedbackKind.DID_NOT_WORK:
            why = f"{actor.name}: did not work for me" + (f" ({reason})" if reason else "")
            request_reviews_citing(session, entry, why)
    return FeedbackRecorded(feedback, repeated=False)


def withdraw_feedback(
    session: Session,
    actor: Person,
    entry: Entry,
    kind: FeedbackKind,
    searched_as: str | None = None,
) -> bool:
    """Take back one's own reuse, helpful vote, "did not work" or flag (pressing the
    button again, or Undo). False when there was none to take back.

    A review that "did not work" requested stays requested: someone read it already,
    or will, and a review costs less than a wrong standard."""
    with write(session):
        existing = _feedback_of(session, actor, entry, kind)
        if existing is None:
            return False
        session.delete(existing)
        if searched_as is not None and kind in (FeedbackKind.REUSE, FeedbackKind.HELPFUL):
            unmark_answered(session, searched_as, entry)
        session.flush()
    return True


def _feedback_of(
    session: Session, actor: Person, entry: Entry, kind: FeedbackKind
) -> Feedback | None:
    return session.scalar(
        select(Feedback).where(
            Feedback.entry_id == entry.id,
            Feedback.person_id == actor.id,
            Feedback.kind == kind,
        )
    )


def feedback_given(session: Session, person: Person, entry_ids: list[int]) -> dict[int, set[str]]:
    """Per entry: the kinds of feedback this person gave it (the buttons' pressed state)."""
    given: dict[int, set[str]] = {entry_id: set() for entry_id in entry_ids}
    rows = session.execute(
        select(Feedback.entry_id, Feedback.kind).where(
            Feedback.entry_id.in_(entry_ids), Feedback.person_id == person.id
        )
    )
    for entry_id, kind in rows:
        given[entry_id].add(kind)
    return given


def feedback_counts(session: Session, entry_ids: list[int]) -> dict[int, Counter[str]]:
    counts: dict[int, Counter[str]] = {entry_id: Counter() for entry_id in entry_ids}
    rows = session.execute(
        select(Feedback.entry_id, Feedback.kind, func.count())
        .where(Feedback.entry_id.in_(entry_ids))
        .group_by(Feedback.entry_id, Feedback.kind)
    )
    for entry_id, kind, count in rows:
        counts[entry_id][kind] = count
    return counts


def flags_of(session: Session, entry: Entry) -> list[Feedback]:
    return list(
        session.scalars(
            select(Feedback)
            .where(Feedback.entry_id == entry.id, Feedback.kind == FeedbackKind.FLAG)
            .order_by(Feedback.created_at)
        )
    )


# -- editing and revisions -------------------------------------------------------------


def may_edit(person: Person, entry: Entry) -> bool:
    return person.id == entry.author_id or has_role(person, Role.KNOWLEDGE_MANAGER)


def edit_entry(session: Session, actor: Person, entry: Entry, draft: EntryDraft) -> Revision:
    if not may_edit(actor, entry):
        raise NotAllowed("only the author or a knowledge manager can edit this entry")
    draft = draft.checked(
        body_required=entry.kind != EntryKind.PROBLEM,
        title_required=entry.kind != EntryKind.SOLUTION,
    )
    with write(session):
        if not revisions_of(session, entry):
            # Imported entries have no history yet: keep their text as revision 1.
            _record_revision(session, entry, entry.author, at=entry.created_at)
        entry.title, entry.body, entry.tags = draft.title, draft.body, draft.tags
        entry.updated_at = utcnow()
        revision = _record_revision(session, entry, actor)
        announce(session, EntrySaved(entry.id, entry.kind, created=False))
    return revision


def revisions_of(session: Session, entry: Entry) -> list[Revision]:
    return list(
        session.scalars(
            select(Revision).where(Revision.entry_id == entry.id).order_by(Revision.number)
        )
    )


def _record_revision(
    session: Session, entry: Entry, editor: Person, at: object | None = None
) -> Revision:
    number = (
        session.scalar(select(func.max(Revision.number)).where(Revision.entry_id == entry.id)) or 0
    ) + 1
    revision = Revision(
        entry_id=entry.id,
        number=number,
        title=entry.title,
        body=entry.body,
        tags=list(entry.tags),
        editor_id=editor.id,
    )
    if at is not None:
        revision.created_at = at  # type: ignore[assignment]
    session.add(revision)
    session.flush()
    return revision


# -- discussion ------------------------------------------------------------------------


def add_comment(session: Session, actor: Person, entry: Entry, body: str) -> Comment:
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise InvalidContribution("the comment is empty")
    if len(body) > MAX_COMMENT_CHARS:
        raise InvalidContribution(
            f"the comment has {len(body):,} characters; the limit is {MAX_COMMENT_CHARS:,}"
        )
    if "\x00" in body:
        raise InvalidContribution("the comment contains a NUL character")
    with write(session):
        comment = Comment(entry_id=entry.id, author_id=actor.id, body=body)
        session.add(comment)
        session.flush()
    return comment


def comments_of(session: Session, entry: Entry) -> list[Comment]:
    return list(
        session.scalars(
            select(Comment).where(Comment.entry_id == entry.id).order_by(Comment.created_at)
        )
    )


def comment_to_solution(session: Session, actor: Person, comment: Comment) -> Entry:
    """The comment's author turns it into a solution of the problem it was made on."""
    if comment.author_id != actor.id:
        raise NotAllowed("only the author of a comment can turn it into a solution")
    if comment.entry.kind != EntryKind.PROBLEM:
        raise InvalidContribution("only a comment on a problem can become its solution")
    if comment.solution_id is not None:
        raise InvalidContribution("this comment is already a solution")
    with write(session):
        solution = add_solution(session, actor, comment.entry, EntryDraft("", comment.body))
        comment.solution_id = solution.id
    return solution
