"""The tutors' console: knowledge gaps, failed searches, unanswered problems and
community health, for tutors, community leaders, knowledge managers and admins."""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from indexer.status import collect_status
from kb.browse import community_visible, visible_communities
from kb.errors import NotAllowed
from kb.gaps import CONSOLE_DENIED, GapToAssign, assign_gap, may_use_console, open_gaps
from kb.health import HealthReport, community_health
from kb.models import Person, utcnow
from kb.search_log import failed_searches, prune
from kb.settings import Settings
from search.engine import SearchEngine
from search.gaps import find_gaps, gap_of_texts, unanswered_problems
from web.auth import FormWriterDep, SignedInDep, VisibilityDep
from web.charts import bar_chart, line_chart, sparkline
from web.deps import EngineDep, SessionDep
from web.templating import templates

router = APIRouter(include_in_schema=False)


def health_charts(report: HealthReport) -> dict[str, Any]:
    labels = [week.week.strftime("%d %b") for week in report.weeks]
    return {
        "asked_solved": bar_chart(
            "Problems asked and solved per week",
            labels,
            {
                "asked": [w.asked for w in report.weeks],
                "solved": [w.solved for w in report.weeks],
            },
        ),
        "speed": line_chart(
            "Median hours to first answer and to the accepted solution",
            labels,
            {
                "to first answer (h)": [w.hours_to_first_answer for w in report.weeks],
                "to solution (h)": [w.hours_to_solution for w in report.weeks],
            },
        ),
        "activity": bar_chart(
            "Reuse of existing answers and active contributors per week",
            labels,
            {
                "reuses": [w.reuses for w in report.weeks],
                "contributors": [w.contributors for w in report.weeks],
            },
        ),
    }


@router.get("/console", response_class=HTMLResponse, name="console_page")
def console_page(
    request: Request,
    person: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
    community: str | None = None,
    weeks: Annotated[int, Query(ge=1, le=104)] = 8,
) -> Response:
    if not may_use_console(person):
        raise NotAllowed(CONSOLE_DENIED)
    settings = request.app.state.settings
    community = community or None
    now = utcnow()
    since = now - timedelta(weeks=weeks)
    prune(session, settings.search_log_days, now=now)
    if community is not None and not community_visible(session, community, visibility):
        raise HTTPException(404, f"no community has the id {community!r}")
    report = community_health(
        session, since=since, community=community, now=now, visibility=visibility
    )
    gaps = find_gaps(
        engine,
        session,
        settings,
        since=since,
        community=community,
        now=now,
        visibility=visibility,
    )
    assigned = open_gaps(session)
    failed = failed_searches(
        session,
        settings.failed_search_similarity,
        since,
        community,
        now=now,
        visibility=visibility,
    )
    context = {
        "report": report,
        "charts": health_charts(report),
        "gaps": gaps,
        "sparkline": sparkline,
        "assigned": assigned,
        "topics": [gap for gap in gaps if gap.size > 1][:3],
        "failed": list(reversed(failed))[:15],
        "unanswered": unanswered_problems(session, since, community, visibility)[:15],
        "communities": visible_communities(session, visibility),
        "people": list(session.scalars(select(Person).order_by(Person.name))),
        "community": community,
        "weeks": weeks,
        "index": index_report(engine, settings),
    }
    return templates.TemplateResponse(request, "console.html", context)


def index_report(engine: SearchEngine, settings: Settings) -> dict[str, object]:
    """The index this server searches, and the saved one `kb status` describes."""
    live = engine.describe_index()
    saved = collect_status(settings, engine.database)
    return {
        "vectors": live.vectors,
        "type": live.index_type,
        "cells": live.cells,
        "model": live.model_id,
        "generation": live.generation,
        "db_generation": saved["db_generation"],
        "path": saved["index_path"],
        "bytes": saved["index_bytes"],
        "built_at": saved["index_built_at"],
        "entries_to_embed": saved["entries_to_embed"],
        "cache": f"{engine.query_cache.hits} hits, {engine.query_cache.misses} misses",
    }


@router.post("/console/gaps")
def post_gap(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    engine: EngineDep,
    texts: Annotated[list[str], Form()],
    label: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    community: Annotated[str, Form()] = "",
) -> Response:
    """Assign a gap (the group's texts, as the console showed them) to a person."""
    if not may_use_console(person):
        raise NotAllowed(CONSOLE_DENIED)
    texts = [text for text in texts if text.strip()][:100]
    cluster = gap_of_texts(engine, texts, label)
    gap = GapToAssign(cluster.label, cluster.examples, cluster.size, cluster.centroid)
    assign_gap(session, person, gap, assignee, note, community or None)
    return RedirectResponse("/console#gaps", status_code=303)
