"""Case studies and teaching material: an introduction, ordered articles and cases,
and questions for discussion; exported as Markdown here and as HTML by the web app.
Made, edited, reordered and deleted here; only their owner (or an admin) changes one."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.accounts import Role
from kb.errors import InvalidContribution, NotAllowed
from kb.models import Collection, CollectionItem, Entry, EntryKind, EntryStatus, Person
from kb.permissions import Action, allowed, require, roles_of
from kb.visibility import Visibility
from kb.writes import write

MAX_ITEMS = 100
MAX_QUESTIONS = 50


def create_collection(
    session: Session,
    actor: Person,
    *,
    title: str,
    introduction: str,
    entries: list[Entry],
    questions: list[str],
) -> Collection:
    """Entries may come later (the editor's search, "Add to collection" on an entry)."""
    require(actor, Action.PROMOTE)
    _check_entries(entries)
    with write(session):
        collection = Collection(
            title=_checked_title(title),
            introduction=_tidy_introduction(introduction),
            questions=_checked_questions(questions),
            owner_id=actor.id,
        )
        collection.items = [
            CollectionItem(position=position, entry_id=entry.id)
            for position, entry in enumerate(dict.fromkeys(entries))
        ]
        session.add(collection)
        session.flush()
    return collection


def _checked_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InvalidContribution("a collection needs a title")
    if len(title) > 300:
        raise InvalidContribution("a collection's title is at most 300 characters")
    return title


def _tidy_introduction(introduction: str) -> str:
    return introduction.replace("\r\n", "\n").strip()


def _checked_questions(questions: list[str]) -> list[str]:
    tidy = [" ".join(q.split()) for q in questions if q.strip()]
    if len(tidy) > MAX_QUESTIONS:
        raise InvalidContribution(f"at most {MAX_QUESTIONS} questions")
    return tidy


def _check_entries(entries: list[Entry]) -> None:
    if len(dict.fromkeys(entries)) > MAX_ITEMS:
        raise InvalidContribution(f"at most {MAX_ITEMS} entries")
    hidden = [
        e.external_id for e in entries if e.status in (EntryStatus.DRAFT, EntryStatus.ARCHIVED)
    ]
    if hidden:
        raise InvalidContribution(f"draft or archived entries cannot go in: {', '.join(hidden)}")


def may_edit(person: Person | None, collection: Collection) -> bool:
    """Its owner, if they still may write booklets, or an admin."""
    if person is None:
        return False
    if Role.ADMIN in roles_of(person):
        return True
    return collection.owner_id == person.id and allowed(person, Action.PROMOTE)


def _require_editor(actor: Person, collection: Collection) -> None:
    require(actor, Action.PROMOTE)
    if not may_edit(actor, collection):
        raise NotAllowed(f"only {collection.owner.name}, who made it, or an admin can change it")


def collections_of(session: Session, person: Person) -> list[Collection]:
    """The collections `person` may change (for "Add to collection")."""
    if not allowed(person, Action.PROMOTE):
        return []
    query = select(Collection).order_by(Collection.title, Collection.id)
    if Role.ADMIN not in roles_of(person):
        query = query.where(Collection.owner_id == person.id)
    return list(session.scalars(query))


def _renumber(session: Session, collection: Collection, entries: list[Entry]) -> None:
    """Store the items in this order. The old rows go first: (collection, position) is
    the key, and a moved item takes another's position."""
    collection.items.clear()
    session.flush()
    collection.items.extend(
        CollectionItem(position=position, entry_id=entry.id, entry=entry)
        for position, entry in enumerate(entries)
    )
    session.flush()


def update_collection(
    session: Session,
    actor: Person,
    collection: Collection,
    *,
    title: str | None = None,
    introduction: str | None = None,
    questions: list[str] | None = None,
) -> Collection:
    """Change the title, introduction or questions (what is None stays)."""
    _require_editor(actor, collection)
    with write(session):
        if title is not None:
            collection.title = _checked_title(title)
        if introduction is not None:
            collection.introduction = _tidy_introduction(introduction)
        if questions is not None:
            collection.questions = _checked_questions(questions)
        session.flush()
    return collection


def add_entry(session: Session, actor: Person, collection: Collection, entry: Entry) -> bool:
    """Put `entry` at the end; False if it was in already (nothing changes)."""
    _require_editor(actor, collection)
    current = [item.entry for item in collection.items]
    if entry in current:
        return False
    _check_entries([*current, entry])
    with write(session):
        _renumber(session, collection, [*current, entry])
    return True


def remove_entry(session: Session, actor: Person, collection: Collection, entry: Entry) -> None:
    _require_editor(actor, collection)
    current = [item.entry for item in collection.items]
    if entry not in current:
        raise InvalidContribution(f"{entry.external_id} is not in this collection")
    with write(session):
        _renumber(session, collection, [e for e in current if e != entry])


def move_entry(
    session: Session, actor: Person, collection: Collection, entry: Entry, direction: str
) -> None:
    """One place up or down ("up", "down"); at the top or bottom already, it stays."""
    _require_editor(actor, collection)
    if direction not in ("up", "down"):
        raise InvalidContribution(f"move up or down, not {direction!r}")
    current = [item.entry for item in collection.items]
    if entry not in current:
        raise InvalidContribution(f"{entry.external_id} is not in this collection")
    index = current.index(entry)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(current):
        return
    current[index], current[other] = current[other], current[index]
    with write(session):
        _renumber(session, collection, current)


def reorder(session: Session, actor: Person, collection: Collection, entries: list[Entry]) -> None:
    """Put the items in this order: the same entries, each once."""
    _require_editor(actor, collection)
    current = [item.entry for item in collection.items]
    if len(entries) != len(current) or set(entries) != set(current):
        raise InvalidContribution("name each entry of the collection once, in the new order")
    with write(session):
        _renumber(session, collection, entries)


def delete_collection(session: Session, actor: Person, collection: Collection) -> None:
    _require_editor(actor, collection)
    with write(session):
        session.delete(collection)


def problem_progress(collection: Collection) -> dict[int, str]:
    """For each unsolved problem in the collection: "unsolved", or "in progress" when
    someone took it (a booklet must not pass an open case off as solved)."""
    return {
        item.entry.id: "in progress" if item.entry.status == EntryStatus.IN_PROGRESS else "unsolved"
        for item in collection.items
        if item.entry.kind == EntryKind.PROBLEM
        and item.entry.status in (EntryStatus.OPEN, EntryStatus.IN_PROGRESS)
    }


def progress_label(progress: str) -> str:
    """How a booklet marks an open problem."""
    if progress == "in progress":
        return "Unsolved (in progress: someone is working on it)"
    return "Unsolved: no accepted solution yet"


def visible_items(collection: Collection, visibility: Visibility) -> list[CollectionItem]:
    """The collection's entries this viewer may see, in order (others are left out)."""
    return [item for item in collection.items if visibility.can_see(item.entry)]


def booklet_markdown(collection: Collection, visibility: Visibility) -> str:
    """The whole booklet as one Markdown document."""
    progress = problem_progress(collection)
    lines = [f"# {collection.title}", ""]
    if collection.introduction:
        lines += [collection.introduction, ""]
    for number, item in enumerate(visible_items(collection, visibility), start=1):
        entry = item.entry
        marker = progress.get(entry.id)
        lines += [f"## {number}. {entry.title}", ""]
        if marker:
            lines += [f"**{progress_label(marker)}**", ""]
        lines += [
            f"*{entry.kind}, {entry.author.name}, {entry.created_at:%d %B %Y}"
            f" ({entry.external_id})*",
            "",
            _shifted_headings(entry.body),
            "",
        ]
        accepted = [s for s in entry.solutions if s.accepted]
        for solution in accepted:
            lines += [
                f"### Accepted solution, by {solution.author.name}",
                "",
                _shifted_headings(solution.body, 2),
                "",
            ]
    if collection.questions:
        lines += ["## Questions for discussion", ""]
        lines += [f"{n}. {q}" for n, q in enumerate(collection.questions, start=1)]
        lines.append("")
    return "\n".join(lines)


def _shifted_headings(markdown: str, levels: int = 1) -> str:
    """Entry headings sit under the booklet's own: ## becomes ###."""
    shifted = []
    for line in markdown.splitlines():
        if line.startswith("#"):
            line = "#" * levels + line
        shifted.append(line)
    return "\n".join(shifted)
