"""Accounts: `kb user`, `kb token`, sign-in with a session cookie, CSRF, private reading."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from kb.cli import main
from kb.settings import Settings
from tests.conftest import kb_env, make_settings
from tests.web_helpers import DEMO_PASSWORD, csrf_from, sign_in
from web.app import create_app


def run(home: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=kb_env(home), input=input)
    return result.exit_code, result.output


def test_user_add_then_sign_in_with_that_password(demo_copy: Settings, tmp_path: Path) -> None:
    password_file = tmp_path / "pw.txt"
    password_file.write_text("correct horse battery\n")
    code, output = run(
        demo_copy.home,
        "user", "add", "ana.silva", "--role", "worker", "--role", "knowledge-manager",
        "--password-file", str(password_file), "--full-name", "Ana Silva",
    )  # fmt: skip
    assert code == 0, output
    assert "Created ana.silva (knowledge_manager, worker)" in output

    code, output = run(demo_copy.home, "user", "list")
    line = next(line for line in output.splitlines() if line.startswith("ana.silva"))
    assert "yes" in line and "knowledge_manager" in line
    marta = next(line for line in output.splitlines() if line.startswith("marta.kowalski"))
    assert " no " in marta  # imported people cannot sign in until given a password

    with TestClient(create_app(demo_copy)) as client:
        sign_in(client, "ana.silva", "correct horse battery")
        assert client.get("/api/me").json() == {
            "id": "ana.silva",
            "name": "Ana Silva",
            "roles": ["knowledge_manager", "worker"],
            "communities": [],
        }


def test_user_add_explains_bad_roles_and_short_passwords(demo_copy: Settings) -> None:
    code, output = run(demo_copy.home, "user", "add", "x.y", "--role", "boss", input="pw\npw\n")
    assert code != 0 and "unknown role 'boss'" in output and "knowledge_manager" in output
    code, output = run(demo_copy.home, "user", "add", "x.y", input="short\nshort\n")
    assert code != 0 and "at least 8 characters" in output


def test_user_add_gives_an_imported_author_a_password_and_keeps_their_roles(
    demo_copy: Settings,
) -> None:
    code, output = run(
        demo_copy.home, "user", "add", "grace.okafor", "--role", "tutor",
        input="a long password\na long password\n",
    )  # fmt: skip
    assert code == 0, output
    assert "Updated grace.okafor (knowledge_manager, tutor, worker)" in output


def test_sign_in_sets_a_signed_httponly_samesite_cookie(demo_people: Settings) -> None:
    with TestClient(create_app(demo_people)) as client:
        token = csrf_from(client.get("/signin").text)
        response = client.post(
            "/signin",
            data={"csrf_token": token, "handle": "leon.fischer", "password": DEMO_PASSWORD},
            follow_redirects=False,
        )
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert cookie.startswith("kb_session=") and "httponly" in cookie
        assert "samesite=lax" in cookie and "max-age=604800" in cookie

        signed = client.cookies["kb_session"]
        assert client.get("/api/me").status_code == 200
        client.cookies.clear()
        client.cookies.set(
            "kb_session", signed[:-3] + ("abc" if not signed.endswith("abc") else "xyz")
        )
        assert client.get("/api/me").status_code == 401  # a tampered cookie is nobody


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    demo_people: Settings,
) -> None:
    with TestClient(create_app(demo_people)) as client:
        for handle in ("leon.fischer", "nobody.here"):
            token = csrf_from(client.get("/signin").text)
            response = client.post(
                "/signin", data={"csrf_token": token, "handle": handle, "password": "wrong one"}
            )
            assert response.status_code == 400
            assert "Wrong user name or password." in response.text
            assert f'value="{handle}"' in response.text  # the name is kept in the form


def test_repeated_failed_sign_ins_are_throttled(demo_people: Settings) -> None:
    with TestClient(create_app(demo_people)) as client:
        token = csrf_from(client.get("/signin").text)
        form = {"csrf_token": token, "handle": "leon.fischer", "password": "guess"}
        statuses = [client.post("/signin", data=form).status_code for _ in range(6)]
        assert statuses == [400] * 5 + [429]
        form["password"] = DEMO_PASSWORD
        response = client.post("/signin", data=form)
        assert response.status_code == 429 and "Try again in" in response.text


def test_failed_sign_ins_count_across_worker_processes(demo_people: Settings) -> None:
    # Two apps on one database stand for two workers: failures through either count.
    with (
        TestClient(create_app(demo_people)) as first,
        TestClient(create_app(demo_people)) as second,
    ):
        forms = {}
        for client in (first, second):
            token = csrf_from(client.get("/signin").text)
            forms[client] = {"csrf_token": token, "handle": "Priya.Nair", "password": "guess"}
        statuses = [
            client.post("/signin", data=forms[client]).status_code
            for client in (first, second, first, second, first, second)
        ]
        assert statuses == [400] * 5 + [429]


def test_an_overlong_name_fails_to_sign_in_like_any_other(demo_people: Settings) -> None:
    with TestClient(create_app(demo_people)) as client:
        token = csrf_from(client.get("/signin").text)
        form = {"csrf_token": token, "handle": "x" * 5_000, "password": "guess"}
        assert client.post("/signin", data=form).status_code == 400


def test_forms_and_cookie_writes_need_the_csrf_token(demo_people: Settings) -> None:
    with TestClient(create_app(demo_people)) as client:
        assert client.post("/signin", data={"handle": "leon.fischer"}).status_code == 403
        token = sign_in(client, "leon.fischer")
        problem = {"title": "Coolant smells after the weekend", "body": "Sour smell."}
        assert client.post("/ask", data=problem).status_code == 403
        response = client.post("/api/problems", json=problem)
        assert response.status_code == 403
        assert "reload the page" in response.json()["error"]["message"]
        created = client.post("/api/problems", json=problem, headers={"X-CSRF-Token": token})
        assert created.status_code == 201, created.text


def test_sign_out_ends_the_session(demo_people: Settings) -> None:
    with TestClient(create_app(demo_people)) as client:
        token = sign_in(client, "leon.fischer")
        assert client.get("/api/me").status_code == 200
        response = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303
        assert client.get("/api/me").status_code == 401
        assert "Sign in</a>" in client.get("/").text


@pytest.fixture
def private_settings(demo_people: Settings) -> Settings:
    return make_settings(demo_people.home, public_read=False)


def test_reading_needs_sign_in_when_public_read_is_off(private_settings: Settings) -> None:
    with TestClient(create_app(private_settings)) as client:
        response = client.get(
            "/search?q=vpn", headers={"accept": "text/html"}, follow_redirects=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/signin?next=%2Fsearch%3Fq%3Dvpn"
        api = client.get("/api/search", params={"q": "vpn"})
        assert api.status_code == 401 and api.json()["error"]["code"] == "sign_in_required"
        assert client.post("/api/similar", json={"title": "vpn"}).status_code == 401
        assert client.get("/healthz").status_code == 200
        assert client.get("/signin").status_code == 200

        sign_in(client, "leon.fischer")
        assert client.get("/api/search", params={"q": "vpn"}).status_code == 200
        assert client.get("/search?q=vpn").status_code == 200


def test_tokens_act_as_their_user_until_revoked(demo_copy: Settings) -> None:
    code, output = run(demo_copy.home, "token", "create", "grace.okafor", "--label", "nightly")
    assert code == 0, output
    token = output.strip().splitlines()[-1]
    assert token.startswith("kb_")
    with TestClient(create_app(demo_copy)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/me", headers=headers).json()["id"] == "grace.okafor"
        response = client.post(
            "/api/problems", json={"title": "Token-made problem"}, headers=headers
        )
        assert response.status_code == 201  # no CSRF token needed with a bearer token

        code, output = run(demo_copy.home, "token", "list")
        assert "grace.okafor  nightly" in output and "active" in output
        code, output = run(demo_copy.home, "token", "revoke", "1")
        assert code == 0 and "Revoked token 1 of grace.okafor" in output

        refused = client.get("/api/me", headers=headers)
        assert refused.status_code == 401
        assert "revoked" in refused.json()["error"]["message"]
    code, output = run(demo_copy.home, "token", "create", "no.one")
    assert code != 0 and "nobody is called 'no.one'" in output
