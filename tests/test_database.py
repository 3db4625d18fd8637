"""Schema migrations, `kb db upgrade`, `kb doctor`, `kb backup` and `kb restore`, on
SQLite and (with KB_TEST_DATABASE_URL) on PostgreSQL."""

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Connection, delete, func, select, text, update

from kb import keyword_schema, migrate
from kb.cli import main
from kb.database import Database, SchemaOutdated
from kb.models import Base, Entry, Passage
from kb.settings import Settings
from search.keyword import keyword_index_for
from tests.conftest import TEST_DATABASE_URL, import_path, kb_env, make_settings

ON_POSTGRES = TEST_DATABASE_URL is not None


def kb(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=kb_env(home))
    return result.exit_code, result.output


def keyword_index_objects(connection: Connection) -> dict[str, str]:
    """The keyword index's objects, each with its definition: those named as
    kb/keyword_schema.py names them, and every trigger and generated column (the models
    make none)."""
    if connection.dialect.name == "sqlite":
        rows = connection.execute(
            text("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        )
        return {
            f"{kind} {name} on {table}": " ".join(sql.split())  # whitespace is no difference
            for kind, name, table, sql in rows
            if kind == "trigger" or name.startswith(keyword_schema.OBJECT_NAMES)
        }
    columns = connection.execute(
        text(
            "SELECT table_name, column_name, data_type, is_generated, generation_expression "
            "FROM information_schema.columns WHERE table_schema = current_schema()"
        )
    )
    indexes = connection.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
    )
    triggers = connection.execute(
        text(
            "SELECT trigger_name, event_manipulation, event_object_table, action_statement "
            "FROM information_schema.triggers WHERE trigger_schema = current_schema()"
        )
    )
    return {
        **{
            f"column {table}.{name}": f"{kind} {generated} {expression}"
            for table, name, kind, generated, expression in columns
            if generated == "ALWAYS" or name.startswith(keyword_schema.OBJECT_NAMES)
        },
        **{
            f"index {name}": definition
            for name, definition in indexes
            if name.startswith(keyword_schema.OBJECT_NAMES)
        },
        **{f"trigger {name} {event} on {table}": action for name, event, table, action in triggers},
    }


def test_migrations_make_exactly_the_schema_of_the_models(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, output = kb(home, "db", "upgrade")
    assert code == 0, output
    assert f"to {migrate.head_revision()}" in output
    database = Database.from_settings(make_settings(home))
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": migrate.include_object, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []
        assert migrate.current_revision(connection) == migrate.head_revision()
        assert keyword_schema.problems(connection) == []
        migrated = keyword_index_objects(connection)
    database.create_schema()  # accepted as it is
    database.dispose()
    code, output = kb(home, "db", "upgrade")
    assert code == 0 and "up to date" in output

    # The keyword index is not in the models: compared with what create_schema makes.
    created = Database.from_settings(make_settings(tmp_path / "created"))
    created.create_schema()
    with created.engine.connect() as connection:
        assert keyword_schema.problems(connection) == []
        made = keyword_index_objects(connection)
    created.dispose()
    assert migrated == made, (
        "the migrations and kb/keyword_schema.py make different keyword indexes: "
        "a change to kb/keyword_schema.py needs a migration that makes it"
    )


def test_a_new_database_is_created_at_the_newest_revision(database: Database) -> None:
    with database.engine.connect() as connection:
        assert migrate.current_revision(connection) == migrate.head_revision()


def test_an_out_of_date_database_is_refused_until_upgraded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database.from_settings(settings)
    database.create_schema()
    # This kb pretends to be newer: it knows a revision after the database's.
    head = migrate.head_revision()
    monkeypatch.setattr(migrate, "head_revision", lambda: "9999")
    monkeypatch.setattr(migrate, "known_revisions", lambda: {head, "9999"})
    with pytest.raises(SchemaOutdated, match=r"run `kb db upgrade`"):
        database.create_schema()
    database.dispose()
    code, output = kb(settings.home, "status")
    assert code == 1 and f"is at schema revision {head}" in output
    assert "kb db upgrade" in output
    from web.app import create_app

    with pytest.raises(SchemaOutdated, match="kb db upgrade"):
        create_app(settings)


def test_a_database_from_before_migrations_is_adopted_or_refused(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    database.create_schema()  # every column is there: stamped with the newest revision
    with database.engine.begin() as connection:
        assert migrate.current_revision(connection) == migrate.head_revision()
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("ALTER TABLE people DROP COLUMN email"))
    with pytest.raises(SchemaOutdated, match=r"lacks people\.email"):
        database.create_schema()


def test_a_database_from_a_newer_kb_is_refused(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(SchemaOutdated, match="made by a newer kb"):
        database.create_schema()


PUMPS = {
    "P-1": "Pump seal leaking after a restart",
    "P-2": "Seal kit for the inlet valve",
    "P-3": "Pump hums but does not start",
}


def keyword_hits(database: Database) -> dict[str, set[str]]:
    """What keyword search finds for a few words, by external id."""
    keyword = keyword_index_for(database, common_entries=100)
    with database.engine.connect() as connection:
        external = dict(connection.execute(select(Entry.id, Entry.external_id)).all())
        return {
            query: {external[entry_id] for entry_id, _ in keyword.search(connection, query, 10)}
            for query in ("pump", "seal", "valve")
        }


def test_revision_0005_takes_over_the_keyword_index_kb_made_before_it(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "pumps.jsonl"
    entries = [
        {"id": key, "kind": "practice", "title": title, "body": title, "author": "ann"}
        for key, title in PUMPS.items()
    ]
    source.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    database = Database.from_settings(settings)
    database.create_schema()
    import_path(database, source, settings)
    # Before 0005, kb stamped a new database 0004 and made the keyword index outside
    # Alembic with the same statements as kb/keyword_schema.py. (Going down to 0005
    # first keeps this true once there are later revisions.)
    with database.engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0005")
        command.stamp(migrate.alembic_config(connection), "0004")
        made_before = keyword_index_objects(connection)
    hits = keyword_hits(database)
    assert hits == {"pump": {"P-1", "P-3"}, "seal": {"P-1", "P-2"}, "valve": {"P-2"}}
    with pytest.raises(SchemaOutdated, match="is at schema revision 0004"):
        database.create_schema()

    with database.engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0005")
    with database.engine.connect() as connection:
        assert migrate.current_revision(connection) == "0005"
        assert keyword_index_objects(connection) == made_before
        assert keyword_schema.problems(connection) == []
    assert keyword_hits(database) == hits

    with database.engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0004")
    with database.engine.connect() as connection:
        assert migrate.current_revision(connection) == "0004"
        assert keyword_index_objects(connection) == {}
        assert connection.scalar(select(func.count(Entry.id))) == len(PUMPS)

    # Up again, without the rebuild `kb db upgrade` adds: the migration itself reads
    # every entry into the new, empty FTS table.
    with database.engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0005")
    with database.engine.connect() as connection:
        assert keyword_index_objects(connection) == made_before
        assert keyword_schema.problems(connection) == []
    assert keyword_hits(database) == hits
    database.dispose()
    code, output = kb(settings.home, "db", "upgrade")
    assert code == 0, output
    database = Database.from_settings(settings)
    database.create_schema()  # accepted: at the newest revision
    database.dispose()


def _make_keyword_index_stale(database: Database) -> None:
    """SQLite: an edit the FTS table missed. (PostgreSQL's generated column cannot miss one.)"""
    with database.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER entries_fts_update"))
        connection.execute(
            text("UPDATE entries SET title = 'Renamed' WHERE external_id = 'MNT-P-001'")
        )


def test_doctor_finds_and_fixes_every_kind_of_inconsistency(demo_copy: Settings) -> None:
    code, output = kb(demo_copy.home, "doctor")
    assert code == 0 and "agree" in output, output
    database = Database.from_settings(demo_copy)
    with database.session() as session:
        hollow = session.scalar(select(Entry).where(Entry.external_id == "MNT-S-002-1"))
        other = session.scalar(select(Entry).where(Entry.external_id == "ITS-P-001"))
        assert hollow is not None and other is not None
        session.execute(delete(Passage).where(Passage.entry_id == hollow.id))
        session.execute(
            update(Entry).where(Entry.id == other.id).values(embedding_model="another-model")
        )
        session.commit()
    if database.is_sqlite:
        _make_keyword_index_stale(database)
    with database.engine.begin() as connection:  # a vector whose entry is gone
        if database.is_sqlite:
            connection.execute(text("PRAGMA foreign_keys=OFF"))
        else:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text(
                "INSERT INTO passages (entry_id, passage_no, start_char, end_char, vector) "
                "VALUES (999999, 0, 0, 1, :vector)"
            ),
            {"vector": b"\0" * 16},
        )
        if database.is_sqlite:
            connection.execute(text("PRAGMA foreign_keys=ON"))
    database.dispose()

    code, output = kb(demo_copy.home, "doctor")
    assert code == 1, output
    checks = ["entries without vectors", "vectors without entries", "model mismatch"]
    if database.is_sqlite:
        checks.append("keyword index out of date")
    for check in checks:
        assert f"✗ {check}" in output, output
    code, output = kb(demo_copy.home, "doctor", "--fix")
    assert code == 0, output
    assert "repaired" in output and "still" not in output
    code, output = kb(demo_copy.home, "doctor")
    assert code == 0 and "agree" in output, output
    query = "worn main cylinder piston seal replaced"
    code, output = kb(demo_copy.home, "search", query, "--mode", "dense", "--limit", "3")
    assert "MNT-S-002-1" in output, output
    code, output = kb(demo_copy.home, "search", "SK-4471", "--mode", "keyword", "--limit", "3")
    assert "MNT-S-002-1" in output


@pytest.mark.skipif(ON_POSTGRES, reason="kb backup copies a SQLite file; PostgreSQL: pg_dump")
def test_backup_and_restore_a_sqlite_database(demo_copy: Settings, tmp_path: Path) -> None:
    backup = tmp_path / "backups" / "kb.db"
    code, output = kb(demo_copy.home, "backup", str(backup))
    assert code == 0 and "Backed up" in output, output
    code, output = kb(demo_copy.home, "backup", str(backup))
    assert code == 1 and "exists already" in output
    code, output = kb(demo_copy.home, "remove", "MNT-S-002-1")
    assert "Removed 1" in output
    code, output = kb(demo_copy.home, "search", "SK-4471", "--limit", "3")
    assert "MNT-S-002-1" not in output
    code, output = kb(demo_copy.home, "restore", str(backup), "--yes")
    assert code == 0 and "Restored" in output, output
    code, output = kb(demo_copy.home, "search", "SK-4471", "--limit", "3")
    assert "MNT-S-002-1" in output
    # The index files are older than the restored database: rebuilt from its vectors.
    code, output = kb(demo_copy.home, "doctor", "--fix")
    assert code == 0 and "embedded" in output and "0 embedded" in output, output
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    code, output = kb(demo_copy.home, "restore", str(tmp_path / "junk.db"), "--yes")
    assert code == 1 and "not a" in output


@pytest.mark.skipif(not ON_POSTGRES, reason="needs KB_TEST_DATABASE_URL (PostgreSQL)")
def test_backup_on_postgres_points_to_pg_dump(settings: Settings, tmp_path: Path) -> None:
    code, output = kb(settings.home, "backup", str(tmp_path / "x.db"))
    assert code == 1 and "pg_dump" in output
