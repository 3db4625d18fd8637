"""What `kb status` reports: the database, the index and how current it is."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from indexer.embedder import embedding_model_id
from indexer.pipeline import stale_entry_ids
from indexer.vectors.saved_index import read_meta
from kb.database import Database
from kb.entry_counts import count_entries
from kb.models import Community, IndexState, Passage, Person
from kb.settings import Settings


def collect_status(settings: Settings, database: Database) -> dict[str, Any]:
    meta = read_meta(settings.index_dir)
    configured_model = embedding_model_id(settings.embedding_model, settings.embedding_backend)
    with database.session() as session:
        state = session.get(IndexState, 1)
        counts = count_entries(session)
        status: dict[str, Any] = {
            "home": str(settings.home.resolve()),
            "database": _safe_url(database.url),
            # The same count, and the same words, as `kb reindex` reports.
            "entries": counts.total,
            "entries_described": counts.describe(),
            **{f"{kind}s": count for kind, count in counts.by_kind.items()},
            "people": session.scalar(select(func.count(Person.id))),
            "communities": session.scalar(select(func.count(Community.id))),
            "stored_passages": session.scalar(select(func.count()).select_from(Passage)),
            # Counted against the configured model and backend: after switching
            # backend, every entry is to be embedded again.
            "entries_to_embed": len(stale_entry_ids(session, configured_model, False)),
            "db_generation": state.generation if state else 0,
        }
    status.update(
        {
            "configured_model": configured_model,
            "index_model": meta.model_id if meta else None,
            "index_type": meta.index_type if meta else None,
            "index_vectors": meta.count if meta else 0,
            "index_path": str((settings.index_dir / meta.vectors_file).resolve()) if meta else None,
            "index_bytes": _file_size(settings.index_dir / meta.vectors_file) if meta else 0,
            "index_generation": meta.generation if meta else None,
            "index_built_at": datetime.fromtimestamp(meta.built_at, UTC).isoformat(
                timespec="seconds"
            )
            if meta
            else None,
            "index_current": bool(
                meta
                and state
                and meta.generation == state.generation
                and meta.model_id == configured_model
            ),
        }
    )
    return status


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
