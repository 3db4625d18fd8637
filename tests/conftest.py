"""Fixtures: real SQLite files in temp folders, the real model, real FAISS.

With KB_TEST_DATABASE_URL set to a PostgreSQL server (postgresql+psycopg://user@host:port/db)
every test home gets its own database on that server instead of a SQLite file.
"""

import gc
import hashlib
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from indexer.embedder import Embedder, embedder_for
from indexer.pipeline import build_splitter, reindex
from kb.database import Database
from kb.importer import import_batch
from kb.settings import Settings
from kb.sources import read_source
from search.engine import SearchEngine

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


TEST_DATABASE_URL = os.environ.get("KB_TEST_DATABASE_URL") or None
_made_databases: set[str] = set()
_SESSION = uuid.uuid4().hex  # no database of an earlier, interrupted run is ever reused


def make_settings(home: Path, **overrides: object) -> Settings:
    """Settings for a test home; reading is public unless a test says otherwise."""
    values: dict[str, object] = {
        "home": home,
        "database_url": database_url_for(home),
        "public_read": True,
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def kb_env(home: Path) -> dict[str, str]:
    """The environment that points a `kb` command at a test home (and its database)."""
    url = database_url_for(home)
    return {"KB_HOME": str(home), **({"KB_DATABASE_URL": url} if url else {})}


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name, value in kb_env(home).items():
        monkeypatch.setenv(name, value)


def copy_home(source: Path, target: Path) -> None:
    """A private copy of a test home: its files and, on PostgreSQL, its database."""
    shutil.copytree(source, target)
    if TEST_DATABASE_URL:
        # The demo's pristine template if there is one: a template must have no connections.
        template = _template_name(source)
        if template not in _made_databases:
            template = _database_name(source)
        _create_database(_database_name(target), template=template)


def _database_name(home: Path) -> str:
    digest = hashlib.sha1(f"{_SESSION}:{Path(home).resolve()}".encode()).hexdigest()
    return f"kb_test_{digest[:24]}"


def _template_name(home: Path) -> str:
    return _database_name(home) + "_tpl"


def database_url_for(home: Path) -> str | None:
    """None (a SQLite file in the home) unless KB_TEST_DATABASE_URL names a server."""
    if not TEST_DATABASE_URL:
        return None
    from sqlalchemy import make_url

    name = _database_name(home)
    if name not in _made_databases:
        _create_database(name)
    return make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)


def _server_connection():  # type: ignore[no-untyped-def]
    import psycopg
    from sqlalchemy import make_url

    url = make_url(TEST_DATABASE_URL or "")
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    )


def _create_database(name: str, template: str | None = None) -> None:
    with _server_connection() as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            suffix = f" TEMPLATE {template}" if template else ""
            connection.execute(f'CREATE DATABASE "{name}"{suffix}')  # type: ignore[arg-type]
    _made_databases.add(name)


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DATABASE_URL:
        # Apps and `kb` commands run in-process keep their engine's pooled connections
        # until the process ends (as SQLite's do); psycopg warns when such are collected.
        config.addinivalue_line(
            "filterwarnings", "ignore:<psycopg.Connection object:ResourceWarning"
        )


@pytest.fixture(scope="session", autouse=True)
def drop_test_databases() -> Iterator[None]:
    yield
    if TEST_DATABASE_URL:
        with warnings.catch_warnings():  # engines of apps the tests did not dispose
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    if TEST_DATABASE_URL and _made_databases:
        with _server_connection() as connection:
            for name in sorted(_made_databases):
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ONNX export per test session, shared by every KB_HOME and every `kb` subprocess."""
    folder = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KB_MODEL_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def embedder(model_cache_dir: Path) -> Embedder:
    """The embedder the default settings ask for, loaded once (the same one create_app gets)."""
    return embedder_for(make_settings(model_cache_dir / "unused-home"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "kb-home")


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = Database.from_settings(settings)
    database.create_schema()
    yield database
    database.dispose()


def import_path(database: Database, path: Path, settings: Settings) -> None:
    import_batch(database, read_source(path), settings.default_community)


def index(database: Database, settings: Settings, embedder: Embedder, full: bool = False):  # type: ignore[no-untyped-def]
    return reindex(
        database, embedder, build_splitter(settings, embedder), settings.index_dir, full=full
    )


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The shipped corpus, imported and indexed once per test session (do not modify)."""
    home = tmp_path_factory.mktemp("demo") / "kb-home"
    settings = make_settings(home)
    database = Database.from_settings(settings)
    database.create_schema()
    import_path(database, CORPUS, settings)
    index(database, settings, embedder)
    database.dispose()
    if TEST_DATABASE_URL:  # demo_copy clones this untouched copy (nobody connects to it)
        _create_database(_template_name(home), template=_database_name(home))
    return home


@pytest.fixture(scope="session")
def demo_engine(demo_home: Path, embedder: Embedder) -> Iterator[SearchEngine]:
    settings = make_settings(demo_home)
    database = Database.from_settings(settings)
    yield SearchEngine.open(settings, database, embedder)
    database.dispose()


@pytest.fixture
def demo_copy(demo_home: Path, tmp_path: Path) -> Settings:
    """A private copy of the indexed demo, for tests that change it."""
    home = tmp_path / "demo-copy"
    copy_home(demo_home, home)
    return make_settings(home)


@pytest.fixture(scope="session")
def demo_people_home(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The indexed demo in which every demo person can sign in, made once per test session
    (each person's password is hashed on its own, about 0.17 s each: do not modify)."""
    from kb.accounts import set_password_for_all
    from tests.web_helpers import DEMO_PASSWORD

    home = tmp_path_factory.mktemp("demo-people") / "kb-home"
    copy_home(demo_home, home)
    database = Database.from_settings(make_settings(home))
    with database.session() as session:
        set_password_for_all(session, DEMO_PASSWORD)
        session.commit()
    database.dispose()
    if TEST_DATABASE_URL:  # demo_people copies this untouched copy (nobody connects to it)
        _create_database(_template_name(home), template=_database_name(home))
    return home


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for a test module's browser tests."""
    from tests.web_helpers import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def demo_people(demo_people_home: Path, tmp_path: Path) -> Settings:
    """A private copy of the demo in which every demo person can sign in."""
    home = tmp_path / "demo-people"
    copy_home(demo_people_home, home)
    return make_settings(home)
