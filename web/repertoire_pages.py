"""Pages of the standard repertoire: articles and candidates, the review queue, state
changes, promotion, collections and their booklets."""

from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import select

from kb import collections as kb_collections
from kb import repertoire as kb_repertoire
from kb import reviews as kb_reviews
from kb.browse import visible_communities
from kb.entry_schema import parse_tags
from kb.errors import InvalidContribution
from kb.lifecycle import change_state
from kb.models import Article, Collection, Entry, Person
from kb.permissions import Action, allowed, require
from kb.visibility import Visibility, visibility_for
from web.auth import FormWriterDep, ReaderDep, SignedInDep, VisibilityDep
from web.deps import FormText, RowId, SessionDep, article_or_404, entry_or_404
from web.flash import flash
from web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/repertoire", response_class=HTMLResponse, name="repertoire_page")
def repertoire_page(
    request: Request, viewer: ReaderDep, session: SessionDep, visibility: VisibilityDep
) -> Response:
    managing = viewer is not None and allowed(viewer, Action.PROMOTE)
    context: dict[str, Any] = {
        "articles": kb_repertoire.repertoire(session, visibility),
        "collections": list(session.scalars(select(Collection).order_by(Collection.title))),
        "managing": managing,
        "candidates": kb_repertoire.promotion_candidates(session, visibility) if managing else [],
        "duplicates": (
            kb_repertoire.near_duplicate_solutions(session, visibility) if managing else []
        ),
        "is_overdue": kb_reviews.is_overdue,
    }
    return templates.TemplateResponse(request, "repertoire.html", context)


@router.get("/repertoire/new", response_class=HTMLResponse, name="new_article_page")
def new_article_page(
    request: Request,
    person: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
    source: str = "",
) -> Response:
    require(person, Action.PROMOTE)
    sources = [entry_or_404(session, s, visibility) for s in source.split(",") if s.strip()]
    form: dict[str, str] = {"sources": ",".join(s.external_id for s in sources)}
    if sources:
        first = sources[0]
        accepted = [s for s in first.solutions if s.accepted]
        form.update(
            title=first.title,
            problem=first.body,
            resolution=accepted[0].body if accepted else "",
            tags=", ".join(first.tags),
        )
    return _article_form(request, session, person, form, None)


def _article_form(
    request: Request,
    session: SessionDep,
    person: Person,
    form: dict[str, str],
    error: str | None,
    status: int = 200,
) -> Response:
    context = {
        "form": form,
        "error": error,
        "sections": kb_repertoire.SECTIONS,
        "communities": visible_communities(session, visibility_for(session, person)),
        "people": list(session.scalars(select(Person).order_by(Person.name))),
        "me": person,
        "default_interval": request.app.state.settings.review_interval_days,
    }
    return templates.TemplateResponse(request, "article_form.html", context, status_code=status)


@router.post("/repertoire/new", response_class=HTMLResponse)
async def post_article(
    request: Request, person: FormWriterDep, session: SessionDep, visibility: VisibilityDep
) -> Response:
    form = {key: str(value) for key, value in (await request.form()).items()}
    try:
        sources = [
            entry_or_404(session, s.strip(), visibility)
            for s in form.get("sources", "").split(",")
            if s.strip()
        ]
        owner = session.scalar(select(Person).where(Person.handle == form.get("owner", "")))
        interval_text = form.get("review_interval_days", "") or "0"
        if not interval_text.isdigit():
            raise InvalidContribution("the review interval is a number of days")
        article = kb_repertoire.promote_to_article(
            session,
            person,
            title=form.get("title", ""),
            sections={key: form.get(key, "") for key in kb_repertoire.SECTIONS},
            sources=sources,
            owner=owner,
            scope=form.get("scope") or None,
            review_interval_days=int(interval_text),
            tags=parse_tags(form.get("tags", "")),
        )
    except (InvalidContribution, HTTPException) as error:
        message = str(error.detail) if isinstance(error, HTTPException) else str(error)
        return _article_form(request, session, person, form, message, 422)
    next_review = article.next_review_at.strftime("%d %b %Y")
    flash(request, f"Article created in the standard repertoire; first review by {next_review}")
    return RedirectResponse(f"/entries/{article.entry.external_id}", status_code=303)


# The message after each state change of the entry page's buttons.
STATE_CHANGED = {
    "closed": "Closed. If it comes back, reopen it",
    "open": "Reopened: it is an open problem again",
    "community": "Published to the community",
    "validated": "Validated",
    "standard": "Promoted to standard",
    "archived": "Archived: search no longer shows it first",
}


@router.post("/entries/{external_id}/state")
def post_state(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    to: FormText = "",
    note: FormText = "",
) -> Response:
    entry = change_state(session, person, entry_or_404(session, external_id, visibility), to, note)
    flash(request, STATE_CHANGED.get(entry.status, f"Now {entry.status}"))
    return RedirectResponse(f"/entries/{entry.external_id}", status_code=303)


@router.get("/reviews", response_class=HTMLResponse, name="reviews_page")
def reviews_page(
    request: Request,
    person: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
    owner: str = "",
    view: str = "due",
    sort: str = "date",
) -> Response:
    """Two views: "due" (requested, overdue, due soon, by owner) and "upcoming" (every
    article with its next review date, sortable and filtered by owner)."""
    owner_person = session.scalar(select(Person).where(Person.handle == owner)) if owner else None
    if owner and owner_person is None:
        raise HTTPException(422, f"nobody is called {owner!r}")
    if view not in ("due", "upcoming"):
        raise HTTPException(422, f"the views are due and upcoming, not {view!r}")
    queue = kb_reviews.review_queue(
        session,
        due_within_days=request.app.state.settings.review_due_soon_days,
        owner=owner_person,
        visibility=visibility,
    )
    by_owner: dict[str, list[kb_reviews.QueueItem]] = {}
    for item in queue:
        by_owner.setdefault(item.article.owner.name, []).append(item)
    upcoming = (
        kb_reviews.upcoming_reviews(session, visibility, owner_person, sort)
        if view == "upcoming"
        else []
    )
    owners = session.scalars(
        select(Person).where(Person.id.in_(select(Article.owner_id))).order_by(Person.name)
    )
    context = {
        "by_owner": by_owner,
        "count": len(queue),
        "may_review": allowed(person, Action.SET_REVIEW),
        "owner": owner,
        "owners": list(owners),
        "view": view,
        "sort": sort,
        "upcoming": upcoming,
        "is_overdue": kb_reviews.is_overdue,
    }
    return templates.TemplateResponse(request, "reviews.html", context)


@router.get("/entries/{external_id}/schedule", response_class=HTMLResponse, name="schedule_page")
def schedule_page(
    request: Request,
    external_id: str,
    person: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    require(person, Action.SET_REVIEW)
    article = article_or_404(session, external_id, visibility)
    form = {
        "owner": article.owner.handle,
        "scope": article.scope or "",
        "review_interval_days": str(article.review_interval_days),
        "next_review_on": article.next_review_at.date().isoformat(),
    }
    return _schedule_form(request, session, person, article, form, None)


def _schedule_form(
    request: Request,
    session: SessionDep,
    person: Person,
    article: Article,
    form: dict[str, str],
    error: str | None,
    status: int = 200,
) -> Response:
    context = {
        "article": article,
        "form": form,
        "error": error,
        "communities": visible_communities(session, visibility_for(session, person)),
        "people": list(session.scalars(select(Person).order_by(Person.name))),
    }
    return templates.TemplateResponse(request, "schedule_form.html", context, status_code=status)


@router.post("/entries/{external_id}/schedule", response_class=HTMLResponse)
def post_schedule(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    owner: FormText = "",
    scope: FormText = "",
    review_interval_days: FormText = "",
    next_review_on: FormText = "",
) -> Response:
    article = article_or_404(session, external_id, visibility)
    form = {
        "owner": owner,
        "scope": scope,
        "review_interval_days": review_interval_days,
        "next_review_on": next_review_on,
    }
    try:
        new_owner = session.scalar(select(Person).where(Person.handle == owner))
        if new_owner is None:
            raise InvalidContribution(f"nobody is called {owner!r}")
        if not review_interval_days.strip().isdigit():
            raise InvalidContribution("the review interval is a number of days")
        interval = int(review_interval_days)
        try:
            day = date.fromisoformat(next_review_on.strip())
        except ValueError:
            raise InvalidContribution("the next review date is a day, as YYYY-MM-DD") from None
        # The day shown unchanged: a new interval moves it, else it stays to the second.
        due = None if day == article.next_review_at.date() else datetime.combine(day, time())
        kb_repertoire.update_article(
            session,
            person,
            article,
            owner=new_owner,
            scope=scope,
            review_interval_days=interval,
            next_review_at=due,
        )
    except InvalidContribution as error:
        return _schedule_form(request, session, person, article, form, str(error), 422)
    next_review = article.next_review_at.strftime("%d %b %Y")
    flash(request, f"Review schedule saved: {article.owner.name}, next review on {next_review}")
    return RedirectResponse(f"/entries/{article.entry.external_id}", status_code=303)


@router.post("/entries/{external_id}/review")
def post_review(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    outcome: FormText = "",
    note: FormText = "",
) -> Response:
    article = article_or_404(session, external_id, visibility)
    kb_reviews.record_review(session, person, article, outcome, note)
    next_review = article.next_review_at.strftime("%d %b %Y")
    title = article.entry.title
    flash(request, f"Review recorded ({outcome}) for “{title}”; next review on {next_review}")
    upcoming = request.query_params.get("view") == "upcoming"
    back = "/reviews?view=upcoming" if upcoming else "/reviews"
    return RedirectResponse(back, status_code=303)


@router.post("/entries/{external_id}/flag-review")
def post_flag_review(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    reason: FormText = "",
) -> Response:
    article = article_or_404(session, external_id, visibility)
    kb_reviews.flag_for_review(session, person, article, reason)
    flash(request, f"Flagged for review: {article.owner.name} sees it in the review queue")
    return RedirectResponse(f"/entries/{external_id}", status_code=303)


# -- collections -------------------------------------------------------------------------


@router.get("/collections/new", response_class=HTMLResponse, name="new_collection_page")
def new_collection_page(
    request: Request, person: SignedInDep, session: SessionDep, entries: str = ""
) -> Response:
    require(person, Action.PROMOTE)
    return templates.TemplateResponse(
        request, "collection_form.html", {"form": {"entries": entries}, "error": None}
    )


@router.post("/collections/new", response_class=HTMLResponse)
def post_collection(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    title: FormText = "",
    introduction: FormText = "",
    entries: FormText = "",
    questions: FormText = "",
) -> Response:
    form = {
        "title": title,
        "introduction": introduction,
        "entries": entries,
        "questions": questions,
    }
    try:
        chosen = [entry_or_404(session, e, visibility) for e in entries.replace(",", " ").split()]
        collection = kb_collections.create_collection(
            session,
            person,
            title=title,
            introduction=introduction,
            entries=chosen,
            questions=questions.splitlines(),
        )
    except (InvalidContribution, HTTPException) as error:
        message = str(error.detail) if isinstance(error, HTTPException) else str(error)
        return templates.TemplateResponse(
            request, "collection_form.html", {"form": form, "error": message}, status_code=422
        )
    if collection.items:
        flash(request, "Collection created")
        return RedirectResponse(f"/collections/{collection.id}", status_code=303)
    flash(request, "Collection created: now search for articles and cases and add them")
    return RedirectResponse(f"/collections/{collection.id}/edit#add", status_code=303)


def _collection(session: SessionDep, collection_id: int) -> Collection:
    collection = session.get(Collection, collection_id)
    if collection is None:
        raise HTTPException(404, f"no collection has the id {collection_id}")
    return collection


def _booklet_context(collection: Collection, visibility: Visibility) -> dict[str, Any]:
    items = kb_collections.visible_items(collection, visibility)
    return {
        "collection": collection,
        "items": items,
        "progress": kb_collections.problem_progress(collection),
        "progress_label": kb_collections.progress_label,
        "accepted": {
            item.entry.id: [s for s in item.entry.solutions if s.accepted] for item in items
        },
    }


@router.get("/collections/{collection_id}", response_class=HTMLResponse, name="collection_page")
def collection_page(
    request: Request,
    collection_id: RowId,
    reader: ReaderDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    collection = _collection(session, collection_id)
    context = _booklet_context(collection, visibility)
    context["may_edit"] = kb_collections.may_edit(reader, collection)
    return templates.TemplateResponse(request, "collection.html", context)


@router.get("/collections/{collection_id}/booklet.html", response_class=HTMLResponse)
def booklet_html(
    request: Request,
    collection_id: RowId,
    _reader: ReaderDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    """A standalone page (styles inline, no links to this server) to save, print or mail."""
    collection = _collection(session, collection_id)
    context = _booklet_context(collection, visibility)
    response = templates.TemplateResponse(request, "booklet.html", context)
    filename = f"booklet-{collection.id}.html"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@router.get("/collections/{collection_id}/booklet.md")
def booklet_markdown(
    collection_id: RowId, _reader: ReaderDep, session: SessionDep, visibility: VisibilityDep
) -> Response:
    collection = _collection(session, collection_id)
    return PlainTextResponse(
        kb_collections.booklet_markdown(collection, visibility),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="booklet-{collection.id}.md"'},
    )


def entry_lifecycle_context(
    session: SessionDep, entry: Entry, viewer: Person | None
) -> dict[str, Any]:
    """For the entry page: the article side, reviews, history and allowed state changes."""
    from kb.history import events_of
    from kb.lifecycle import CONTENT_TRANSITIONS

    article = kb_reviews.article_of(session, entry)
    targets: list[str] = []
    if viewer is not None and entry.kind != "problem":
        for target, (sources, action) in CONTENT_TRANSITIONS.items():
            own_draft = entry.status == "draft" and entry.author_id == viewer.id
            if entry.status in sources and (
                allowed(viewer, action) or (own_draft and target == "community")
            ):
                targets.append(target)
    elif viewer is not None:
        asker_or_manager = entry.author_id == viewer.id or allowed(viewer, Action.ARCHIVE)
        # One at a time: a solved problem can be closed (after a confirmation), a closed
        # one reopened. Reopening a solved one (its answer did not hold) is the API's.
        if asker_or_manager and entry.status == "solved":
            targets = ["closed"]
        elif asker_or_manager and entry.status == "closed":
            targets = ["open"]
    return {
        "article": article,
        "article_credits": kb_repertoire.credits(article) if article else [],
        "article_overdue": kb_reviews.is_overdue(article) if article else False,
        "reviews": kb_reviews.reviews_of(session, entry) if article else [],
        "events": events_of(session, entry),
        "state_targets": targets,
        "may_promote": viewer is not None
        and allowed(viewer, Action.PROMOTE)
        and entry.kind == "problem"
        and entry.status in ("solved", "closed"),
        "may_flag_review": viewer is not None
        and article is not None
        and allowed(viewer, Action.FLAG_FOR_REVIEW),
        "cited_by": kb_reviews.articles_citing(session, entry),
        "may_schedule": viewer is not None
        and article is not None
        and allowed(viewer, Action.SET_REVIEW),
        "my_collections": (
            kb_collections.collections_of(session, viewer)
            if viewer is not None and entry.status not in ("draft", "archived")
            else []
        ),
    }
