"""Case studies and teaching material: an introduction, ordered articles and cases,
and questions for discussion; exported as Markdown here and as HTML by the web app."""

from sqlalchemy.orm import Session

from kb.errors import InvalidContribution
from kb.models import Collection, CollectionItem, Entry, EntryStatus, Person
from kb.permissions import Action, require
from kb.visibility import Visibility
from kb.writes import write

MAX_ITEMS = 100


def create_collection(
    session: Session,
    actor: Person,
    *,
    title: str,
    introduction: str,
    entries: list[Entry],
    questions: list[str],
) -> Collection:
    require(actor, Action.PROMOTE)
    title = " ".join(title.split())
    if not title:
        raise InvalidContribution("a collection needs a title")
    if not entries:
        raise InvalidContribution("add at least one article or case")
    if len(entries) > MAX_ITEMS:
        raise InvalidContribution(f"at most {MAX_ITEMS} entries")
    hidden = [
        e.external_id for e in entries if e.status in (EntryStatus.DRAFT, EntryStatus.ARCHIVED)
    ]
    if hidden:
        raise InvalidContribution(f"draft or archived entries cannot go in: {', '.join(hidden)}")
    with write(session):
        collection = Collection(
            title=title,
            introduction=introduction.replace("\r\n", "\n").strip(),
            questions=[" ".join(q.split()) for q in questions if q.strip()],
            owner_id=actor.id,
        )
        collection.items = [
            CollectionItem(position=position, entry_id=entry.id)
            for position, entry in enumerate(dict.fromkeys(entries))
        ]
        session.add(collection)
        session.flush()
    return collection


def visible_items(collection: Collection, visibility: Visibility) -> list[CollectionItem]:
    """The collection's entries this viewer may see, in order (others are left out)."""
    return [item for item in collection.items if visibility.can_see(item.entry)]


def booklet_markdown(collection: Collection, visibility: Visibility) -> str:
    """The whole booklet as one Markdown document."""
    lines = [f"# {collection.title}", ""]
    if collection.introduction:
        lines += [collection.introduction, ""]
    for number, item in enumerate(visible_items(collection, visibility), start=1):
        entry = item.entry
        lines += [
            f"## {number}. {entry.title}",
            "",
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
