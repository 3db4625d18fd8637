"""Applying a validated import to the database, all or nothing."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.announcements import EntriesImported
from kb.database import Database
from kb.models import (
    Article,
    ArticleSource,
    Community,
    Entry,
    EntryKind,
    EntryStatus,
    Person,
    utcnow,
)
from kb.problems import refresh_problem_status
from kb.records import EntryRecord
from kb.repertoire import SECTIONS, article_body
from kb.sources import ImportBatch, ImportRejected, Located, Problem
from kb.writes import announce, write

LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class RoleChange:
    """A person whose roles in the import differ from those they have."""

    handle: str
    roles_before: list[str]
    roles_in_file: list[str]
    applied: bool

    def __str__(self) -> str:
        before = ", ".join(self.roles_before) or "none"
        in_file = ", ".join(self.roles_in_file) or "none"
        if self.applied:
            return f"{self.handle}: roles changed from [{before}] to [{in_file}]"
        return (
            f"{self.handle}: roles kept as [{before}]; the file says [{in_file}] "
            "(import with --update-roles to apply)"
        )


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    people_created: int = 0
    communities_created: int = 0
    files: int = 0
    seconds: float = 0.0
    role_changes: list[RoleChange] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return self.created + self.updated + self.unchanged


def import_batch(
    database: Database,
    batch: ImportBatch,
    default_community: str,
    on_progress: Callable[[int], None] | None = None,
    update_roles: bool = False,
) -> ImportSummary:
    """Write the batch in one transaction. People who exist keep their roles unless
    `update_roles`; either way, every difference is in `summary.role_changes`."""
    started = time.perf_counter()
    summary = ImportSummary(files=batch.files)
    with database.session() as session, write(session):
        communities = _upsert_communities(session, batch, summary)
        people = _upsert_people(session, batch, summary, update_roles)
        default_slug = batch.default_community or default_community
        existing = _existing_entries(session, [item.record.id for item in batch.entries])
        _check_references(session, batch, existing)

        touched_problems: set[int] = set()
        imported: list[tuple[Located[EntryRecord], Entry]] = []
        for item in batch.entries:
            record = item.record
            community = _community(session, communities, record.community or default_slug, summary)
            author = _person(session, people, record.author, summary)
            entry = existing.get(record.id)
            if entry is None:
                entry = Entry(external_id=record.id, status="")
                session.add(entry)
                existing[record.id] = entry
                summary.created += 1
                changed = True
            else:
                if entry.kind == EntryKind.PROBLEM:
                    touched_problems.add(entry.id)
                changed = False
            changed |= _assign(entry, record, author, community)
            if changed and entry.id is not None:
                summary.updated += 1
            elif not changed:
                summary.unchanged += 1
            imported.append((item, entry))
            if on_progress:
                on_progress(1)
        session.flush()

        for item, entry in imported:
            record = item.record
            solves = existing[record.solves].id if record.solves else None
            if entry.solves_id != solves:
                if entry.solves_id is not None:
                    touched_problems.add(entry.solves_id)
                entry.solves_id = solves
            if solves is not None:
                touched_problems.add(solves)
            if entry.kind == EntryKind.PROBLEM:
                touched_problems.add(entry.id)
            elif record.status:
                entry.status = record.status
            elif not entry.status:
                entry.status = EntryStatus.STANDARD if record.sections else EntryStatus.COMMUNITY
            if record.kind == EntryKind.ARTICLE:
                _upsert_article(session, entry, record, existing, people, summary)
        session.flush()
        for problem_id in touched_problems:
            refresh_problem_status(session, problem_id)
        # One announcement for the batch; `kb import --index` (or `kb reindex`) embeds it.
        announce(session, EntriesImported(tuple(entry.id for _, entry in imported)))
    summary.seconds = time.perf_counter() - started
    return summary


def _upsert_article(
    session: Session,
    entry: Entry,
    record: EntryRecord,
    existing: dict[str, Entry],
    people: dict[str, Person],
    summary: ImportSummary,
) -> None:
    assert record.sections is not None  # checked by EntryRecord
    owner = _person(session, people, record.owner or record.author, summary)
    interval = record.review_interval_days or 180
    article = session.get(Article, entry.id)
    if article is None:
        article = Article(entry_id=entry.id, owner_id=owner.id)
        session.add(article)
    article.sections = {key: record.sections.get(key, "") for key in SECTIONS}
    article.scope = record.scope
    article.owner_id = owner.id
    article.review_interval_days = interval
    article.next_review_at = record.next_review_at or (entry.created_at + timedelta(days=interval))
    article.sources = [
        ArticleSource(source_id=existing[source].id, position=position)
        for position, source in enumerate(dict.fromkeys(record.sources))
    ]


def _assign(entry: Entry, record: EntryRecord, author: Person, community: Community) -> bool:
    body = article_body(record.sections) if record.sections else record.body
    values: dict[str, object] = {
        "kind": record.kind.value,
        "title": record.title,
        "body": body,
        "tags": record.tags,
        "author_id": author.id,
        "community_id": community.id,
        "accepted": record.accepted,
    }
    if record.created_at is not None:
        values["created_at"] = record.created_at
    changed = False
    for name, value in values.items():
        if getattr(entry, name) != value:
            setattr(entry, name, value)
            changed = True
    if entry.created_at is None:
        entry.created_at = utcnow()
    if entry.id is None:  # new: last changed when it was written
        entry.updated_at = entry.created_at
    elif changed:
        entry.updated_at = utcnow()
    return changed


def _existing_entries(session: Session, external_ids: list[str]) -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    for start in range(0, len(external_ids), LOOKUP_CHUNK):
        chunk = external_ids[start : start + LOOKUP_CHUNK]
        for entry in session.scalars(select(Entry).where(Entry.external_id.in_(chunk))):
            found[entry.external_id] = entry
    return found


def _check_references(session: Session, batch: ImportBatch, existing: dict[str, Entry]) -> None:
    kinds = {item.record.id: item.record.kind for item in batch.entries}
    referenced = {
        target
        for item in batch.entries
        for target in [item.record.solves, *item.record.sources]
        if target
    }
    missing = {target for target in referenced if target not in kinds}
    for external_id, kind in session.execute(
        select(Entry.external_id, Entry.kind).where(Entry.external_id.in_(missing))
    ):
        kinds[external_id] = EntryKind(kind)
        entry = session.scalar(select(Entry).where(Entry.external_id == external_id))
        if entry is not None:
            existing[external_id] = entry
    problems: list[Problem] = []
    for item in batch.entries:
        for source in item.record.sources:
            if source not in kinds:
                problems.append(
                    Problem(item.location, f"`sources`: no entry has the id {source!r}")
                )
            elif kinds[source] == EntryKind.ARTICLE:
                problems.append(Problem(item.location, f"`sources`: {source!r} is an article"))
        target = item.record.solves
        if target is None:
            continue
        if target not in kinds:
            problems.append(Problem(item.location, f"`solves`: no entry has the id {target!r}"))
        elif kinds[target] != EntryKind.PROBLEM:
            problems.append(
                Problem(item.location, f"`solves`: {target!r} is a {kinds[target]}, not a problem")
            )
    if problems:
        raise ImportRejected(problems)


def _upsert_communities(
    session: Session, batch: ImportBatch, summary: ImportSummary
) -> dict[str, Community]:
    communities = {c.slug: c for c in session.scalars(select(Community))}
    for item in batch.communities:
        record = item.record
        community = communities.get(record.id)
        if community is None:
            community = Community(
                slug=record.id, name=record.name, description="", private=bool(record.private)
            )
            session.add(community)
            communities[record.id] = community
            summary.communities_created += 1
        community.name = record.name
        community.description = record.description.strip()
        if record.private is not None:
            community.private = record.private
    session.flush()
    return communities


def _upsert_people(
    session: Session, batch: ImportBatch, summary: ImportSummary, update_roles: bool
) -> dict[str, Person]:
    people = {p.handle: p for p in session.scalars(select(Person))}
    for item in batch.people:
        record = item.record
        roles = list(record.roles)
        person = people.get(record.id)
        if person is None:
            person = Person(handle=record.id, name=record.name, roles=roles)
            session.add(person)
            people[record.id] = person
            summary.people_created += 1
        elif set(person.roles or []) != set(roles):
            # An import must not quietly make someone an admin (or take a role away).
            summary.role_changes.append(
                RoleChange(person.handle, list(person.roles or []), roles, update_roles)
            )
            if update_roles:
                person.roles = roles
        person.name = record.name
        person.title = record.title
        person.expertise = record.expertise
        person.communities = list(record.communities)
        if record.email:
            person.email = record.email
    session.flush()
    return people


def _community(
    session: Session, communities: dict[str, Community], slug: str, summary: ImportSummary
) -> Community:
    community = communities.get(slug)
    if community is None:
        community = Community(slug=slug, name=slug.replace("-", " ").capitalize(), description="")
        session.add(community)
        session.flush()
        communities[slug] = community
        summary.communities_created += 1
    return community


def _person(
    session: Session, people: dict[str, Person], handle: str, summary: ImportSummary
) -> Person:
    person = people.get(handle)
    if person is None:
        person = Person(handle=handle, name=handle, roles=["worker"], communities=[])
        session.add(person)
        session.flush()
        people[handle] = person
        summary.people_created += 1
    return person
