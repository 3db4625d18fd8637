"""Fixtures: real SQLite files in temp folders, the real model, real FAISS."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.embedder import Embedder, embedder_for
from indexer.pipeline import reindex
from kb.database import Database
from kb.importer import import_batch
from kb.settings import Settings
from kb.sources import read_source
from search.engine import SearchEngine, build_splitter

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


def make_settings(home: Path, **overrides: object) -> Settings:
    """Settings for a test home; reading is public unless a test says otherwise."""
    values: dict[str, object] = {"home": home, "database_url": None, "public_read": True}
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


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
    shutil.copytree(demo_home, home)
    return make_settings(home)


@pytest.fixture
def demo_people(demo_copy: Settings) -> Settings:
    """A private copy of the demo in which every demo person can sign in."""
    from kb.accounts import set_password_for_all
    from tests.web_helpers import DEMO_PASSWORD

    database = Database.from_settings(demo_copy)
    with database.session() as session:
        set_password_for_all(session, DEMO_PASSWORD)
        session.commit()
    database.dispose()
    return demo_copy
