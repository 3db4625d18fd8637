"""The tutors' console: knowledge gaps, failed searches, unanswered problems and
community health, for tutors, community leaders, knowledge managers and admins."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.status import collect_status
from kb.browse import community_visible, visible_communities
from kb.errors import NotAllowed
from kb.gaps import CONSOLE_DENIED, GapToAssign, assign_gap, may_use_console, open_gaps
from kb.health import HealthReport, community_health
from kb.models import Gap, Person, utcnow
from kb.search_log import prune
from kb.settings import Settings
from kb.visibility import Visibility
from search.engine import SearchEngine
from search.gaps import GapCluster, gap_of_texts, gap_report, unanswered_problems
from search.routing import suggest_people
from web.auth import FormWriterDep, SignedInDep, VisibilityDep
from web.charts import bar_chart, line_chart, sparkline
from web.deps import EngineDep, SessionDep
from web.flash import flash
from web.pages import capture_context
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
    found = gap_report(
        engine,
        session,
        settings,
        since=since,
        community=community,
        now=now,
        visibility=visibility,
    )
    gaps = [gap for gap in found.clusters if gap.answered_by is None]
    answered = [gap for gap in found.clusters if gap.answered_by is not None]
    shown = gaps[:GAPS_SHOWN]
    people = list(session.scalars(select(Person).order_by(Person.name)))
    context = {
        "report": report,
        "charts": health_charts(report),
        "sparkline": sparkline,
        "assigned": open_gaps(session),
        "topics": [gap for gap in gaps if gap.size > 1][:3],
        "answered": answered[:10],
        "noise": found.noise,
        "failed": list(reversed(found.failed))[:15],
        "unanswered": unanswered_problems(session, since, community, visibility)[:15],
        "communities": visible_communities(session, visibility),
        "gaps": shown,
        "assign_choices": [
            assign_choices(engine, session, gap, people, visibility) for gap in shown
        ],
        "practice_urls": [practice_url(gap, community) for gap in shown],
        "community": community,
        "weeks": weeks,
        "index": index_report(engine, settings),
    }
    return templates.TemplateResponse(request, "console.html", context)


GAPS_SHOWN = 20
SUGGESTED = 3


@dataclass(frozen=True)
class AssignChoice:
    handle: str
    name: str
    why: str = ""  # for a suggested expert: the evidence, in words


def assign_choices(
    engine: SearchEngine,
    session: Session,
    gap: GapCluster,
    people: list[Person],
    visibility: Visibility,
) -> tuple[list[AssignChoice], list[AssignChoice]]:
    """Whom to offer in a gap's Assign list: the experts kb suggests for its texts
    (search.routing, with why), then everyone else by name."""
    text = "\n".join(gap.examples[:3])[: engine.settings.max_query_chars]
    experts = suggest_people(engine, session, text, limit=SUGGESTED, visibility=visibility)
    suggested = [
        AssignChoice(e.person, e.name, "; ".join(e.explanations) or "similar cases")
        for e in experts
    ]
    handles = {choice.handle for choice in suggested}
    others = [AssignChoice(p.handle, p.name) for p in people if p.handle not in handles]
    return suggested, others


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
    assigned = assign_gap(session, person, gap, assignee, note, community or None)
    flash(request, f"Assigned to {assigned.assigned_to.name}: “{assigned.label}” is in their inbox")
    return RedirectResponse("/console#gaps", status_code=303)


def practice_url(gap: GapCluster, community: str | None) -> str:
    """Where the console's "Write the practice" opens the capture form, filled in."""
    params = {"label": gap.label, "community": gap.community or community or ""}
    return "/console/practice?" + urlencode({**params, "texts": gap.examples}, doseq=True)


def practice_form(label: str, examples: list[str], community: str | None) -> dict[str, str]:
    """The capture form for the practice that fills a gap: the most central search as
    the title, the searches as a prompt in the body, the label's words as tags."""
    central = " ".join((examples[0] if examples else label).split())
    title = (central[:1].upper() + central[1:])[:300]
    searched = "\n".join(f"- “{text}”" for text in examples[:5])
    body = (
        f"People looked for this and found nothing that answered it:\n\n{searched}\n\n"
        "When it applies:\n\nThe steps:\n\nWhy it works, and what to watch out for:\n"
    )
    tags = ", ".join(term.strip() for term in label.split(",") if term.strip())
    form = {"title": title, "body": body, "tags": tags}
    return form | ({"community": community} if community else {})


@router.get("/gaps/{gap_id}/practice", response_class=HTMLResponse, name="gap_practice_page")
def gap_practice_page(
    request: Request,
    gap_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    person: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    """The capture form, filled in from an assigned gap (its assignee or the console)."""
    gap = session.get(Gap, gap_id)
    if gap is None or (
        gap.community is not None and not community_visible(session, gap.community, visibility)
    ):
        raise HTTPException(404, f"no knowledge gap has the id {gap_id}")
    if gap.assigned_to_id != person.id and not may_use_console(person):
        raise NotAllowed("this gap is assigned to someone else")
    form = practice_form(gap.label, list(gap.examples or []), gap.community)
    context = capture_context(session, person, visibility, form)
    return templates.TemplateResponse(request, "capture.html", context)


@router.get("/console/practice", response_class=HTMLResponse, name="console_practice_page")
def console_practice_page(
    request: Request,
    person: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
    texts: Annotated[list[str], Query(max_length=1000)],
    label: Annotated[str, Query(max_length=300)] = "",
    community: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The capture form, filled in from a gap the console shows (not assigned yet)."""
    if not may_use_console(person):
        raise NotAllowed(CONSOLE_DENIED)
    if community and not community_visible(session, community, visibility):
        raise HTTPException(404, f"no community has the id {community!r}")
    examples = [text for text in texts if text.strip()][:5]
    if not examples:
        raise HTTPException(400, "say which searches the practice answers (texts=…)")
    form = practice_form(label, examples, community or None)
    context = capture_context(session, person, visibility, form)
    return templates.TemplateResponse(request, "capture.html", context)
