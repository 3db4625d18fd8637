"""The index generation: a counter bumped, in the same transaction, whenever stored vectors
change (new, edited or removed entries), with a log of which entries changed at each
generation. A search index built at generation g is current while the counter is g;
a server that is behind re-reads only the entries logged since its own generation."""

from collections.abc import Iterable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from kb.models import IndexChange, IndexState
from kb.writes import write

# Generations the change log covers; a server further behind rebuilds its index.
CHANGES_KEPT = 1_000


def bump_generation(session: Session, model_id: str, entry_ids: Iterable[int]) -> int:
    """A new index generation, at which the vectors of these entries changed (caller commits)."""
    session.execute(
        update(IndexState)
        .where(IndexState.id == 1)
        .values(generation=IndexState.generation + 1, model=model_id)
    )
    generation = session.scalar(select(IndexState.generation).where(IndexState.id == 1)) or 0
    changes = [{"generation": generation, "entry_id": entry_id} for entry_id in set(entry_ids)]
    if changes:
        session.execute(insert(IndexChange), changes)
    session.execute(delete(IndexChange).where(IndexChange.generation <= generation - CHANGES_KEPT))
    return generation


def changed_since(session: Session, generation: int, current: int) -> list[int] | None:
    """The entries whose vectors changed after `generation`, up to `current`; None when
    the change log no longer covers every generation in between."""
    rows = session.execute(
        select(IndexChange.generation, IndexChange.entry_id).where(
            IndexChange.generation > generation, IndexChange.generation <= current
        )
    ).all()
    if len({row.generation for row in rows}) != current - generation:
        return None
    return sorted({row.entry_id for row in rows})


def move_generation_past(session: Session, generation: int) -> None:
    """After a restore: a generation newer than both the database's and `generation` (the
    saved index's), so that every server rebuilds its index from the database."""
    with write(session):
        current = session.scalar(select(IndexState.generation).where(IndexState.id == 1)) or 0
        floor = max(generation, current)
        session.execute(update(IndexState).where(IndexState.id == 1).values(generation=floor + 1))
