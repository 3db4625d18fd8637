"""Removing entries. Their vectors go with them; the index notices by its generation."""

from sqlalchemy import delete, select

from kb.announcements import EntriesRemoved
from kb.database import Database
from kb.index_state import bump_generation
from kb.models import Entry, IndexState
from kb.problems import refresh_problem_status
from kb.writes import announce, write


def remove_entries(database: Database, external_ids: list[str]) -> list[str]:
    """Delete the entries with these ids; returns the ids that existed."""
    with database.session() as session, write(session):
        found = list(
            session.execute(
                select(Entry.id, Entry.external_id, Entry.solves_id).where(
                    Entry.external_id.in_(external_ids)
                )
            )
        )
        if not found:
            return []
        ids = [row.id for row in found]
        session.execute(delete(Entry).where(Entry.id.in_(ids)))
        model = session.scalar(select(IndexState.model)) or ""
        bump_generation(session, model, ids)
        for row in found:
            if row.solves_id is not None and row.solves_id not in ids:
                refresh_problem_status(session, row.solves_id)
        announce(session, EntriesRemoved(tuple(ids)))
    return [row.external_id for row in found]
