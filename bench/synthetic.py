"""Large synthetic knowledge bases from realistic text, for the scale benchmarks.

Texts: sentences of the demo corpus (corpus/) and of the evaluation corpora in
../shared/eval/ (read at run time, never copied into the repository) recombined
into entries: 2 to 4 consecutive sentences of one source document (its topic) and
one sentence of another, a title from the first sentence.

Vectors: the first `base` entries are embedded for real through kb's embedder;
entry i beyond them gets the vector of base entry i % base plus small Gaussian
noise (renormalised), as issue 7 suggests for sizes one cannot embed in minutes.
The result is clustered the way real embeddings are (topics, near-duplicates), not
uniform random. Base vectors are cached in the scratch folder, keyed by the
embedder and the base texts, so a rerun does not embed again.
"""

import hashlib
import json
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import EVAL_DIR, REPO

SENTENCE = re.compile(r"(?<=[.!?])\s+")
NOISE_SIGMA = 0.02  # per dimension: about cosine 0.93 to the base vector


def _documents() -> list[list[str]]:
    """Each source document as its list of sentences."""
    bodies: list[str] = []
    for path in sorted((REPO / "corpus").rglob("*.md")):
        if path.name == "README.md":
            continue
        text = path.read_text()
        if text.startswith("---"):
            text = text.split("---", 2)[2]
        bodies.extend(part for part in text.split("\n\n## "))
    for name in (
        "semeval2016-dev/corpus.jsonl",
        "stackexchange-routing/beer/corpus.jsonl",
        "stackexchange-routing/matheducators/corpus.jsonl",
    ):
        path = EVAL_DIR / name
        if not path.exists():
            continue
        with path.open() as lines:
            for line in lines:
                record = json.loads(line)
                bodies.append(f"{record.get('title') or ''}. {record.get('body') or ''}")
    documents = []
    for body in bodies:
        flat = " ".join(re.sub(r"[#*`>|_\-]+", " ", body).split())
        sentences = [s for s in SENTENCE.split(flat) if 25 <= len(s) <= 300]
        if len(sentences) >= 2:
            documents.append(sentences)
    return documents


@dataclass
class SyntheticEntry:
    id: str
    title: str
    body: str
    community: str
    tags: list[str]


COMMUNITIES = ["maintenance", "it-support", "projects", "trainers"]
TAGS = ["pump", "vpn", "lathe", "onboarding", "safety", "printer", "network", "hydraulics"]


def entries(count: int, seed: int = 7) -> Iterator[SyntheticEntry]:
    documents = _documents()
    rng = random.Random(seed)
    for number in range(count):
        document = rng.choice(documents)
        start = rng.randrange(len(document))
        take = document[start : start + rng.randint(2, 4)] or document[:2]
        other = rng.choice(rng.choice(documents))
        sentences = [*take, other]
        title = sentences[0][:120]
        yield SyntheticEntry(
            id=f"S{number:07d}",
            title=title,
            body=" ".join(sentences[1:]) if len(sentences) > 2 else " ".join(sentences),
            community=rng.choice(COMMUNITIES),
            tags=rng.sample(TAGS, 2),
        )


def write_jsonl(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for entry in entries(count):
            out.write(
                json.dumps(
                    {
                        "id": entry.id,
                        "kind": "practice",
                        "title": entry.title,
                        "body": entry.body,
                        "author": f"person{int(entry.id[1:]) % 500}",
                        "community": entry.community,
                        "tags": entry.tags,
                    }
                )
                + "\n"
            )
    return path


def base_vectors(embedder, texts: list[str], scratch: Path) -> tuple[np.ndarray, float]:  # type: ignore[no-untyped-def]
    """Real embeddings of texts (cached); and the seconds embedding took (0 if cached)."""
    digest = hashlib.sha1((embedder.model_id + "\x00" + "\x00".join(texts)).encode()).hexdigest()[
        :16
    ]
    cache = scratch / f"base-vectors-{digest}.npy"
    if cache.exists():
        return np.load(cache), 0.0
    started = time.perf_counter()
    vectors = embedder.encode(texts)
    seconds = time.perf_counter() - started
    scratch.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors, seconds


def expand(base: np.ndarray, count: int, seed: int = 11, chunk: int = 100_000) -> np.ndarray:
    """count vectors: the base ones, then base[i % len(base)] plus noise, L2-normalised."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, base.shape[1]), dtype=np.float32)
    out[: min(count, len(base))] = base[:count]
    for start in range(len(base), count, chunk):
        stop = min(start + chunk, count)
        rows = base[np.arange(start, stop) % len(base)]
        rows = rows + rng.normal(0, NOISE_SIGMA, rows.shape).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        out[start:stop] = rows
    return out


def real_queries() -> list[str]:
    """Real questions that are not in the generated corpus: the eval sets' queries."""
    texts = []
    for name in (
        "semeval2016-dev/queries.jsonl",
        "stackexchange-routing/beer/queries.jsonl",
        "stackexchange-routing/matheducators/queries.jsonl",
    ):
        path = EVAL_DIR / name
        if path.exists():
            with path.open() as lines:
                texts.extend(json.loads(line)["title"] for line in lines)
    return [text for text in texts if text]
