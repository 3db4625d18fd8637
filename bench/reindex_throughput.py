"""Full reindex throughput next to the raw encode throughput of the same texts.

Both go through the same embedder in the same process and run, so the ratio
shows what the database, passage splitting and FAISS cost on top of the model.
Also times a reindex with nothing changed. Usage:
    python bench/reindex_throughput.py [--copies N]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import EVAL_DIR, machine  # noqa: E402

from indexer.embedder import embedder_for  # noqa: E402
from indexer.pipeline import build_splitter, reindex  # noqa: E402
from kb.database import Database  # noqa: E402
from kb.importer import import_batch  # noqa: E402
from kb.settings import Settings  # noqa: E402
from kb.sources import read_source  # noqa: E402


def write_corpus(target: Path, copies: int) -> int:
    """The SemEval dev questions (real forum text), `copies` times under new ids."""
    docs = [json.loads(line) for line in (EVAL_DIR / "semeval2016-dev/corpus.jsonl").open()]
    count = 0
    with target.open("w") as out:
        for copy in range(copies):
            for doc in docs:
                record = {
                    "id": f"{doc['id']}-{copy}",
                    "kind": "problem",
                    "title": doc["title"] or "-",
                    "body": doc.get("body") or "",
                    "author": doc.get("author") or "unknown",
                }
                out.write(json.dumps(record) + "\n")
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=2, help="Copies of the 500 questions.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(home=Path(scratch) / "home")
        database = Database.from_settings(settings)
        database.create_schema()
        source = Path(scratch) / "corpus.jsonl"
        entries = write_corpus(source, args.copies)
        import_batch(database, read_source(source), "general")
        embedder = embedder_for(settings)
        splitter = build_splitter(settings, embedder)
        embedder.encode(["warm-up"] * 32)

        from sqlalchemy import select

        from kb.models import Entry

        with database.session() as session:
            rows = session.execute(select(Entry.title, Entry.body)).all()
        texts = [p.text for title, body in rows for p in splitter.split(title, body)]
        started = time.perf_counter()
        embedder.encode(texts)
        raw_seconds = time.perf_counter() - started

        full = reindex(database, embedder, splitter, settings.index_dir, full=True)
        unchanged = reindex(database, embedder, splitter, settings.index_dir)

    raw_rate = entries / raw_seconds
    print(f"machine: {machine()}; model path: {embedder.model_id}")
    print(f"{entries} entries, {len(texts)} passages")
    print(f"raw encode of the same passages : {raw_seconds:7.2f} s  {raw_rate:7.1f} entries/s")
    ratio = full.entries_per_second / raw_rate
    print(
        f"full reindex                    : {full.seconds:7.2f} s  "
        f"{full.entries_per_second:7.1f} entries/s  (ratio {ratio:.3f})"
    )
    print(
        f"reindex with nothing changed    : {unchanged.seconds:7.3f} s  "
        f"({100 * unchanged.seconds / full.seconds:.2f} % of full; embedded {unchanged.embedded})"
    )


if __name__ == "__main__":
    main()
