"""`kb doctor`: is the database consistent with its vectors, its keyword index and the
index files? `--fix` repairs what it finds (the last step is a reindex)."""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, update

from indexer.embedder import embedding_model_id
from indexer.pipeline import stale_entry_ids
from indexer.vectors.saved_index import IndexUnreadable, read_meta
from kb import keyword_schema
from kb.database import Database
from kb.models import Entry, IndexState, Passage
from kb.settings import Settings


@dataclass
class Finding:
    check: str
    problem: str
    # Repaired by the reindex that --fix ends with (rather than by a step of its own).
    needs_reindex: bool = False


def diagnose(settings: Settings, database: Database) -> list[Finding]:
    model = embedding_model_id(settings.embedding_model, settings.embedding_backend)
    findings: list[Finding] = []
    with database.session() as session:
        orphans = session.scalar(
            select(func.count())
            .select_from(Passage)
            .where(~exists().where(Entry.id == Passage.entry_id))
        )
        if orphans:
            findings.append(Finding("vectors without entries", f"{orphans} stored passage vectors"))
        hollow = session.scalar(select(func.count(Entry.id)).where(_embedded_without_vectors()))
        if hollow:
            findings.append(
                Finding(
                    "entries without vectors",
                    f"{hollow} entries are marked embedded but have no stored vectors",
                    needs_reindex=True,
                )
            )
        stale = stale_entry_ids(session, model, full=False)
        other_model = session.scalar(
            select(func.count()).where(
                Entry.embedding_model.is_not(None), Entry.embedding_model != model
            )
        )
        if other_model:
            findings.append(
                Finding(
                    "model mismatch",
                    f"{other_model} entries were embedded with another model than the "
                    f"configured {model!r}",
                    needs_reindex=True,
                )
            )
        if len(stale) - (other_model or 0) > 0:
            findings.append(
                Finding(
                    "entries without vectors",
                    f"{len(stale) - (other_model or 0)} entries are new or changed since "
                    "they were embedded",
                    needs_reindex=True,
                )
            )
        state = session.get(IndexState, 1)
        generation = state.generation if state else 0
    with database.engine.connect() as connection:
        for problem in keyword_schema.problems(connection):
            findings.append(Finding("keyword index out of date", problem))
    try:
        meta = read_meta(settings.index_dir)
    except IndexUnreadable as error:
        findings.append(Finding("index files", str(error), needs_reindex=True))
        return findings
    if meta is None:
        findings.append(Finding("index files", "no index has been built yet", needs_reindex=True))
    elif meta.model_id != model:
        findings.append(
            Finding(
                "model mismatch",
                f"the index was built with {meta.model_id!r}, kb is configured for {model!r}",
                needs_reindex=True,
            )
        )
    elif meta.generation != generation:
        findings.append(
            Finding(
                "index files",
                f"the index was built at generation {meta.generation}, the database is at "
                f"{generation} (servers catch up by themselves; a reindex saves it)",
                needs_reindex=True,
            )
        )
    elif not (settings.index_dir / meta.vectors_file).exists():
        findings.append(
            Finding("index files", f"{meta.vectors_file} is missing", needs_reindex=True)
        )
    return findings


def repair(database: Database, findings: list[Finding]) -> list[str]:
    """Fix what needs more than a reindex; returns what was done. The caller reindexes."""
    done: list[str] = []
    checks = {finding.check for finding in findings}
    with database.session() as session:
        if "vectors without entries" in checks:
            result = session.execute(
                delete(Passage).where(~exists().where(Entry.id == Passage.entry_id))
            )
            done.append(f"deleted {result.rowcount} passage vectors without an entry")  # type: ignore[attr-defined]
        if "entries without vectors" in checks:
            result = session.execute(
                update(Entry).where(_embedded_without_vectors()).values(embedded_hash=None)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                done.append(f"marked {result.rowcount} entries to be embedded again")  # type: ignore[attr-defined]
        session.commit()
    if "keyword index out of date" in checks:
        with database.engine.begin() as connection:
            keyword_schema.rebuild(connection)
        done.append("rebuilt the keyword index")
    return done


def _embedded_without_vectors() -> ColumnElement[bool]:
    return and_(
        Entry.embedded_hash.is_not(None),
        ~exists().where(Passage.entry_id == Entry.id),
    )
