"""Static files with a version in their URLs, so browsers may keep them for a year.

Pages link to /static/kb.css?v=<hash of the file> (the templates' url_for adds it). A
request that names the file's current version is answered with a year's max-age and
`immutable`: a new release changes the file, hence its hash and the URL the pages link
to, so nobody keeps the old CSS. A request without the version (or with an old one) is
answered with `no-cache`: the browser may keep the file but asks again each time, and
gets a 304 while the ETag still matches.
"""

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import fastapi_offline
from jinja2 import pass_context
from starlette.datastructures import URL, Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
# Swagger UI's files as the fastapi-offline package ships them, so /docs works offline.
SWAGGER_UI_FILES = Path(fastapi_offline.__file__).parent / "static"
# The mounts (by route name) whose URLs carry a version.
VERSIONED_MOUNTS = {"static": STATIC_DIR, "docs_static": SWAGGER_UI_FILES}

FOR_A_YEAR = "public, max-age=31536000, immutable"
ASK_EACH_TIME = "no-cache"


class VersionedStaticFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [])
        current = file_version(str(full_path), stat_result.st_mtime_ns, stat_result.st_size)
        response.headers["Cache-Control"] = FOR_A_YEAR if asked == [current] else ASK_EACH_TIME
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


@lru_cache(maxsize=256)
def file_version(path: str, mtime_ns: int, size: int) -> str:
    """The first 12 hex digits of the file's SHA-256 (read again when it changes)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def version_of(mount: str, path: str) -> str | None:
    """The version of a file of a versioned mount, or None if there is no such file."""
    folder = VERSIONED_MOUNTS.get(mount)
    if folder is None:
        return None
    file = (folder / path).resolve()
    if not file.is_relative_to(folder.resolve()) or not file.is_file():
        return None
    stat = file.stat()
    return file_version(str(file), stat.st_mtime_ns, stat.st_size)


@pass_context
def versioned_url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> URL:
    """The templates' url_for: as Starlette's, plus ?v=VERSION on static files."""
    url: URL = context["request"].url_for(name, **path_params)
    version = version_of(name, str(path_params.get("path", "")))
    return url.include_query_params(v=version) if version else url
