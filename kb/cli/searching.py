"""`kb search`, `kb eval` and `kb experts`."""

import json
import time
from pathlib import Path
from typing import Any

import click

from kb.cli.context import Context, clear_errors, pass_context, progress_bar
from kb.cli.tune import eval_experts
from kb.models import EntryKind


def _filters(kind: str | None, community: str | None, tag: str | None, status: str | None) -> Any:
    from search.filters import SearchFilters

    return SearchFilters(kind=kind, community=community, tag=tag, status=status)


MODES = click.Choice(["hybrid", "dense", "keyword"])


@click.command("search")
@click.argument("text")
@click.option(
    "--kind",
    type=click.Choice([kind.value for kind in EntryKind]),
    help="Only entries of this kind.",
)
@click.option("--community", help="Community id, e.g. maintenance.")
@click.option("--tag", help="Only entries with this tag.")
@click.option(
    "--status",
    help="open, in_progress, solved, closed (problems); draft, community, validated, "
    "standard, archived (others). Drafts and archived entries show only when asked for.",
)
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many hits to show.",
)
@click.option(
    "--offset",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Skip this many hits first (the next page).",
)
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

    with clear_errors():
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


@click.command("eval")
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
@click.option(
    "--mode",
    type=MODES,
    default="hybrid",
    show_default=True,
    help="Retrieval to evaluate: dense vectors, keywords, or both fused.",
)
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
        eval_experts(context, queries, qrels, limit, run_out, as_json)
        return
    from search.engine import SearchMode
    from search.evaluation import (
        evaluate,
        load_candidates,
        load_qrels,
        load_queries,
        restrict_to_candidates,
    )

    with clear_errors():
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


REASONS_SHOWN = 3  # per person in the text output; --json has them all


@click.command("experts")
@click.argument("text")
@click.option("--community", help="Only cases from this community, e.g. maintenance.")
@click.option(
    "--limit",
    default=5,
    show_default=True,
    type=click.IntRange(1, 100),
    help="How many people to suggest.",
)
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

    with clear_errors():
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
