"""The authentication findings of security issue 22, each kept as the attack it was:
padded names and rotated addresses against the sign-in throttle, a session cookie that
outlived signing out, X-Forwarded-For believed from loopback, and the demo's shared hash."""

import sys
import unicodedata
from pathlib import Path

import httpx
import pytest
from alembic import command
from argon2 import PasswordHasher
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from kb import migrate
from kb.accounts import add_user, canonical_handle, handle_key, set_password_for_all
from kb.cli import main
from kb.database import Database, SchemaOutdated
from kb.models import Person
from kb.settings import Settings
from tests.conftest import kb_env
from tests.web_helpers import DEMO_PASSWORD, csrf_from, running_server, sign_in
from web.app import create_app

NAME = "anna.berg"
# Every way of typing anna.berg that signs in as her (or, for the case, counts with her).
VARIANTS = [
    "anna.berg   ",
    "\tanna.berg\n",
    "anna.berg\u00a0",  # no-break space
    "\u3000anna.berg\u3000",  # ideographic space
    "\u200banna.berg\ufeff",  # zero-width space, byte order mark
    "ａｎｎａ.ｂｅｒｇ",  # full-width letters
    "Anna.Berg",
    "ANNA.BERG\u2003",
]


@pytest.fixture
def accounts(demo_copy: Settings) -> Settings:
    """The demo with a password for Anna Berg and Leon Fischer only (hashing one for all
    24 demo people would cost a few seconds per test)."""
    database = Database.from_settings(demo_copy)
    with database.session() as session:
        for handle in (NAME, "leon.fischer"):
            add_user(session, handle, [], DEMO_PASSWORD)
        session.commit()
    database.dispose()
    return demo_copy


def signin_form(client: TestClient, handle: str, password: str) -> dict[str, str]:
    token = csrf_from(client.get("/signin").text)
    return {"csrf_token": token, "handle": handle, "password": password, "next": "/"}


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert "Too many failed attempts" in response.text
    assert 0 < int(response.headers["Retry-After"]) <= 301


# -- 1. The throttle counts a name however it is typed, and caps each account -----------


def test_every_spelling_that_signs_in_has_the_throttle_key_of_the_name() -> None:
    assert {canonical_handle(variant) for variant in VARIANTS[:6]} == {NAME}
    assert {handle_key(variant) for variant in VARIANTS} == {NAME}
    # Every character that could pad a name or turn into padding (spaces, controls,
    # format characters, anything NFKC changes): what the lookup strips, the key strips.
    candidates = [
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in {"Zs", "Zl", "Zp", "Cc", "Cf"}
        or not unicodedata.is_normalized("NFKC", chr(code))
    ]
    stripped = [c for c in candidates if canonical_handle(f"{c}{NAME}{c}") == NAME]
    assert {"\u00a0", "\u3000", "\u2028", "\u200b", "\ufeff", "\u0085"} <= set(stripped)
    for char in stripped:
        assert handle_key(f"{char}{NAME}{char}") == NAME, f"U+{ord(char):04X}"
    assert unicodedata.is_normalized("NFKC", handle_key("Straße ＡＢＣ"))


def test_padded_and_full_width_names_sign_in_as_the_person(accounts: Settings) -> None:
    # The lookup accepts these, which is why the throttle must count them as one name.
    app = create_app(accounts)
    for variant in ("\u00a0anna.berg\u3000", "ａｎｎａ.ｂｅｒｇ "):
        with TestClient(app) as client:
            sign_in(client, variant)
            assert client.get("/api/me").json()["id"] == NAME
    with TestClient(app) as client:
        form = signin_form(client, "Anna.Berg", DEMO_PASSWORD)
        assert client.post("/signin", data=form).status_code == 400  # names keep their case


def test_padding_the_name_gets_no_fresh_tries(accounts: Settings) -> None:
    with TestClient(create_app(accounts)) as client:
        form = signin_form(client, NAME, "guess one")
        assert [client.post("/signin", data=form).status_code for _ in range(5)] == [400] * 5
        for variant in VARIANTS:
            response = client.post("/signin", data={**form, "handle": variant})
            assert_throttled(response)
            # Not even the right password gets through while the name is throttled.
            right = {**form, "handle": variant, "password": DEMO_PASSWORD}
            assert_throttled(client.post("/signin", data=right))
        assert client.get("/api/me").status_code == 401


def test_rotating_addresses_does_not_give_unlimited_guesses(accounts: Settings) -> None:
    app = create_app(accounts)
    statuses = []
    for number in range(4):  # 4 addresses × 5 guesses = the 20 an account may fail
        with TestClient(app, client=(f"10.0.0.{number}", 40000)) as client:
            form = signin_form(client, VARIANTS[number], "guess")
            statuses += [client.post("/signin", data=form).status_code for _ in range(5)]
    assert statuses == [400] * 20
    with TestClient(app, client=("10.0.0.99", 40000)) as client:
        assert_throttled(client.post("/signin", data=signin_form(client, NAME, "guess")))
        assert_throttled(client.post("/signin", data=signin_form(client, NAME, DEMO_PASSWORD)))
        # Another account is not affected, from this address or any other.
        sign_in(client, "leon.fischer")
        assert client.get("/api/me").json()["id"] == "leon.fischer"


def test_a_name_with_control_characters_fails_like_any_other(accounts: Settings) -> None:
    # PostgreSQL cannot store or compare a NUL: that was a 500 there, for name and throttle.
    with TestClient(create_app(accounts)) as client:
        for handle in ("anna\x00berg", "anna.berg\x00", "anna\x01berg", "\x00"):
            form = signin_form(client, handle, "guess\x00")
            response = client.post("/signin", data=form)
            assert response.status_code == 400, response.text
            assert "Wrong user name or password." in response.text
        form = signin_form(client, "anna\x00berg", "guess")
        statuses = [client.post("/signin", data=form).status_code for _ in range(5)]
        assert statuses == [400] * 4 + [429]  # one failure with that name came before


# -- 2. Signing out ends the session, saved copies of the cookie included ----------------


def test_a_cookie_saved_before_signing_out_no_longer_works(accounts: Settings) -> None:
    app = create_app(accounts)
    problem = {"title": "Posted with a cookie saved before signing out"}
    with TestClient(app) as browser, TestClient(app) as attacker:
        token = sign_in(browser, NAME)
        saved = browser.cookies["kb_session"]
        response = browser.post("/signout", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303
        attacker.cookies.set("kb_session", saved)
        refused = attacker.get("/api/me")
        assert refused.status_code == 401 and refused.json()["error"]["message"]
        posted = attacker.post("/api/problems", json=problem, headers={"X-CSRF-Token": token})
        assert posted.status_code == 401
        form = attacker.post("/ask", data={"csrf_token": token, **problem})
        assert form.status_code == 401


def test_signing_out_ends_the_sessions_on_every_device(accounts: Settings) -> None:
    app = create_app(accounts)
    with TestClient(app) as laptop, TestClient(app) as phone:
        laptop_token = sign_in(laptop, NAME)
        sign_in(phone, NAME)
        laptop.post("/signout", data={"csrf_token": laptop_token})
        assert phone.get("/api/me").status_code == 401
        assert laptop.get("/api/me").status_code == 401


def test_an_ended_session_cannot_sign_out_the_next_one(accounts: Settings) -> None:
    app = create_app(accounts)
    with TestClient(app) as browser, TestClient(app) as old:
        token = sign_in(browser, NAME)
        old.cookies.set("kb_session", browser.cookies["kb_session"])
        browser.post("/signout", data={"csrf_token": token})
        sign_in(browser, NAME)
        old.post("/signout", data={"csrf_token": token})  # a stale copy of the first session
        assert old.get("/api/me").status_code == 401
        assert browser.get("/api/me").json()["id"] == NAME


def test_sign_out_everywhere_from_the_account_page(accounts: Settings) -> None:
    app = create_app(accounts)
    with TestClient(app) as laptop, TestClient(app) as phone, TestClient(app) as other:
        sign_in(laptop, NAME)
        sign_in(phone, NAME)
        sign_in(other, "leon.fischer")
        page = phone.get("/account")
        assert page.status_code == 200 and "Sign out everywhere" in page.text
        response = phone.post(
            "/account/sign-out-everywhere",
            data={"csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert laptop.get("/api/me").status_code == 401
        assert phone.get("/api/me").status_code == 401
        assert other.get("/api/me").json()["id"] == "leon.fischer"  # only Anna's sessions
        away = phone.get("/account", headers={"accept": "text/html"}, follow_redirects=False)
        assert away.status_code == 303 and away.headers["location"].startswith("/signin")
        forged = laptop.post("/account/sign-out-everywhere", data={"csrf_token": "x"})
        assert forged.status_code in (401, 403)


def test_sign_out_everywhere_through_the_api(accounts: Settings) -> None:
    code = CliRunner().invoke(main, ["token", "create", NAME], env=kb_env(accounts.home))
    assert code.exit_code == 0, code.output
    bearer = {"Authorization": f"Bearer {code.output.strip().splitlines()[-1]}"}
    app = create_app(accounts)
    with TestClient(app) as browser, TestClient(app) as script:
        assert script.post("/api/me/sign-out-everywhere").status_code == 401
        token = sign_in(browser, NAME)
        no_csrf = browser.post("/api/me/sign-out-everywhere")
        assert no_csrf.status_code == 403 and "reload the page" in no_csrf.text
        assert browser.get("/api/me").status_code == 200

        done = browser.post("/api/me/sign-out-everywhere", headers={"X-CSRF-Token": token})
        assert done.status_code == 204
        assert browser.get("/api/me").status_code == 401

        sign_in(browser, NAME)
        assert script.post("/api/me/sign-out-everywhere", headers=bearer).status_code == 204
        assert browser.get("/api/me").status_code == 401
        assert script.get("/api/me", headers=bearer).json()["id"] == NAME  # tokens stay
    assert "/api/me/sign-out-everywhere" in app.openapi()["paths"]


def test_a_new_password_ends_the_sessions_made_with_the_old(
    accounts: Settings, tmp_path: Path
) -> None:
    app = create_app(accounts)
    with TestClient(app) as browser:
        sign_in(browser, NAME)
        password_file = tmp_path / "pw.txt"
        password_file.write_text("a new long password\n")
        result = CliRunner().invoke(
            main,
            ["user", "add", NAME, "--password-file", str(password_file)],
            env=kb_env(accounts.home),
        )
        assert result.exit_code == 0, result.output
        assert browser.get("/api/me").status_code == 401
        sign_in(browser, NAME, "a new long password")
        # Rehashing on sign-in (argon2 parameters raised) is no new password: it keeps them.
        database = Database.from_settings(accounts)
        with database.session() as session:
            person = session.scalars(select(Person).where(Person.handle == NAME)).one()
            person.password_hash = PasswordHasher(time_cost=1).hash("a new long password")
            session.commit()
        database.dispose()
        with TestClient(app) as second:
            sign_in(second, NAME, "a new long password")  # rehashed with the defaults
        assert browser.get("/api/me").json()["id"] == NAME


def test_the_session_generation_migration_upgrades_an_older_database(
    accounts: Settings,
) -> None:
    database = Database.from_settings(accounts)
    with database.engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0003")
    columns = {c["name"] for c in inspect(database.engine).get_columns("people")}
    assert "session_generation" not in columns
    with pytest.raises(SchemaOutdated, match="is at schema revision 0003"):
        database.create_schema()
    database.dispose()

    result = CliRunner().invoke(main, ["db", "upgrade"], env=kb_env(accounts.home))
    assert result.exit_code == 0, result.output
    database = Database.from_settings(accounts)
    with database.engine.connect() as connection:
        assert migrate.current_revision(connection) == migrate.head_revision()
        generations = connection.execute(text("SELECT session_generation FROM people"))
        assert {row[0] for row in generations} == {0}
    database.dispose()
    with TestClient(create_app(accounts)) as client:
        token = sign_in(client, NAME)
        client.post("/signout", data={"csrf_token": token})
        assert client.get("/api/me").status_code == 401


# -- 3. X-Forwarded-For is believed only from the proxies named in the settings ---------


def _failures_with_rotating_forwarded_for(base: str, first: int = 0) -> list[int]:
    with httpx.Client(base_url=base, timeout=30) as client:
        token = csrf_from(client.get("/signin").text)
        form = {"csrf_token": token, "handle": NAME, "password": "guess"}
        return [
            client.post(
                "/signin", data=form, headers={"X-Forwarded-For": f"203.0.113.{number}"}
            ).status_code
            for number in range(first, first + 6)
        ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_forwarded_for_from_loopback_does_not_reset_the_throttle(
    demo_copy: Settings, workers: str
) -> None:
    with running_server(demo_copy.home, "--workers", workers, KB_FORWARDED_ALLOW_IPS="") as base:
        assert _failures_with_rotating_forwarded_for(base) == [400] * 5 + [429]


def test_forwarded_for_is_believed_only_from_the_proxies_in_the_setting(
    demo_copy: Settings,
) -> None:
    # The setting reaches the worker processes. A proxy elsewhere is no reason to believe
    # loopback; behind a proxy on 127.0.0.1 each address it names is counted on its own.
    with running_server(
        demo_copy.home, "--workers", "2", KB_FORWARDED_ALLOW_IPS="192.0.2.7"
    ) as base:
        assert _failures_with_rotating_forwarded_for(base) == [400] * 5 + [429]
    with running_server(
        demo_copy.home, "--workers", "2", KB_FORWARDED_ALLOW_IPS="192.0.2.7, 127.0.0.1"
    ) as base:
        assert _failures_with_rotating_forwarded_for(base, first=10) == [400] * 6


# -- 4. The demo's people each get a hash of their own -----------------------------------


def test_the_demo_password_is_hashed_per_person(database: Database) -> None:
    with database.session() as session:
        for handle in ("a.one", "b.two", "c.three"):
            add_user(session, handle, [], None)
        assert set_password_for_all(session, DEMO_PASSWORD) == 3
        hashes = [person.password_hash or "" for person in session.scalars(select(Person))]
    assert len(set(hashes)) == 3
    assert len({h.rsplit("$", 2)[1] for h in hashes}) == 3  # three salts
    assert all(PasswordHasher().verify(h, DEMO_PASSWORD) for h in hashes)
