"""The ONNX embedding paths: same vectors as torch, a safe export cache, clean switching.

Real model (torch and ONNX Runtime), real SQLite, real FAISS.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from indexer.embedder import Embedder, load_embedder
from indexer.model_files import resolve_model_path
from indexer.onnx_embedder import OnnxEmbedder
from indexer.onnx_export import cache_folder, model_file, write_atomically
from indexer.passages import PassageSplitter
from indexer.pipeline import build_index, build_splitter, embed_and_store
from indexer.vectors.saved_index import IndexModelMismatch, read_meta
from kb.cli import main
from kb.database import Database
from kb.models import Entry, Passage
from kb.settings import Settings
from kb.sources import read_source
from search.engine import SearchEngine, SearchMode
from tests.conftest import CORPUS, REPO, import_path, index

MODEL = "all-MiniLM-L6-v2"


def demo_passages(count: int) -> list[str]:
    """Real texts of several lengths: passages of the shipped demo corpus."""
    splitter = PassageSplitter(resolve_model_path(MODEL) / "tokenizer.json", 256, 32)
    texts = [
        passage.text
        for located in read_source(CORPUS).entries
        for passage in splitter.split(located.record.title, located.record.body)
    ]
    return texts[:count]


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return load_embedder(MODEL, 32, "torch")


def test_onnx_vectors_match_torch(torch_embedder: Embedder, model_cache_dir: Path) -> None:
    texts = [*demo_passages(96), "compressor trips on hot days", "SK-4471"]
    expected = torch_embedder.encode(texts)
    fp32 = load_embedder(MODEL, 32, "onnx-fp32", model_cache_dir)
    int8 = load_embedder(MODEL, 32, "onnx-int8", model_cache_dir)
    assert {fp32.model_id, int8.model_id, torch_embedder.model_id} == {
        f"{MODEL}@onnx-fp32",
        f"{MODEL}@onnx-int8",
        f"{MODEL}@torch",
    }
    for embedder in (fp32, int8):
        vectors = embedder.encode(texts)
        assert vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert embedder.encode([]).shape == (0, 384)
    assert row_cosines(fp32.encode(texts), expected).min() >= 0.9999
    int8_cosines = row_cosines(int8.encode(texts), expected)
    assert int8_cosines.mean() >= 0.98 and int8_cosines.min() >= 0.95
    # A text alone gets the same vector as inside a batch padded to longer texts.
    assert row_cosines(int8.encode(texts[-1:]), int8.encode(texts)[-1:])[0] >= 0.9999


def test_the_export_is_reused(model_cache_dir: Path) -> None:
    first = OnnxEmbedder(MODEL, "int8", model_cache_dir)
    before = first.model_file.stat()
    second = OnnxEmbedder(MODEL, "int8", model_cache_dir)
    after = second.model_file.stat()
    assert second.model_file == first.model_file
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_broken_or_partial_cache_file_is_not_used(model_cache_dir: Path, tmp_path: Path) -> None:
    good = OnnxEmbedder(MODEL, "int8", model_cache_dir)
    folder = cache_folder(tmp_path / "cache", MODEL, good.model_path)
    shutil.copytree(good.model_file.parent, folder)
    broken = model_file(folder, "int8")
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    leftover = folder / ".model-int8.onnx.999-deadbeef.tmp"  # what a killed export leaves
    leftover.write_bytes(b"\x08\x07half an onnx file")

    repaired = OnnxEmbedder(MODEL, "int8", tmp_path / "cache")

    texts = ["the lathe stops after warm-up", "VPN error 809 on the hotel network"]
    assert row_cosines(repaired.encode(texts), good.encode(texts)).min() >= 0.9999
    assert repaired.model_file.stat().st_size > broken.stat().st_size // 2 + 1000
    assert leftover.read_bytes() == b"\x08\x07half an onnx file"  # never read as a model


def test_a_crash_while_writing_a_cache_file_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "model-fp32.onnx"

    def crash_halfway(temporary: Path) -> None:
        temporary.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, crash_halfway)
    assert list(tmp_path.iterdir()) == []


SWITCH_RECORDS = [
    {"id": "E1", "title": "Forklift battery charging", "body": "Charge only in the bay."},
    {"id": "E2", "title": "Welding fume extraction", "body": "Extraction arm on before welding."},
    {"id": "E3", "title": "Laptop docking station", "body": "Update the dock firmware."},
    {"id": "E4", "title": "Compressor condensate drain", "body": "Drain valve blocked by rust."},
]


def write_entries(path: Path) -> Path:
    records = [{**record, "kind": "practice", "author": "ann"} for record in SWITCH_RECORDS]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def stored_models(database: Database) -> set[str | None]:
    with database.session() as session:
        return set(session.scalars(select(Entry.embedding_model)))


def test_switching_backend_re_embeds_everything_and_never_mixes(
    torch_embedder: Embedder, model_cache_dir: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path / "home", embedding_backend="torch")
    database = Database.from_settings(settings)
    database.create_schema()
    import_path(database, write_entries(tmp_path / "entries.jsonl"), settings)
    index(database, settings, torch_embedder)
    assert stored_models(database) == {f"{MODEL}@torch"}
    int8 = load_embedder(MODEL, 32, "onnx-int8", model_cache_dir)

    # A server started on the other path refuses, and says what to run.
    with pytest.raises(IndexModelMismatch) as refused:
        SearchEngine.open(settings, database, int8)
    assert "KB_EMBEDDING_BACKEND" in str(refused.value) and "kb reindex" in str(refused.value)
    monkeypatch.setenv("KB_HOME", str(settings.home))
    monkeypatch.setenv("KB_EMBEDDING_BACKEND", "onnx-int8")
    status = json.loads(CliRunner().invoke(main, ["status", "--json"]).output)
    assert status["entries_to_embed"] == 4 and status["index_current"] is False

    # A crash midway through the switch: half the entries have int8 vectors.
    with database.session() as session:
        half = list(session.scalars(select(Entry).where(Entry.external_id.in_(["E1", "E2"]))))
        embed_and_store(session, half, int8, build_splitter(settings, int8))
        session.commit()
    partial = build_index(database, int8.dim, int8.model_id)
    assert len(partial) == 2  # only vectors of the configured path, never the torch ones

    # A plain `kb reindex` finishes the switch.
    result = CliRunner().invoke(main, ["reindex"])
    assert result.exit_code == 0, result.output
    assert "Indexed: 2 embedded" in result.output
    assert stored_models(database) == {f"{MODEL}@onnx-int8"}
    meta = read_meta(settings.index_dir)
    assert meta is not None and meta.model_id == f"{MODEL}@onnx-int8" and meta.count == 4
    with database.session() as session:
        rows = session.execute(select(Entry.title, Entry.body, Passage.vector).join(Passage)).all()
    stored = np.stack([np.frombuffer(row.vector, dtype=np.float32) for row in rows])
    fresh = int8.encode([f"{row.title}\n\n{row.body}" for row in rows])
    assert row_cosines(stored, fresh).min() >= 0.99999  # no torch vector left behind

    engine = SearchEngine.open(Settings(home=settings.home), database, int8)
    hits = engine.search("battery charging for forklifts", limit=2, mode=SearchMode.DENSE).hits
    assert hits[0].id == "E1"
    database.dispose()


SERVING_PROBE = """
import sys
from kb.settings import Settings
from web.app import create_app

app = create_app(Settings())
hits = app.state.engine.search("forklift battery charging", limit=1).hits
print(hits[0].id, app.state.engine.embedder.model_id)
print("torch imported:", "torch" in sys.modules)
print("sentence_transformers imported:", "sentence_transformers" in sys.modules)
"""


def test_the_onnx_serving_path_does_not_import_torch(model_cache_dir: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", embedding_backend="onnx-int8")
    database = Database.from_settings(settings)
    database.create_schema()
    import_path(database, write_entries(tmp_path / "entries.jsonl"), settings)
    index(database, settings, load_embedder(MODEL, 32, "onnx-int8", model_cache_dir))
    database.dispose()
    env = {
        **os.environ,
        "KB_HOME": str(settings.home),
        "KB_EMBEDDING_BACKEND": "onnx-int8",
        "KB_MODEL_CACHE_DIR": str(model_cache_dir),
    }
    result = subprocess.run(
        [sys.executable, "-c", SERVING_PROBE],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"E1 {MODEL}@onnx-int8" in result.stdout
    assert "torch imported: False" in result.stdout
    assert "sentence_transformers imported: False" in result.stdout
