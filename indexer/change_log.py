"""The index generation, and the log of which entries' vectors changed at each.

Every change to stored vectors makes a new generation (one database row), and
records the entries it touched. A process whose index is at an older generation
re-reads only those entries (indexer/live_index.py), or rebuilds when the log no
longer reaches back far enough.
"""

from collections.abc import Iterable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from kb.models import IndexChange, IndexState

# Generations the change log keeps (a batch of `kb reindex` is one, a web edit another):
# a server further behind, which catches up every second, rebuilds its whole index.
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
