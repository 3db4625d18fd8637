"""`kb tune routing` and `kb eval --task experts`: learned routing, trained and measured."""

import json
import time
from pathlib import Path
from typing import Any

import click

from kb.cli.context import clear_errors, progress_bar


@click.group("tune")
def tune_group() -> None:
    """Learn from the knowledge base's own history."""


@tune_group.command("routing")
@click.option("--json", "as_json", is_flag=True, help="Print the stored model's summary as JSON.")
def tune_routing_command(as_json: bool) -> None:
    """Train the model that suggests who to ask.

    kb replays its own solved problems oldest first, gathers the candidate people of
    each as of the problem's date (the people of similar cases, of its tags, the most
    active solvers) with their features (similar cases solved, recent and all-time
    solutions, tags, declared expertise, routings), and learns who solved it (the
    accepted solution above other solutions). The model is measured on the newest
    fifth of the history (trained on the rest), retrained on all of it and stored in
    KB_HOME/routing-model.json; `kb experts`, the API and the web app use it from then
    on. Run it again after a large import or `kb reindex --full`.
    """
    from search.expert_model import MIN_SOLVED_PROBLEMS
    from search.learned_routing import history_of, tune_routing

    context = click.get_current_context().find_root().obj
    started = time.perf_counter()
    with clear_errors():
        engine = context.engine()
        with context.database.session() as session:
            history = history_of(engine, session)
            if history.solved_problems < MIN_SOLVED_PROBLEMS:
                raise click.ClickException(
                    f"only {history.solved_problems} solved problems; at least "
                    f"{MIN_SOLVED_PROBLEMS} are needed to learn from (until then kb ranks "
                    "people by the explained formula)"
                )
            with progress_bar("replaying", history.solved_problems, "problems") as bar:
                model = tune_routing(engine, session, on_progress=lambda: bar.update(1))
        path = model.save(context.settings.home)
    seconds = time.perf_counter() - started
    summary: dict[str, Any] = {
        "model": str(path),
        "trained_at": model.trained_at,
        "trained_on": model.trained_on,
        "history_to": model.history_to,
        "figures": model.figures,
        "seconds": round(seconds, 1),
        "weights": dict(zip(model.features, (round(w, 4) for w in model.weights), strict=True)),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    figures = model.figures
    click.echo(
        f"Trained on {model.trained_on} solved problems (to {model.history_to}) in {seconds:.1f} s."
    )
    if figures:
        click.echo(
            f"On the newest {int(figures['held_out_problems'])} (trained on the older ones): "
            f"MRR {figures['MRR']:.3f}, P@1 {figures['P@1']:.3f}, Hit@5 {figures['Hit@5']:.3f}; "
            f"most solutions: MRR {figures['popularity_MRR']:.3f}."
        )
    click.echo(f"Stored in {path}.")


METHODS = ("learned", "formula", "popularity", "bm25 voting")


def eval_experts(
    context: Any, queries: Path, qrels: Path, limit: int, run_out: Path | None, as_json: bool
) -> None:
    """Every method on the same queries, in one run (see `kb eval --help`)."""
    from kb.models import utcnow
    from search.evaluation import (
        bootstrap_difference,
        evaluate_experts,
        load_qrels,
        load_queries,
        per_query_reciprocal_ranks,
    )
    from search.expert_features import ProblemQuery, build_pool
    from search.experts import ExpertScoring, gather_evidence, rank_experts
    from search.learned_routing import (
        history_of,
        keyword_voting_ranking,
        learned_experts,
        popularity_ranking,
        routing_status,
        tune_routing,
    )

    scoring = ExpertScoring()
    max_chars = context.settings.max_query_chars
    with clear_errors():
        query_list = load_queries(queries)
        judgements = load_qrels(qrels)
        engine = context.engine()
        runs: dict[str, dict[str, list[str]]] = {method: {} for method in METHODS}
        lines: dict[str, list[str]] = {"learned": [], "formula": []}
        started = time.perf_counter()
        with context.database.session() as session:
            history = history_of(engine, session)
            status = routing_status(context.settings.home, session)
            model, model_source = status.model, "stored"
            if model is None and status.solved_problems >= 2:
                # No stored model: learn one from this knowledge base's own history (the
                # corpus side of the split), never from the queries.
                model, model_source = tune_routing(engine, session), "trained for this run"
            pool_hits = ceiling = 0
            with progress_bar("querying", len(query_list), "queries") as bar:
                for query in query_list:
                    text = query.text[:max_chars]
                    moment = query.date or utcnow()
                    problem = ProblemQuery(text, moment, query.tags)
                    cases = gather_evidence(engine, text, cases=scoring.cases)
                    formula = rank_experts(cases, scoring, limit=limit, now=moment)
                    runs["formula"][query.id] = [e.person for e in formula]
                    lines["formula"].extend(
                        f"{query.id}\t{e.person}\t{rank}\t{e.score:.6f}"
                        for rank, e in enumerate(formula, start=1)
                    )
                    runs["popularity"][query.id] = popularity_ranking(history, moment)[:limit]
                    runs["bm25 voting"][query.id] = keyword_voting_ranking(
                        engine, history, problem
                    )[:limit]
                    if model is not None:
                        experts = learned_experts(engine, session, model, problem, limit=limit)
                        runs["learned"][query.id] = [e.person for e in experts]
                        lines["learned"].extend(
                            f"{query.id}\t{e.person}\t{rank}\t{e.score:.6f}"
                            for rank, e in enumerate(experts, start=1)
                        )
                    grades = judgements.get(query.id, {})
                    top = max(grades.values(), default=0)
                    best = {p for p, g in grades.items() if g > 0 and g == top}
                    known = {
                        p
                        for p in best
                        if history.solved_dates.get(p, [None])[0] is not None
                        and history.solved_dates[p][0] < moment
                    }
                    ceiling += bool(known)
                    pool = {c.person for c in build_pool(engine, history, problem)}
                    pool_hits += bool(best & pool)
                    bar.update(1)
        seconds = time.perf_counter() - started
    ids = [q.id for q in query_list]
    metrics = {m: evaluate_experts(runs[m], judgements, ids) for m in METHODS if runs[m]}
    reciprocal = {m: per_query_reciprocal_ranks(runs[m], judgements, ids) for m in metrics}
    comparisons = {}
    if "learned" in metrics:
        for other in ("formula", "popularity", "bm25 voting"):
            mean, low, high = bootstrap_difference(reciprocal["learned"], reciprocal[other])
            comparisons[f"learned - {other}"] = {"MRR": mean, "low": low, "high": high}
    default = "learned" if model_source == "stored" and status.learned else "formula"
    result: dict[str, Any] = {
        "queries": len(query_list),
        "task": "experts",
        "ceiling": ceiling,
        "pool_recall": pool_hits / len(query_list) if query_list else 0.0,
        "model": model_source if model is not None else "none (too little history)",
        "methods": metrics,
        "mrr_differences": comparisons,
        # The top-level figures are those of the ranking `kb experts` uses here: the
        # stored model when there is one and history enough, else the formula.
        "default": default,
        **metrics[default],
    }
    if run_out:
        run_out.write_text("\n".join(lines[default]) + "\n")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"{len(query_list)} queries, task experts, {seconds:.1f} s; "
        f"{ceiling} with a best-graded person who solved something before the query's date; "
        f"pool recall {result['pool_recall']:.3f}; model: {result['model']}"
    )
    click.echo(f"{'method':<14}" + "".join(f"{name:>9}" for name in next(iter(metrics.values()))))
    for method, figures in metrics.items():
        click.echo(f"{method:<14}" + "".join(f"{value:>9.4f}" for value in figures.values()))
    for name, figures in comparisons.items():
        click.echo(
            f"{name}: MRR {figures['MRR']:+.4f} (95% bootstrap {figures['low']:+.4f} to "
            f"{figures['high']:+.4f})"
        )
