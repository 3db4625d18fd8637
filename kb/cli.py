"""The `kb` command: import, index, search, evaluate and serve a knowledge base."""

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from kb.database import Database
from kb.settings import Settings


class Context:
    """What commands share; the model loads only when a command needs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def database(self) -> Database:
        database = Database.from_settings(self.settings)
        with _clear_errors():
            database.create_schema()
        return database

    @cached_property
    def embedder(self) -> Any:
        from indexer.embedder import embedder_for

        return embedder_for(self.settings)

    def engine(self) -> Any:
        from search.engine import SearchEngine

        return SearchEngine.open(self.settings, self.database, self.embedder)


def _known_errors() -> tuple[type[Exception], ...]:
    from indexer.model_files import ModelNotFound
    from indexer.vector_index import IndexModelMismatch, IndexUnreadable
    from kb.database import SchemaOutdated
    from kb.sources import ImportRejected
    from search.engine import QueryError

    return (
        ImportRejected,
        QueryError,
        IndexModelMismatch,
        IndexUnreadable,
        ModelNotFound,
        SchemaOutdated,
    )


@contextmanager
def _clear_errors() -> Iterator[None]:
    try:
        yield
    except _known_errors() as error:
        raise click.ClickException(str(error)) from error


@contextmanager
def progress_bar(label: str, total: int, unit: str = "entries") -> Iterator[Any]:
    """A live bar with a rate (entries/s) on a terminal; silent when piped."""
    from tqdm import tqdm

    with tqdm(
        total=total,
        desc=label,
        unit=f" {unit}",
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        yield bar


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="kb")
@click.pass_context
def main(ctx: click.Context) -> None:
    """kb: search what your organisation already knows, before you ask.

    Data lives in the folder KB_HOME (default ./kb-data): a SQLite database and
    the search index. Set KB_DATABASE_URL to use another database.

    \b
    Quick start:
      kb import corpus/        load the demo knowledge base (and index it)
      kb search "VPN error"    search it
      kb serve                 open http://127.0.0.1:8000
    """
    ctx.obj = Context(Settings())


pass_context = click.make_pass_decorator(Context)


@main.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--index/--no-index",
    default=True,
    show_default=True,
    help="Embed new and changed entries right after importing.",
)
@click.option(
    "--update-roles",
    is_flag=True,
    help="Give people who already exist the roles people.yaml says (e.g. admin). Without "
    "it their roles are kept, and every difference is listed.",
)
@pass_context
def import_command(context: Context, path: Path, index: bool, update_roles: bool) -> None:
    """Import entries from PATH: a corpus folder or a JSONL file.

    A folder holds Markdown files with YAML front matter (one entry each),
    people.yaml and organisation.yaml; see corpus/README.md. A JSONL file has
    one entry per line: {id, kind, title, body, author, tags, community,
    created_at, solves, accepted}.

    All or nothing: if any file or line is malformed, every problem is listed
    with its file and line and the database is left unchanged. Importing the
    same ids again updates those entries. Ids (of entries, people and
    communities) are ASCII letters, digits and . _ -, starting with a letter or
    digit.

    People who already exist keep their roles unless --update-roles is given;
    the roles that differ from people.yaml are listed either way.
    """
    from kb.importer import import_batch
    from kb.sources import read_source

    with _clear_errors():
        batch = read_source(path)
        with progress_bar("importing", len(batch.entries)) as bar:
            summary = import_batch(
                context.database,
                batch,
                context.settings.default_community,
                bar.update,
                update_roles=update_roles,
            )
    rate = summary.entries / summary.seconds if summary.seconds else 0.0
    click.echo(
        f"Imported {summary.entries} entries from {summary.files} files in "
        f"{summary.seconds:.1f} s ({rate:.0f} entries/s): {summary.created} new, "
        f"{summary.updated} updated, {summary.unchanged} unchanged; "
        f"{summary.people_created} new people, {summary.communities_created} new communities."
    )
    if summary.role_changes:
        verb = "changed" if update_roles else "kept (people.yaml differs)"
        click.echo(f"Roles {verb} for {len(summary.role_changes)} existing people:")
        for change in summary.role_changes:
            click.echo(f"  {change}")
    if index:
        _run_reindex(context, full=False)


def _run_reindex(context: Context, full: bool) -> None:
    from indexer.pipeline import index_params, reindex
    from search.engine import build_splitter

    with _clear_errors():
        embedder = context.embedder
        splitter = build_splitter(context.settings, embedder)
        with progress_bar("embedding", 0) as bar:
            summary = reindex(
                context.database,
                embedder,
                splitter,
                context.settings.index_dir,
                full=full,
                on_progress=bar.update,
                on_total=bar.reset,
                params=index_params(context.settings),
            )
    built = (
        f"; {summary.index_type} index built in {summary.build_seconds:.1f} s"
        if summary.rebuilt_index
        else ""
    )
    click.echo(
        f"Indexed: {summary.embedded} embedded ({summary.passages} passages), "
        f"{summary.skipped} skipped (unchanged), {summary.removed} removed; "
        f"{summary.vectors_in_index} vectors in the index{built}; {summary.seconds:.1f} s, "
        f"{summary.entries_per_second:.1f} entries/s."
    )


@main.command("reindex")
@click.option("--full", is_flag=True, help="Re-embed every entry and rebuild the index.")
@pass_context
def reindex_command(context: Context, full: bool) -> None:
    """Bring the search index up to date with the database.

    Only new or changed entries are embedded (their content hash differs from
    the one their stored vectors were made from); then the FAISS index is
    rebuilt from the stored vectors and swapped in atomically. A crash midway
    leaves the previous index in use. --full re-embeds everything.
    """
    _run_reindex(context, full)


def _filters(kind: str | None, community: str | None, tag: str | None, status: str | None) -> Any:
    from search.filters import SearchFilters

    return SearchFilters(kind=kind, community=community, tag=tag, status=status)


MODES = click.Choice(["hybrid", "dense", "keyword"])


@main.command("search")
@click.argument("text")
@click.option("--kind", type=click.Choice(["problem", "solution", "practice", "article"]))
@click.option("--community", help="Community id, e.g. maintenance.")
@click.option("--tag", help="Only entries with this tag.")
@click.option(
    "--status",
    help="open, in_progress, solved, closed (problems); draft, community, validated, "
    "standard, archived (others). Drafts and archived entries show only when asked for.",
)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@click.option(
    "--mode",
    type=MODES,
    default="hybrid",
    show_default=True,
    help="hybrid fuses meaning (dense) and exact words (keyword).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@pass_context
def search_command(
    context: Context,
    text: str,
    kind: str | None,
    community: str | None,
    tag: str | None,
    status: str | None,
    limit: int,
    offset: int,
    mode: str,
    as_json: bool,
) -> None:
    """Search the knowledge base for TEXT (words, a question or an error code)."""
    from search.engine import SearchMode, validate_query

    with _clear_errors():
        validate_query(text, context.settings.max_query_chars)
        engine = context.engine()
        results = engine.search(
            text, _filters(kind, community, tag, status), limit, offset, SearchMode(mode)
        )
    if as_json:
        from web.schemas import SearchResponse

        click.echo(SearchResponse.from_results(results).model_dump_json(indent=2))
        return
    if not results.hits:
        click.echo(f"No entries match {text!r}. Try other words, or fewer filters.")
        return
    click.echo(
        f"{results.total} matches for {text!r}; showing {offset + 1}-"
        f"{offset + len(results.hits)}:\n"
    )
    for number, hit in enumerate(results.hits, start=offset + 1):
        badge = {"solved": " [solved]", "open": " [open]"}.get(hit.status, "")
        click.echo(
            click.style(f"{number:>3}. {hit.id}", bold=True) + f"  {hit.kind}{badge}  {hit.title}"
        )
        click.echo(f"     {_styled_snippet(hit.snippet)}")
        if hit.accepted_solution:
            solution = hit.accepted_solution
            click.echo(
                f"     accepted solution: {solution.id} by {solution.author}: {solution.title}"
            )
        click.echo(f"     {hit.community} · {hit.author} · score {hit.score:.4f}\n")


def _styled_snippet(snippet: Any) -> str:
    parts, position = [], 0
    for start, end in snippet.highlights:
        parts.append(snippet.text[position:start])
        parts.append(click.style(snippet.text[start:end], bold=True, underline=True))
        position = end
    parts.append(snippet.text[position:])
    return "".join(parts)


@main.command("eval")
@click.option(
    "--task",
    type=click.Choice(["retrieval", "experts"]),
    default="retrieval",
    show_default=True,
    help="retrieval: rank entries, qrels name entry ids. "
    "experts: rank people, qrels name person ids.",
)
@click.option(
    "--queries",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL, one {id, text} per line.",
)
@click.option(
    "--qrels",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TSV: query_id, entry or person id, relevance (> 0 is relevant).",
)
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Hits (or people) ranked per query.",
)
@click.option(
    "--run-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the run: query_id, entry or person id, rank, score (tab-separated).",
)
@click.option(
    "--candidates",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Re-rank protocol: score each query only on its listed candidates.",
)
@click.option("--mode", type=MODES, default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@pass_context
def eval_command(
    context: Context,
    task: str,
    queries: Path,
    qrels: Path,
    limit: int,
    run_out: Path | None,
    candidates: Path | None,
    mode: str,
    as_json: bool,
) -> None:
    """Run every query and print the metrics.

    \b
    --task retrieval (default): MAP, MRR, nDCG@10, P@1 and Recall@10 of the
    entries found.
    --task experts: the people `kb experts` suggests, scored by MRR (on the
    people with the query's highest grade, e.g. the accepted answerer), P@1 and
    Hit@5 (any relevant person) and nDCG@10. A query's `date`, if given, is the
    moment recency is measured from; a query longer than KB_MAX_QUERY_CHARS is
    cut to that length.
    """
    if task == "experts":
        if candidates is not None or mode != "hybrid":
            raise click.UsageError("--candidates and --mode apply to --task retrieval only")
        _eval_experts(context, queries, qrels, limit, run_out, as_json)
        return
    from search.engine import SearchMode
    from search.evaluation import (
        evaluate,
        load_candidates,
        load_qrels,
        load_queries,
        restrict_to_candidates,
    )

    with _clear_errors():
        query_list = load_queries(queries)
        judgements = load_qrels(qrels)
        allowed = load_candidates(candidates) if candidates else None
        engine = context.engine()
        run: dict[str, list[str]] = {}
        lines: list[str] = []
        started = time.perf_counter()
        with progress_bar("querying", len(query_list), "queries") as bar:
            for query in query_list:
                results = engine.search(query.text, limit=limit, mode=SearchMode(mode))
                ranking = [hit.id for hit in results.hits]
                scores = {hit.id: hit.score for hit in results.hits}
                if allowed is not None:
                    ranking = restrict_to_candidates(ranking, allowed.get(query.id, []))
                run[query.id] = ranking
                lines.extend(
                    f"{query.id}\t{doc}\t{rank}\t{scores.get(doc, 0.0):.6f}"
                    for rank, doc in enumerate(ranking, start=1)
                )
                bar.update(1)
        seconds = time.perf_counter() - started
    metrics = evaluate(run, judgements, [q.id for q in query_list])
    if run_out:
        run_out.write_text("\n".join(lines) + "\n")
    if as_json:
        click.echo(json.dumps({"queries": len(query_list), "mode": mode, **metrics}, indent=2))
        return
    click.echo(f"{len(query_list)} queries, mode {mode}, {seconds:.1f} s")
    for name, value in metrics.items():
        click.echo(f"{name:<10} {value:.4f}")


def _eval_experts(
    context: Context,
    queries: Path,
    qrels: Path,
    limit: int,
    run_out: Path | None,
    as_json: bool,
) -> None:
    from kb.cli_tune import eval_experts

    eval_experts(context, queries, qrels, limit, run_out, as_json)


REASONS_SHOWN = 3  # per person in the text output; --json has them all


@main.command("experts")
@click.argument("text")
@click.option("--community", help="Only cases from this community, e.g. maintenance.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="Print the people and reasons as JSON.")
@pass_context
def experts_command(
    context: Context, text: str, community: str | None, limit: int, as_json: bool
) -> None:
    """Who to ask about TEXT: the people who solved similar problems.

    kb finds the past cases most similar to TEXT (hybrid search); each person
    gains evidence from the cases they took part in, weighted by how similar the
    case is, by their role (accepted solution > other solution > good practice)
    and by how recent their contribution is. Each person is listed with the
    cases that gave the evidence.
    """
    from search.engine import validate_query
    from search.routing import suggest_people

    with _clear_errors():
        validate_query(text, context.settings.max_query_chars)
        engine = context.engine()
        with context.database.session() as session:
            # Busy people are down-weighted; away and opted-out people are left out.
            experts = suggest_people(engine, session, text, community=community, limit=limit)
    if as_json:
        from web.api_experts import ExpertsResponse

        response = ExpertsResponse.from_experts(text, community, experts)
        click.echo(response.model_dump_json(indent=2))
        return
    if not experts:
        click.echo(f"Nobody has worked on cases like {text!r} yet. Try other words.")
        return
    for number, expert in enumerate(experts, start=1):
        click.echo(
            click.style(f"{number:>3}. {expert.name} ({expert.person})", bold=True)
            + f"  score {expert.score:.4f}"
        )
        if expert.explanations:
            click.echo(f"     {'; '.join(expert.explanations)}")
        for reason in expert.reasons[:REASONS_SHOWN]:
            click.echo(
                f"     {reason.role} {reason.entry_id} on {reason.case_id}: "
                f"{reason.title} (similarity {reason.similarity:.2f})"
            )
        hidden = len(expert.reasons) - REASONS_SHOWN
        if hidden > 0:
            click.echo(f"     … and {hidden} more case{'s' if hidden != 1 else ''}")
        click.echo()


@main.command("remove")
@click.argument("ids", nargs=-1, required=True)
@pass_context
def remove_command(context: Context, ids: tuple[str, ...]) -> None:
    """Delete entries by id; they leave search at the next reindex or restart."""
    from kb.entries import remove_entries

    removed = remove_entries(context.database, list(ids))
    missing = sorted(set(ids) - set(removed))
    click.echo(
        f"Removed {len(removed)} entries."
        + (f" Not found: {', '.join(missing)}" if missing else "")
    )


@main.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def status_command(context: Context, as_json: bool) -> None:
    """Show what is in the database and the index."""
    from kb.status import collect_status
    from search.learned_routing import routing_status

    status = collect_status(context.settings, context.database)
    with context.database.session() as session:
        status["routing"] = routing_status(context.settings.home, session).reason
    if as_json:
        click.echo(json.dumps(status, indent=2, default=str))
        return
    for key, value in status.items():
        click.echo(f"{key:<22} {value}")


@main.command("serve")
@click.option("--host", default=None, help="Address to listen on [default: KB_HOST or 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port [default: KB_PORT or 8000].")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes [default: KB_WORKERS, or one per core up to 4]; each holds its "
    "own index and catches up with the database.",
)
@pass_context
def serve_command(
    context: Context, host: str | None, port: int | None, workers: int | None
) -> None:
    """Serve the web app and the JSON API (documented at /docs).

    Reading needs a signed-in user unless KB_PUBLIC_READ=1; add users with
    `kb user add`. With several workers, settings come from KB_* variables,
    and KB_SECRET_KEY must be set when the workers do not share KB_HOME.
    """
    from web.workers import Dealer, default_workers

    workers = workers or context.settings.workers or default_workers()
    if workers == 1:
        _serve(context.settings, host, port)
        return
    import uvicorn

    context.database.dispose()  # created or checked here once: refuses an old schema
    config = uvicorn.Config(
        "web.app:create_app",
        factory=True,
        workers=workers,
        host=host or context.settings.host,
        port=port or context.settings.port,
        log_level="info",
        **proxy_options(context.settings),  # the workers get them with the config
    )
    Dealer(config, workers).run()


def _serve(settings: Settings, host: str | None, port: int | None, demo_password: str = "") -> None:
    import uvicorn

    from web.app import create_app

    with _clear_errors():
        app = create_app(settings)
    app.state.demo_password = demo_password
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        **proxy_options(settings),
    )


def proxy_options(settings: Settings) -> dict[str, Any]:
    """Whose X-Forwarded-For/-Proto uvicorn believes: only KB_FORWARDED_ALLOW_IPS's.
    uvicorn's own default believes 127.0.0.1, so that anyone on the machine could pose as
    any address (and get fresh sign-in throttle counts with each)."""
    allowed = (settings.forwarded_allow_ips or "").strip()
    if not allowed:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": allowed}


# Stated in the README; set only by `kb demo`, only for people who have no password yet.
DEMO_PASSWORD = "brightwater-demo"


@main.command("demo")
@click.option(
    "--corpus",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Corpus folder [default: the corpus/ shipped with kb].",
)
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@click.option("--no-serve", is_flag=True, help="Import and index only.")
@click.pass_context
def demo_command(
    ctx: click.Context, corpus: Path | None, host: str | None, port: int | None, no_serve: bool
) -> None:
    """Load the demo corpus, index it and serve it on http://127.0.0.1:8000.

    Everyone may read without signing in; every demo person signs in with the
    demo password (see the README), for example as leon.fischer.
    """
    from kb.accounts import set_password_for_all

    context: Context = ctx.obj
    folder = corpus or shipped_corpus()
    ctx.invoke(import_command, path=folder, index=True)
    with context.database.session() as session:
        set_password_for_all(session, DEMO_PASSWORD)
        session.commit()
    click.echo(f"Demo people sign in with the password {DEMO_PASSWORD!r}.")
    if not no_serve:
        settings = context.settings.model_copy(update={"public_read": True})
        _serve(settings, host, port, demo_password=DEMO_PASSWORD)


def shipped_corpus() -> Path:
    folder = Path(__file__).resolve().parent.parent / "corpus"
    if not folder.is_dir():
        raise click.ClickException("the demo corpus is not installed here; pass --corpus PATH")
    return folder


def _register_commands() -> None:
    from kb.cli_accounts import token_group, user_group
    from kb.cli_db import backup_command, db_group, doctor_command, restore_command
    from kb.cli_export import export_group
    from kb.cli_report import report_command
    from kb.cli_routing import escalate_command
    from kb.cli_tune import tune_group

    main.add_command(report_command)
    main.add_command(export_group)
    main.add_command(user_group)
    main.add_command(token_group)
    main.add_command(escalate_command)
    main.add_command(db_group)
    main.add_command(tune_group)
    main.add_command(doctor_command)
    main.add_command(backup_command)
    main.add_command(restore_command)


_register_commands()
