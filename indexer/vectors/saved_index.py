"""A vector store on disk: two files in the index folder.

`vectors-<generation>-<n>.<suffix>` holds the vectors, and `index-meta.json`
names that file together with the model and the database generation it was
built from. The meta file is replaced last, with an atomic rename, so a crash at
any moment leaves the previous index in use; the next save removes the files a
crash left behind.
"""

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from indexer.vectors.store import VectorStore

META_FILE = "index-meta.json"
VECTOR_FILE_SUFFIXES = (".faiss", ".npz")


class IndexModelMismatch(RuntimeError):
    pass


class IndexUnreadable(RuntimeError):
    pass


@dataclass
class IndexMeta:
    model_id: str
    dim: int
    generation: int
    vectors_file: str
    count: int
    index_type: str
    built_at: float
    nlist: int = 0


def read_meta(directory: Path) -> IndexMeta | None:
    path = directory / META_FILE
    if not path.exists():
        return None
    try:
        return IndexMeta(**json.loads(path.read_text()))
    except (ValueError, TypeError) as error:
        raise IndexUnreadable(
            f"{path} is damaged ({error}); run `kb reindex --full` to rebuild the index"
        ) from error


def read_meta_for_model(directory: Path, expected_model_id: str) -> IndexMeta | None:
    """The saved index's meta, None if there is none; refuses one from another model."""
    meta = read_meta(directory)
    if meta is not None and meta.model_id != expected_model_id:
        raise IndexModelMismatch(
            f"the index in {directory} was built with the embedding model and backend "
            f"{meta.model_id!r} ({meta.dim} dimensions), but kb is configured for "
            f"{expected_model_id!r} (KB_EMBEDDING_MODEL, KB_EMBEDDING_BACKEND); vectors "
            "made two ways are never mixed. Run `kb reindex` to re-embed the entries "
            "with the configured ones (`kb reindex --full` re-embeds everything), or "
            "set the settings back to what the index was built with."
        )
    return meta


def unreadable(path: Path, error: Exception) -> IndexUnreadable:
    return IndexUnreadable(
        f"the index file {path} cannot be read ({error}); "
        "run `kb reindex` to rebuild it from the database"
    )


def save_index(
    store: VectorStore,
    directory: Path,
    suffix: str,
    write_vectors: Callable[[Path], None],
    nlist: int = 0,
) -> Path:
    """Write a new vectors file (write_vectors(path)), then the meta naming it, each
    fsynced and renamed into place; returns the vectors file."""
    directory.mkdir(parents=True, exist_ok=True)
    vectors_file = f"vectors-{store.generation}-{uuid.uuid4().hex[:8]}{suffix}"
    temporary = directory / f".{vectors_file}.tmp"
    write_vectors(temporary)
    _fsync_file(temporary)
    os.replace(temporary, directory / vectors_file)
    meta_temporary = directory / f".{META_FILE}.{uuid.uuid4().hex[:8]}.tmp"
    meta = IndexMeta(
        model_id=store.model_id,
        dim=store.dim,
        generation=store.generation,
        vectors_file=vectors_file,
        count=len(store),
        index_type=store.index_type,
        built_at=store.built_at,
        nlist=nlist,
    )
    meta_temporary.write_text(json.dumps(asdict(meta), indent=2))
    _fsync_file(meta_temporary)
    os.replace(meta_temporary, directory / META_FILE)
    _fsync_directory(directory)
    _remove_unreferenced(directory, keep=vectors_file)
    return directory / vectors_file


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_unreferenced(directory: Path, keep: str) -> None:
    for suffix in VECTOR_FILE_SUFFIXES:
        for path in directory.glob(f"vectors-*{suffix}"):
            if path.name != keep:
                path.unlink(missing_ok=True)
    stale_before = time.time() - 3600  # another process may be writing a newer one
    for path in directory.glob(".*.tmp"):
        if path.stat().st_mtime < stale_before:
            path.unlink(missing_ok=True)
