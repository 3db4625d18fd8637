"""One error body for every failure: {"error": {status, code, message, details}}."""

import re
from urllib.parse import unquote, urlencode

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from kb.errors import InvalidContribution, NotAllowed
from search.engine import QueryError
from web.auth import SignInRequired
from web.schemas import ErrorBody, ErrorResponse


def error_response(
    status: int, code: str, message: str, details: list[dict[str, object]] | None = None
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(status=status, code=code, message=message, details=details)
    )
    return JSONResponse(jsonable_encoder(body), status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QueryError)
    async def _query_error(_request: Request, error: QueryError) -> JSONResponse:
        return error_response(400, "bad_query", str(error))

    @app.exception_handler(SignInRequired)
    async def _sign_in_required(request: Request, _error: SignInRequired) -> Response:
        if wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?{urlencode({'next': target})}", status_code=303)
        response = error_response(
            401, "sign_in_required", "sign in first, or send an API token (kb token create)"
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, error: NotAllowed) -> Response:
        return _error(request, 403, "not_allowed", "You cannot do that", str(error))

    @app.exception_handler(InvalidContribution)
    async def _invalid(request: Request, error: InvalidContribution) -> Response:
        return _error(request, 422, "invalid_entry", "That cannot be saved", str(error))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> Response:
        details = [
            {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]}
            for e in error.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        if wants_html(request):
            return _error(request, 422, "invalid_request", "That request is not complete", summary)
        return error_response(422, "invalid_request", summary, details)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            response = _not_found(request, str(error.detail))
        else:
            response = _error(
                request,
                error.status_code,
                "http_error",
                "Something is not right",
                str(error.detail),
            )
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        return response


def _not_found(request: Request, detail: str) -> Response:
    """Says what was not found; the page offers to search for it (JSON stays JSON)."""
    if not wants_html(request):
        return error_response(404, "http_error", detail)
    path = request.url.path
    if detail == "Not Found":  # Starlette's words for a path no route has
        detail = f"There is no page at {path}."
    elif not detail.endswith("."):
        detail = f"{detail[:1].upper()}{detail[1:]}."
    return _error(
        request, 404, "http_error", "Not found", detail, {"search_for": search_words(path)}
    )


def search_words(path: str) -> str:
    """What to search for instead of a missing page: its last path segment, ids and
    error codes (words with digits, such as MNT-S-002-1) kept whole, other words apart."""
    last = unquote(path.rstrip("/").rsplit("/", 1)[-1])
    words = re.findall(r"[^\W_]+(?:-[^\W_]+)*", last)
    return " ".join(w if any(c.isdigit() for c in w) else w.replace("-", " ") for w in words)[:100]


def _error(
    request: Request,
    status: int,
    code: str,
    heading: str,
    message: str,
    extra: dict[str, object] | None = None,
) -> Response:
    """An HTML error page for a browser, the JSON error body for everyone else."""
    if wants_html(request):
        from web.templating import templates

        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "heading": heading, "message": message, **(extra or {})},
            status_code=status,
        )
    return error_response(status, code, message)


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/healthz", "/docs", "/openapi")):
        return False
    return "text/html" in request.headers.get("accept", "")
