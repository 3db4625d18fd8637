"""Incremental reindex, removal, passages, live updates, model mismatch, crash safety."""

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select

import indexer.live_index
from indexer.embedder import Embedder
from indexer.vectors.faiss_store import FaissVectorStore
from indexer.vectors.saved_index import META_FILE, IndexModelMismatch, read_meta
from kb.database import Database
from kb.entries import remove_entries
from kb.models import Entry, IndexChange
from kb.settings import Settings
from search.engine import SearchEngine, SearchMode
from tests.conftest import import_path, index

FILLER = (
    "The weekly report lists the shift, the machine hours, the parts used and who signed "
    "off the work order. Nothing unusual happened on this line during the period. "
)


def entry(entry_id: str, title: str, body: str) -> dict:
    return {"id": entry_id, "kind": "practice", "title": title, "body": body, "author": "ann"}


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def ids(engine: SearchEngine, query: str, mode: SearchMode = SearchMode.HYBRID) -> list[str]:
    return [hit.id for hit in engine.search(query, limit=5, mode=mode).hits]


RECORDS = [
    entry("E1", "Forklift battery charging", "Charge forklift batteries only in the bay."),
    entry("E2", "Welding fume extraction", "Switch on the extraction arm before welding."),
    entry("E3", "Laptop docking station", "Update the dock firmware if screens flicker."),
]


def test_reindex_embeds_only_new_or_changed_entries(
    database: Database, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    source = write(tmp_path / "a.jsonl", RECORDS)
    import_path(database, source, settings)
    first = index(database, settings, embedder)
    assert (first.embedded, first.skipped) == (3, 0)

    unchanged = index(database, settings, embedder)
    assert (unchanged.embedded, unchanged.skipped, unchanged.rebuilt_index) == (0, 3, False)

    edited = [RECORDS[0], {**RECORDS[1], "body": "Always use the fume extractor."}, RECORDS[2]]
    import_path(database, write(source, edited), settings)
    second = index(database, settings, embedder)
    assert (second.embedded, second.skipped, second.removed) == (1, 2, 0)

    full = index(database, settings, embedder, full=True)
    assert full.embedded == 3


def test_removed_entry_leaves_search(
    database: Database, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    import_path(database, write(tmp_path / "a.jsonl", RECORDS), settings)
    index(database, settings, embedder)
    engine = SearchEngine.open(settings, database, embedder)
    assert ids(engine, "forklift battery")[0] == "E1"

    assert remove_entries(database, ["E1", "nope"]) == ["E1"]
    summary = index(database, settings, embedder)
    assert summary.removed == 1 and summary.vectors_in_index == 2
    reopened = SearchEngine.open(settings, database, embedder)
    assert "E1" not in ids(reopened, "forklift battery")


def test_text_past_the_model_window_is_found(
    database: Database, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    late = "Finally: the chiller alarm A-77 was caused by a clogged condenser fin pack."
    long_body = FILLER * 40 + late
    records = [entry("LONG", "Weekly line report", long_body), *RECORDS]
    import_path(database, write(tmp_path / "a.jsonl", records), settings)
    summary = index(database, settings, embedder)
    assert summary.passages > len(records)  # the long entry was split
    engine = SearchEngine.open(settings, database, embedder)
    assert ids(engine, "chiller alarm caused by dirty condenser", SearchMode.DENSE)[0] == "LONG"


def test_new_entries_become_searchable_without_a_reindex(
    database: Database, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    import_path(database, write(tmp_path / "a.jsonl", RECORDS), settings)
    index(database, settings, embedder)
    engine = SearchEngine.open(settings, database, embedder)
    new = entry("E4", "Compressor condensate drain", "Drain valve blocked by rust flakes.")
    import_path(database, write(tmp_path / "b.jsonl", [new]), settings)
    with database.session() as session:
        new_id = session.scalar(select(Entry.id).where(Entry.external_id == "E4"))
    assert new_id is not None
    engine.index_entries([new_id])
    assert ids(engine, "condensate drain valve blocked", SearchMode.DENSE)[0] == "E4"
    # ...and a fresh process sees it too, from the stored vectors.
    assert ids(SearchEngine.open(settings, database, embedder), "condensate drain")[0] == "E4"


def test_a_running_engine_picks_up_what_another_process_indexed(
    database: Database, settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(indexer.live_index, "CATCH_UP_SECONDS", 0.0)
    import_path(database, write(tmp_path / "a.jsonl", RECORDS), settings)
    index(database, settings, embedder)
    engine = SearchEngine.open(settings, database, embedder)
    # What `kb import` does in another process while the server runs:
    new = entry("E5", "Paint booth filter change", "Swap the ceiling filter mats at 250 Pa.")
    import_path(database, write(tmp_path / "b.jsonl", [new]), settings)
    index(database, settings, embedder)
    assert ids(engine, "paint booth ceiling filter", SearchMode.DENSE)[0] == "E5"


def test_a_running_engine_catches_up_on_the_changed_entries_alone(
    database: Database, settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(indexer.live_index, "CATCH_UP_SECONDS", 0.0)
    import_path(database, write(tmp_path / "a.jsonl", RECORDS), settings)
    index(database, settings, embedder)
    first = SearchEngine.open(settings, database, embedder)  # two worker processes
    second = SearchEngine.open(settings, database, embedder)
    live = first.live_index.store

    def add_through_second(record: dict) -> None:
        import_path(database, write(tmp_path / f"{record['id']}.jsonl", [record]), settings)
        with database.session() as session:
            entry_id = session.scalar(select(Entry.id).where(Entry.external_id == record["id"]))
        assert entry_id is not None
        second.index_entries([entry_id])

    add_through_second(entry("E6", "Glue gun nozzle", "Soak the nozzle in warm water."))
    assert ids(first, "glue gun nozzle soak", SearchMode.DENSE)[0] == "E6"
    assert remove_entries(database, ["E1"]) == ["E1"]
    assert "E1" not in ids(first, "forklift battery", SearchMode.DENSE)
    # Both changes were applied to the index in use, not by rebuilding it.
    assert first.live_index.store is live and len(live) == 3

    # When the change log no longer covers the gap, the engine rebuilds its index.
    add_through_second(entry("E7", "Ladder inspection", "Check the ladder feet monthly."))
    with database.session() as session:
        session.execute(delete(IndexChange))
        session.commit()
    add_through_second(entry("E8", "Kettle scale", "Descale the kettle with citric acid."))
    assert ids(first, "ladder feet inspection", SearchMode.DENSE)[0] == "E7"
    assert ids(first, "kettle descale citric", SearchMode.DENSE)[0] == "E8"
    assert first.live_index.store is not live and len(first.live_index.store) == 5


def test_an_index_built_by_another_model_is_refused(
    database: Database, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    import_path(database, write(tmp_path / "a.jsonl", RECORDS), settings)
    index(database, settings, embedder)
    meta_path = settings.index_dir / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["model_id"] = "some-other-model@torch"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IndexModelMismatch) as caught:
        SearchEngine.open(settings, database, embedder)
    message = str(caught.value)
    assert "some-other-model@torch" in message and embedder.model_id in message
    assert "kb reindex --full" in message
    # The advised command repairs it.
    index(database, settings, embedder, full=True)
    assert ids(SearchEngine.open(settings, database, embedder), "forklift")[0] == "E1"


def test_a_crash_while_saving_leaves_the_previous_index_in_use(
    database: Database, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    import_path(database, write(tmp_path / "a.jsonl", RECORDS), settings)
    index(database, settings, embedder)
    before = read_meta(settings.index_dir)
    assert before is not None
    # What a crash mid-save leaves behind: a half-written file that no meta points to.
    (settings.index_dir / ".vectors-99-deadbeef.faiss.tmp").write_bytes(b"\x00" * 100)
    (settings.index_dir / "vectors-99-deadbeef.faiss").write_bytes(b"garbage")
    loaded = FaissVectorStore.load(settings.index_dir, embedder.model_id)
    assert loaded is not None and len(loaded) == before.count
    assert ids(SearchEngine.open(settings, database, embedder), "forklift")[0] == "E1"
    # The next save cleans up after the crash.
    index(database, settings, embedder, full=True)
    assert not (settings.index_dir / "vectors-99-deadbeef.faiss").exists()
