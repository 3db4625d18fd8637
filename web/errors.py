"""One error body for every failure: {"error": {status, code, message, details}}."""

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from search.engine import QueryError
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

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]}
            for e in error.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return error_response(422, "invalid_request", summary, details)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        if wants_html(request):
            from web.deps import templates

            heading = "Not found" if error.status_code == 404 else "Something is not right"
            return templates.TemplateResponse(
                request,
                "error.html",
                {"status": error.status_code, "heading": heading, "message": str(error.detail)},
                status_code=error.status_code,
            )
        return error_response(error.status_code, "http_error", str(error.detail))


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/healthz", "/docs", "/openapi")):
        return False
    return "text/html" in request.headers.get("accept", "")
