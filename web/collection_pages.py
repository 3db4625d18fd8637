"""Editing a collection in the browser: its text, a search-to-add picker (the search runs
here without JavaScript; web/static/collection_picker.js does it as one types), moving
and removing items, deleting it; and "Add to collection" from an entry's page."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb import collections as kb_collections
from kb.errors import InvalidContribution, NotAllowed
from kb.models import Collection, Person
from search.engine import QueryError
from search.filters import SearchFilters
from web.auth import FormWriterDep, SignedInDep, VisibilityDep
from web.deps import EngineDep, FormText, RowId, SessionDep, entry_or_404
from web.flash import FlashKind, flash
from web.templating import templates

router = APIRouter(include_in_schema=False)
PICKER_HITS = 8


def _editable(session: SessionDep, collection_id: int, person: Person) -> Collection:
    collection = session.get(Collection, collection_id)
    if collection is None:
        raise HTTPException(404, f"no collection has the id {collection_id}")
    if not kb_collections.may_edit(person, collection):
        raise NotAllowed(f"only {collection.owner.name}, who made it, or an admin can change it")
    return collection


def _edit_url(collection: Collection, q: str = "") -> str:
    from urllib.parse import urlencode

    return f"/collections/{collection.id}/edit" + (f"?{urlencode({'q': q})}" if q else "")


@router.get(
    "/collections/{collection_id}/edit", response_class=HTMLResponse, name="edit_collection_page"
)
def edit_collection_page(
    request: Request,
    collection_id: RowId,
    person: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
    q: str = "",
) -> Response:
    collection = _editable(session, collection_id, person)
    form = {
        "title": collection.title,
        "introduction": collection.introduction,
        "questions": "\n".join(collection.questions),
    }
    return _edit_form(request, collection, visibility, engine, form, None, q)


def _edit_form(
    request: Request,
    collection: Collection,
    visibility: VisibilityDep,
    engine: EngineDep,
    form: dict[str, str],
    error: str | None,
    q: str = "",
    status: int = 200,
) -> Response:
    items = kb_collections.visible_items(collection, visibility)
    inside = {item.entry.external_id for item in items}
    hits: list[Any] = []
    search_error = None
    if q.strip():
        try:
            found = engine.search(q, SearchFilters.seen_by(visibility), limit=PICKER_HITS)
            hits = [hit for hit in found.hits if hit.id not in inside]
        except QueryError as problem:
            search_error = str(problem)
    context = {
        "collection": collection,
        "items": items,
        "form": form,
        "error": error,
        "q": q,
        "hits": hits,
        "search_error": search_error,
        "inside": sorted(inside),
    }
    return templates.TemplateResponse(request, "collection_edit.html", context, status_code=status)


@router.post("/collections/{collection_id}/edit", response_class=HTMLResponse)
def post_edit_collection(
    request: Request,
    collection_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
    title: FormText = "",
    introduction: FormText = "",
    questions: FormText = "",
) -> Response:
    collection = _editable(session, collection_id, person)
    form = {"title": title, "introduction": introduction, "questions": questions}
    try:
        kb_collections.update_collection(
            session,
            person,
            collection,
            title=title,
            introduction=introduction,
            questions=questions.splitlines(),
        )
    except InvalidContribution as error:
        return _edit_form(request, collection, visibility, engine, form, str(error), status=422)
    flash(request, "Collection saved")
    return RedirectResponse(_edit_url(collection), status_code=303)


@router.post("/collections/{collection_id}/entries")
def post_add_entry(
    request: Request,
    collection_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    entry: FormText = "",
    back: FormText = "",
    q: FormText = "",
) -> Response:
    """Add from the picker (back to the editor, the search kept) or from an entry's page
    (back there)."""
    collection = _editable(session, collection_id, person)
    if not entry.strip():
        raise HTTPException(422, "choose an article or case to add")
    chosen = entry_or_404(session, entry.strip(), visibility)
    added = kb_collections.add_entry(session, person, collection, chosen)
    if added:
        flash(request, f"Added “{chosen.title}” to “{collection.title}”")
    else:
        flash(request, f"“{chosen.title}” is in “{collection.title}” already", FlashKind.INFO)
    if back == "entry":
        return RedirectResponse(f"/entries/{chosen.external_id}", status_code=303)
    return RedirectResponse(_edit_url(collection, q), status_code=303)


@router.post("/collections/add")
def post_add_to_chosen_collection(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    entry: FormText = "",
    collection: FormText = "",
) -> Response:
    """The entry page's "Add to collection": the collection is chosen in a list."""
    if not collection.strip().isdigit():
        raise HTTPException(422, "choose one of your collections")
    return post_add_entry(
        request, int(collection), person, session, visibility, entry=entry, back="entry"
    )


@router.post("/collections/{collection_id}/entries/{external_id}/move")
def post_move_entry(
    request: Request,
    collection_id: RowId,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    direction: FormText = "",
) -> Response:
    collection = _editable(session, collection_id, person)
    chosen = entry_or_404(session, external_id, visibility)
    kb_collections.move_entry(session, person, collection, chosen, direction)
    flash(request, f"Moved “{chosen.title}” {direction}")
    return RedirectResponse(f"{_edit_url(collection)}#items", status_code=303)


@router.post("/collections/{collection_id}/entries/{external_id}/remove")
def post_remove_entry(
    request: Request,
    collection_id: RowId,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    collection = _editable(session, collection_id, person)
    chosen = entry_or_404(session, external_id, visibility)
    kb_collections.remove_entry(session, person, collection, chosen)
    flash(request, f"Removed “{chosen.title}” from the collection")
    return RedirectResponse(f"{_edit_url(collection)}#items", status_code=303)


@router.post("/collections/{collection_id}/delete")
def post_delete_collection(
    request: Request,
    collection_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
) -> Response:
    collection = _editable(session, collection_id, person)
    title = collection.title
    kb_collections.delete_collection(session, person, collection)
    flash(request, f"Deleted the collection “{title}”; its entries stay in kb")
    return RedirectResponse("/repertoire", status_code=303)
