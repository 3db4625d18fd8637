"""Attaching images and files to entries: who may, how large, how many, which types.

The author of an entry and knowledge managers may attach and remove. The file's bytes
are stored before the row that names them is committed; a file left without a row (a
refused or failed write, a removed entry) is swept by `sweep_unreferenced`, which runs
after attachments or entries are removed (`sweep_after_removals`)."""

import re
from pathlib import Path, PurePath

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.announcements import Announcement, AttachmentRemoved, EntriesRemoved, Subscribers
from kb.attachment_store import store, sweep_unreferenced
from kb.attachment_types import sniffed_type
from kb.contributions import may_edit
from kb.database import Database
from kb.errors import InvalidContribution, NotAllowed
from kb.history import record_event
from kb.models import Attachment, Entry, Person
from kb.writes import announce, write

MAX_ATTACHMENTS_PER_ENTRY = 20
MAX_FILENAME_CHARS = 200
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f/\\\"<>|:*?]+")


def tidy_filename(raw: str) -> str:
    """The name shown and offered on download: no folders, no control characters."""
    name = _UNSAFE_IN_NAME.sub("_", PurePath(raw.replace("\\", "/")).name).strip(" .")
    if len(name) > MAX_FILENAME_CHARS:
        suffix = PurePath(name).suffix[:20]
        name = name[: MAX_FILENAME_CHARS - len(suffix)] + suffix
    return name or "file"


def attach(
    session: Session,
    folder: Path,
    max_bytes: int,
    actor: Person,
    entry: Entry,
    filename: str,
    data: bytes,
) -> Attachment:
    if not may_edit(actor, entry):
        raise NotAllowed("only the author or a knowledge manager can attach files to this entry")
    name = tidy_filename(filename)
    if not data:
        raise InvalidContribution(f"{name!r} is empty")
    if len(data) > max_bytes:
        raise InvalidContribution(
            f"{name!r} has {len(data):,} bytes; the limit is {max_bytes:,} (KB_ATTACHMENT_MAX_MB)"
        )
    count = session.scalar(select(func.count()).where(Attachment.entry_id == entry.id)) or 0
    if count >= MAX_ATTACHMENTS_PER_ENTRY:
        raise InvalidContribution(
            f"this entry has {count} attachments already, the most it can have; remove one first"
        )
    file_type = sniffed_type(name, data)
    sha256 = store(folder, data)
    with write(session):
        attachment = Attachment(
            entry_id=entry.id,
            filename=name,
            content_type=file_type.content_type,
            size=len(data),
            sha256=sha256,
            uploaded_by_id=actor.id,
        )
        session.add(attachment)
        record_event(session, entry, actor, "attached", name)
    return attachment


def remove_attachment(
    session: Session, actor: Person, attachment: Attachment, entry: Entry
) -> None:
    if not may_edit(actor, entry):
        raise NotAllowed("only the author or a knowledge manager can remove this attachment")
    with write(session):
        session.delete(attachment)
        record_event(session, entry, actor, "removed attachment", attachment.filename)
        announce(session, AttachmentRemoved(entry.id))


def attachments_of(session: Session, entry_ids: list[int]) -> dict[int, list[Attachment]]:
    found: dict[int, list[Attachment]] = {entry_id: [] for entry_id in entry_ids}
    if entry_ids:
        rows = session.scalars(
            select(Attachment).where(Attachment.entry_id.in_(entry_ids)).order_by(Attachment.id)
        )
        for attachment in rows:
            found[attachment.entry_id].append(attachment)
    return found


def sweep_after_removals(subscribers: Subscribers, folder: Path, database: Database) -> None:
    """Subscribe: delete stored files nothing refers to once entries or attachments go."""

    def sweep(_removed: Announcement) -> None:
        with database.session() as session:
            sweep_unreferenced(session, folder)

    subscribers.subscribe(EntriesRemoved, sweep)
    subscribers.subscribe(AttachmentRemoved, sweep)
