"""The JSON API for the lifecycle and the standard repertoire: state changes,
articles, reviews, promotion candidates, community members and collections."""

from datetime import datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import collections as kb_collections
from kb import repertoire as kb_repertoire
from kb import reviews as kb_reviews
from kb.communities import may_manage, set_membership
from kb.lifecycle import change_state
from kb.models import Collection, Community, Person
from kb.permissions import Action, require
from kb.visibility import may_see_community
from web.auth import ApiWriterDep, ReaderDep, SignedInDep, VisibilityDep
from web.deps import RowId, SessionDep, article_or_404, entry_or_404
from web.repertoire_schemas import (
    ArticleEdit,
    ArticleIn,
    ArticleOut,
    CandidateOut,
    CandidatesOut,
    CollectionEdit,
    CollectionEntryIn,
    CollectionIn,
    CollectionMoveIn,
    CollectionOrderIn,
    CollectionOut,
    DuplicateOut,
    FlagReviewIn,
    MemberIn,
    QueueItemOut,
    ReviewIn,
    StateIn,
)
from web.schemas import EntryOut, ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 404, 422)
}
router = APIRouter(prefix="/api", responses=ERRORS)
EntryId = Annotated[str, Path(description="The entry's id, as shown on its page.")]


def _person(session: Session, handle: str) -> Person:
    person = session.scalar(select(Person).where(Person.handle == handle))
    if person is None:
        raise HTTPException(422, f"nobody is called {handle!r}")
    return person


@router.post("/entries/{external_id}/state", response_model=EntryOut, tags=["repertoire"])
def api_change_state(
    external_id: EntryId,
    payload: StateIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> EntryOut:
    """Validate, promote to standard, archive, restore, close or reopen; refused with the
    reason when your role or the lifecycle does not allow it."""
    entry = change_state(
        session, person, entry_or_404(session, external_id, visibility), payload.to, payload.note
    )
    return EntryOut.from_entry(session, entry)


@router.post("/articles", response_model=ArticleOut, status_code=201, tags=["repertoire"])
def api_promote(
    request: Request,
    payload: ArticleIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> ArticleOut:
    """Distil solved cases into a standard-repertoire article (knowledge managers)."""
    require(person, Action.PROMOTE)
    interval = payload.review_interval_days or request.app.state.settings.review_interval_days
    article = kb_repertoire.promote_to_article(
        session,
        person,
        title=payload.title,
        sections=payload.sections,
        sources=[entry_or_404(session, source, visibility) for source in payload.sources],
        owner=_person(session, payload.owner) if payload.owner else None,
        scope=payload.scope,
        review_interval_days=interval,
        tags=payload.tags,
    )
    return ArticleOut.from_article(article)


@router.get("/articles/{external_id}", response_model=ArticleOut, tags=["repertoire"])
def api_article(
    external_id: EntryId, _reader: ReaderDep, session: SessionDep, visibility: VisibilityDep
) -> ArticleOut:
    return ArticleOut.from_article(article_or_404(session, external_id, visibility))


@router.patch("/articles/{external_id}", response_model=ArticleOut, tags=["repertoire"])
def api_edit_article(
    external_id: EntryId,
    payload: ArticleEdit,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> ArticleOut:
    """Revise the sections (author or knowledge manager), or change the review schedule:
    owner, scope, interval, next review day (knowledge managers). Each change is recorded
    in the entry's history."""
    article = article_or_404(session, external_id, visibility)
    next_review = payload.next_review_on
    kb_repertoire.update_article(
        session,
        person,
        article,
        sections=payload.sections,
        owner=_person(session, payload.owner) if payload.owner else None,
        scope=payload.scope,
        review_interval_days=payload.review_interval_days,
        next_review_at=datetime.combine(next_review, time()) if next_review else None,
    )
    return ArticleOut.from_article(article)


@router.post("/articles/{external_id}/reviews", status_code=201, tags=["repertoire"])
def api_review(
    external_id: EntryId,
    payload: ReviewIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> dict[str, object]:
    """Record a review: confirmed, revised or archived. The next one is set from the interval."""
    article = article_or_404(session, external_id, visibility)
    review = kb_reviews.record_review(session, person, article, payload.outcome, payload.note)
    return {
        "article": external_id,
        "outcome": review.outcome,
        "reviewer": person.handle,
        "at": review.at.isoformat(),
        "next_review_at": article.next_review_at.isoformat(),
    }


@router.post("/articles/{external_id}/flag-review", response_model=ArticleOut, tags=["repertoire"])
def api_flag_review(
    external_id: EntryId,
    payload: FlagReviewIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> ArticleOut:
    """Put an article in the review queue now (tutors and knowledge managers)."""
    article = article_or_404(session, external_id, visibility)
    kb_reviews.flag_for_review(session, person, article, payload.reason)
    return ArticleOut.from_article(article)


@router.get("/reviews/upcoming", response_model=list[ArticleOut], tags=["repertoire"])
def api_upcoming_reviews(
    _signed_in: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
    owner: str | None = None,
    sort: Annotated[str, Query(description="date (soonest first) or -date")] = "date",
) -> list[ArticleOut]:
    """Every article that is not archived with its next review date, as the Upcoming view
    of the Reviews page (signed in)."""
    articles = kb_reviews.upcoming_reviews(
        session, visibility, owner=_person(session, owner) if owner else None, order=sort
    )
    return [ArticleOut.from_article(article) for article in articles]


@router.get("/reviews", response_model=list[QueueItemOut], tags=["repertoire"])
def api_review_queue(
    request: Request,
    _signed_in: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
    owner: str | None = None,
) -> list[QueueItemOut]:
    """Articles whose review is requested, overdue or due soon, most urgent first (signed
    in, as the Reviews page)."""
    items = kb_reviews.review_queue(
        session,
        due_within_days=request.app.state.settings.review_due_soon_days,
        owner=_person(session, owner) if owner else None,
        visibility=visibility,
    )
    return [
        QueueItemOut(article=ArticleOut.from_article(i.article), state=i.state, due_at=i.due_at)
        for i in items
    ]


@router.get("/repertoire/candidates", response_model=CandidatesOut, tags=["repertoire"])
def api_candidates(
    person: SignedInDep, session: SessionDep, visibility: VisibilityDep
) -> CandidatesOut:
    """Solved cases worth promoting (reused or found helpful, no article yet) and
    near-duplicate solutions worth merging; for knowledge managers, as on the Repertoire
    page."""
    require(person, Action.PROMOTE)
    return CandidatesOut(
        cases=[
            CandidateOut(
                problem=c.problem.external_id,
                title=c.problem.title,
                reuses=c.reuses,
                helpful=c.helpful,
            )
            for c in kb_repertoire.promotion_candidates(session, visibility)
        ],
        near_duplicates=[
            DuplicateOut(first=a.external_id, second=b.external_id, similarity=score)
            for a, b, score in kb_repertoire.near_duplicate_solutions(session, visibility)
        ],
    )


@router.post("/communities/{slug}/members", tags=["communities"])
def api_membership(
    slug: str, payload: MemberIn, person: ApiWriterDep, session: SessionDep
) -> dict[str, object]:
    """Add or remove a member (the community's leaders, knowledge managers and admins).
    A members-only community is a 404 to anyone who may neither see it nor manage it."""
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is None or not (
        may_see_community(person, community) or may_manage(person, community)
    ):
        raise HTTPException(404, f"no community has the id {slug!r}")
    member = _person(session, payload.person)
    set_membership(session, person, community, member, payload.member)
    return {"community": slug, "person": member.handle, "member": slug in member.communities}


@router.post("/collections", response_model=CollectionOut, status_code=201, tags=["repertoire"])
def api_new_collection(
    payload: CollectionIn, person: ApiWriterDep, session: SessionDep, visibility: VisibilityDep
) -> CollectionOut:
    """Assemble a case study or teaching booklet (knowledge managers)."""
    collection = kb_collections.create_collection(
        session,
        person,
        title=payload.title,
        introduction=payload.introduction,
        entries=[entry_or_404(session, entry_id, visibility) for entry_id in payload.entries],
        questions=payload.questions,
    )
    return CollectionOut.from_collection(collection, visibility)


def collection_or_404(session: Session, collection_id: int) -> Collection:
    collection = session.get(Collection, collection_id)
    if collection is None:
        raise HTTPException(404, f"no collection has the id {collection_id}")
    return collection


@router.get("/collections", response_model=list[CollectionOut], tags=["repertoire"])
def api_collections(
    reader: ReaderDep, session: SessionDep, visibility: VisibilityDep, mine: bool = False
) -> list[CollectionOut]:
    """Every collection by title; with mine=true, those you may change (signed in)."""
    if mine:
        if reader is None:
            raise HTTPException(401, "sign in to list your collections")
        collections = kb_collections.collections_of(session, reader)
    else:
        collections = list(session.scalars(select(Collection).order_by(Collection.title)))
    return [CollectionOut.from_collection(c, visibility) for c in collections]


@router.get("/collections/{collection_id}", response_model=CollectionOut, tags=["repertoire"])
def api_collection(
    collection_id: RowId, _reader: ReaderDep, session: SessionDep, visibility: VisibilityDep
) -> CollectionOut:
    """A collection; its entries from members-only communities only for their members."""
    return CollectionOut.from_collection(collection_or_404(session, collection_id), visibility)


@router.patch("/collections/{collection_id}", response_model=CollectionOut, tags=["repertoire"])
def api_edit_collection(
    collection_id: RowId,
    payload: CollectionEdit,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> CollectionOut:
    """Change the title, introduction or questions (its owner, or an admin)."""
    collection = collection_or_404(session, collection_id)
    kb_collections.update_collection(
        session,
        person,
        collection,
        title=payload.title,
        introduction=payload.introduction,
        questions=payload.questions,
    )
    return CollectionOut.from_collection(collection, visibility)


@router.post(
    "/collections/{collection_id}/entries", response_model=CollectionOut, tags=["repertoire"]
)
def api_add_to_collection(
    collection_id: RowId,
    payload: CollectionEntryIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> CollectionOut:
    """Add an article or case at the end (one already in stays where it is)."""
    collection = collection_or_404(session, collection_id)
    entry = entry_or_404(session, payload.entry, visibility)
    kb_collections.add_entry(session, person, collection, entry)
    return CollectionOut.from_collection(collection, visibility)


@router.delete(
    "/collections/{collection_id}/entries/{external_id}",
    response_model=CollectionOut,
    tags=["repertoire"],
)
def api_remove_from_collection(
    collection_id: RowId,
    external_id: EntryId,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> CollectionOut:
    collection = collection_or_404(session, collection_id)
    entry = entry_or_404(session, external_id, visibility)
    kb_collections.remove_entry(session, person, collection, entry)
    return CollectionOut.from_collection(collection, visibility)


@router.post(
    "/collections/{collection_id}/entries/{external_id}/move",
    response_model=CollectionOut,
    tags=["repertoire"],
)
def api_move_in_collection(
    collection_id: RowId,
    external_id: EntryId,
    payload: CollectionMoveIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> CollectionOut:
    """One place up or down."""
    collection = collection_or_404(session, collection_id)
    entry = entry_or_404(session, external_id, visibility)
    kb_collections.move_entry(session, person, collection, entry, payload.direction)
    return CollectionOut.from_collection(collection, visibility)


@router.put("/collections/{collection_id}/order", response_model=CollectionOut, tags=["repertoire"])
def api_reorder_collection(
    collection_id: RowId,
    payload: CollectionOrderIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> CollectionOut:
    """Every entry once, in the new order. Entries you may not see keep their places
    after the ones you name (you cannot name them)."""
    collection = collection_or_404(session, collection_id)
    named = [entry_or_404(session, entry_id, visibility) for entry_id in payload.entries]
    unseen = [item.entry for item in collection.items if not visibility.can_see(item.entry)]
    kb_collections.reorder(session, person, collection, [*named, *unseen])
    return CollectionOut.from_collection(collection, visibility)


@router.delete("/collections/{collection_id}", status_code=204, tags=["repertoire"])
def api_delete_collection(
    collection_id: RowId, person: ApiWriterDep, session: SessionDep
) -> Response:
    """Delete the collection (its entries stay)."""
    kb_collections.delete_collection(session, person, collection_or_404(session, collection_id))
    return Response(status_code=204)
