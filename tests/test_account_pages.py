"""The account page's forms and their JSON twins under /api/me, against one app on a
private copy of the demo in which everyone can sign in. Each test signs in as a person
of its own, so that the tests do not depend on each other's changes."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from kb.accounts import MAX_TOKEN_LABEL_CHARS
from kb.models import Person
from kb.sign_in_throttle import SignInThrottle
from tests.conftest import copy_home, make_settings
from tests.web_helpers import DEMO_PASSWORD, SignedIn, csrf_from, sign_in
from web.app import create_app

NEW_PASSWORD = "a new and longer password"


@pytest.fixture(scope="module")
def home(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("account") / "kb-home"
    copy_home(demo_people_home, home)
    return home


@pytest.fixture(scope="module")
def app(home: Path) -> Iterator[FastAPI]:
    with TestClient(create_app(make_settings(home))) as client:
        yield client.app  # type: ignore[misc]


@pytest.fixture(scope="module")
def sso_app(home: Path) -> Iterator[FastAPI]:
    """The same knowledge base with single sign-on set up and password sign-in off
    (people still hold their sessions and tokens)."""
    settings = make_settings(
        home,
        oidc_issuer="https://id.example.org",  # never reached: nobody signs on here
        oidc_client_id="kb",
        oidc_link_verified_email=True,
        password_sign_in=False,
    )
    with TestClient(create_app(settings)) as client:
        yield client.app  # type: ignore[misc]


class Browser(SignedIn):
    """A signed-in browser that posts the account page's forms."""

    def form(self, path: str, **fields: str) -> object:
        page = self.client.get("/account")
        data = {"csrf_token": csrf_from(page.text), **fields}
        if "email" in fields:  # as the page's form sends it, while the address is on it
            data["has_email"] = "1"
        return self.client.post(path, data=data, follow_redirects=False)

    def page(self) -> str:
        return self.client.get("/account").text

    def put(self, path: str, json: object) -> object:
        return self.client.put(path, json=json, headers=self.headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the page ----------------------------------------------------------------------------


def test_the_page_has_a_section_for_each_setting_and_says_what_is_empty(app: FastAPI) -> None:
    page = Browser(app, "anna.berg").page()
    for section in ("password", "tokens", "notifications", "follows", "availability", "sessions"):
        assert f'<section id="{section}">' in page, section
    assert "You have no API tokens." in page
    assert "You follow nothing yet." in page
    assert "At least 8 characters" in page


def test_the_page_and_its_forms_need_a_signed_in_person_and_the_csrf_token(app: FastAPI) -> None:
    anonymous = TestClient(app)
    page = anonymous.get("/account", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=%2Faccount"
    assert anonymous.post("/account/tokens", data={"label": "x"}).status_code == 401

    yusuf = Browser(app, "yusuf.demir")
    forged = yusuf.client.post("/account/tokens", data={"label": "forged"})
    assert forged.status_code == 403 and "reload the page" in forged.text
    assert "You have no API tokens." in yusuf.page()


# -- password ----------------------------------------------------------------------------


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(app: FastAPI) -> None:
    here, elsewhere = Browser(app, "ines.moreau"), Browser(app, "ines.moreau")
    changed = here.form(
        "/account/password",
        current_password=DEMO_PASSWORD,
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert changed.status_code == 303, changed.text
    assert changed.headers["location"] == "/account#password"
    page = here.page()
    assert "Your password is changed." in page  # said once, after the redirect
    assert "Your password is changed." not in here.page()
    assert here.client.get("/api/me").status_code == 200
    assert elsewhere.client.get("/api/me").status_code == 401

    fresh = TestClient(app)
    sign_in(fresh, "ines.moreau", NEW_PASSWORD)
    assert fresh.get("/api/me").json()["id"] == "ines.moreau"
    stranger = TestClient(app)
    token = csrf_from(stranger.get("/signin").text)
    old = {"csrf_token": token, "handle": "ines.moreau", "password": DEMO_PASSWORD}
    assert stranger.post("/signin", data=old).status_code == 400


@pytest.mark.parametrize(
    ("current", "new", "repeat", "status", "reason"),
    [
        ("wrong password", NEW_PASSWORD, NEW_PASSWORD, 400, "That is not your current password."),
        (DEMO_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", 422, "its repetition differ"),
        (DEMO_PASSWORD, "short", "short", 422, "A password needs at least 8 characters."),
        (DEMO_PASSWORD, "x" * 1001, "x" * 1001, 422, "at most 1000 characters"),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    app: FastAPI, current: str, new: str, repeat: str, status: int, reason: str
) -> None:
    lena = Browser(app, "lena.hoffmann")
    refused = lena.form(
        "/account/password", current_password=current, new_password=new, repeat_password=repeat
    )
    assert refused.status_code == status
    assert reason in refused.text and 'class="form-error"' in refused.text
    assert lena.client.get("/api/me").status_code == 200  # still signed in
    sign_in(TestClient(app), "lena.hoffmann", DEMO_PASSWORD)  # the old password still works


def test_wrong_current_passwords_count_in_the_sign_in_throttle(app: FastAPI) -> None:
    julia = Browser(app, "julia.meyer")
    wrong = {"current_password": "guess", "new_password": NEW_PASSWORD}
    statuses = [
        julia.form("/account/password", **wrong, repeat_password=NEW_PASSWORD).status_code
        for _ in range(SignInThrottle.MAX_FAILURES + 1)
    ]
    assert statuses == [400] * SignInThrottle.MAX_FAILURES + [429]
    right = {"current_password": DEMO_PASSWORD, "new_password": NEW_PASSWORD}
    refused = julia.form("/account/password", **right, repeat_password=NEW_PASSWORD)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "too many wrong passwords" in refused.text.lower()
    api = julia.post("/api/me/password", right)
    assert api.status_code == 429 and int(api.headers["Retry-After"]) > 0
    # The same count as signing in: that name from this address is throttled there too.
    other = TestClient(app)
    token = csrf_from(other.get("/signin").text)
    form = {"csrf_token": token, "handle": "julia.meyer", "password": DEMO_PASSWORD}
    assert other.post("/signin", data=form).status_code == 429


# -- API tokens --------------------------------------------------------------------------


def test_a_token_made_on_the_page_is_shown_once_works_and_stops_when_revoked(
    app: FastAPI,
) -> None:
    ahmed = Browser(app, "ahmed.karim")
    made = ahmed.form("/account/tokens", label="weekly export")
    assert made.status_code == 200
    plain = made.text.split('<code id="new-token">')[1].split("</code>")[0]
    assert plain.startswith("kb_") and "Copy your new token now" in made.text
    assert "weekly export" in made.text and "never used" in made.text

    api = TestClient(app)
    assert api.get("/api/me", headers=bearer(plain)).json()["id"] == "ahmed.karim"
    page = ahmed.page()
    assert plain not in page  # shown that once only
    assert "last used" in page

    token_id = page.split('id="token-')[1].split('"')[0]
    revoked = ahmed.form(f"/account/tokens/{token_id}/revoke")
    assert revoked.status_code == 303
    page = ahmed.page()
    assert "is revoked: a script that sends it now gets 401" in page
    assert "<strong>revoked" in page
    assert api.get("/api/me", headers=bearer(plain)).status_code == 401


def test_tokens_are_refused_without_a_label_and_others_cannot_be_revoked(app: FastAPI) -> None:
    ravi, claire = Browser(app, "ravi.patel"), Browser(app, "claire.dubois")
    for label, reason in (("   ", "Give the token a label"), ("x" * 201, "at most 200")):
        refused = ravi.form("/account/tokens", label=label)
        assert refused.status_code == 422 and reason in refused.text
    assert "You have no API tokens." in ravi.page()

    made = claire.post("/api/me/tokens", {"label": "claire's script"})
    assert made.status_code == 201
    theirs = made.json()["id"]
    for token_id in (theirs, 999_999):
        stolen = ravi.form(f"/account/tokens/{token_id}/revoke")
        assert stolen.status_code == 404 and f"you have no token with the id {token_id}" in (
            stolen.text
        )
    assert TestClient(app).get("/api/me", headers=bearer(made.json()["token"])).status_code == 200


# -- notifications and follows -----------------------------------------------------------


def test_the_notification_settings_save_the_address_and_when_to_mail(app: FastAPI) -> None:
    sofia = Browser(app, "sofia.alvarez")
    saved = sofia.form("/account/notifications", email=" sofia@example.org ", setting="daily")
    assert saved.status_code == 303 and saved.headers["location"] == "/account#notifications"
    page = sofia.page()
    assert "Saved: you are e-mailed a daily digest, at sofia@example.org." in page
    assert 'value="sofia@example.org"' in page and '<option value="daily" selected>' in page
    settings = sofia.client.get("/api/me/settings").json()
    assert settings["email"] == "sofia@example.org" and settings["notification_email"] == "daily"

    sofia.form("/account/notifications", email="", setting="weekly")
    assert "with no e-mail address notifications stay in your inbox" in sofia.page()
    sofia.form("/account/notifications", email="sofia@example.org", setting="off")
    assert "none are e-mailed" in sofia.page()


@pytest.mark.parametrize(
    ("email", "setting", "reason"),
    [
        ("not an address", "daily", "is not an e-mail address"),
        ("a@b\x00c", "daily", "is not an e-mail address"),
        ("x@" + "y" * 320, "daily", "at most 320 characters"),
        ("mateo@example.org", "hourly", "notifications are immediately, daily, weekly, off"),
    ],
)
def test_refused_notification_settings_say_why_and_save_neither(
    app: FastAPI, email: str, setting: str, reason: str
) -> None:
    mateo = Browser(app, "mateo.garcia")
    refused = mateo.form("/account/notifications", email=email, setting=setting)
    assert refused.status_code == 422 and reason in refused.text
    settings = mateo.client.get("/api/me/settings").json()
    assert settings["email"] is None and settings["notification_email"] == "immediately"


def test_an_address_another_account_has_is_refused(app: FastAPI) -> None:
    grace, priya = Browser(app, "grace.okafor"), Browser(app, "priya.nair")
    assert grace.put("/api/me/email", {"email": "grace@example.org"}).status_code == 200
    refused = priya.form("/account/notifications", email="Grace@Example.org", setting="daily")
    assert refused.status_code == 422
    assert "Another account has the e-mail address Grace@Example.org." in refused.text
    api = priya.put("/api/me/email", {"email": "grace@example.org"})
    assert api.status_code == 422 and "another account" in api.json()["error"]["message"]
    assert priya.client.get("/api/me/settings").json()["notification_email"] == "immediately"


def test_while_single_sign_on_is_set_up_people_cannot_set_their_own_address(
    app: FastAPI, sso_app: FastAPI
) -> None:
    """Else anyone could put a new colleague's address on their own account and have that
    colleague's first sign-on land there (or refused, 409)."""
    # Signed in with a password before it was turned off; the session still holds.
    cookies = Browser(app, "jonas.weber").client.cookies
    jonas = Browser.__new__(Browser)
    jonas.client, jonas.handle = TestClient(sso_app, cookies=cookies), "jonas.weber"
    page = jonas.page()
    jonas.headers = {"X-CSRF-Token": csrf_from(page)}
    assert 'name="email"' not in page
    assert "only an administrator sets addresses" in page
    assert "Sign-in with a password is turned off here" in page
    assert 'id="password-form"' not in page

    refused = jonas.form("/account/notifications", email="new.hire@example.org", setting="off")
    assert refused.status_code == 403 and "only an administrator sets addresses" in refused.text
    api = jonas.put("/api/me/email", {"email": "new.hire@example.org"})
    assert api.status_code == 403 and api.json()["error"]["code"] == "not_allowed"
    saved = jonas.form("/account/notifications", setting="weekly")  # the setting alone: fine
    assert saved.status_code == 303
    settings = jonas.client.get("/api/me/settings").json()
    assert settings["email"] is None and settings["notification_email"] == "weekly"


def test_a_person_who_signs_on_keeps_the_providers_address(app: FastAPI) -> None:
    from kb.sso_accounts import link_identity

    database = app.state.database
    with database.session() as session:
        person = session.scalar(select(Person).where(Person.handle == "peter.lindqvist"))
        assert person is not None
        link_identity(session, person, "https://id.example.org", "subject-peter")
    peter = Browser(app, "peter.lindqvist")
    page = peter.page()
    assert 'name="email"' not in page and "change it at your provider" in page
    refused = peter.put("/api/me/email", {"email": "peter@elsewhere.org"})
    assert refused.status_code == 403 and "provider" in refused.json()["error"]["message"]


def test_what_one_follows_is_listed_with_unfollow_buttons(app: FastAPI) -> None:
    kwame = Browser(app, "kwame.mensah")
    for target, value in (
        ("problem", "MNT-P-001"),
        ("tag", "cnc"),
        ("community", "maintenance"),
        ("person", "marta.kowalski"),
    ):
        assert kwame.post("/api/follows", {"target": target, "value": value}).status_code == 200
    page = kwame.page()
    followed = page.split('<section id="follows">')[1].split("</section>")[0]
    assert followed.count("Unfollow</button>") == 4
    assert "SINUMERIK alarm 25201" in followed  # the problem by its title
    assert "Marta Kowalski" in followed and "Maintenance" in followed

    gone = kwame.form("/account/unfollow", target="problem", value="MNT-P-001")
    assert gone.status_code == 303 and gone.headers["location"] == "/account#follows"
    page = kwame.page()
    assert "You no longer follow the problem “SINUMERIK alarm 25201" in page
    assert page.split('<section id="follows">')[1].count("Unfollow</button>") == 3
    refused = kwame.form("/account/unfollow", target="planet", value="mars")
    assert refused.status_code == 422 and "one can follow a problem" in refused.text
    refused = kwame.form("/account/unfollow", target="community", value="main\x00tenance")
    assert refused.status_code == 422 and "cannot contain a NUL character" in refused.text


# -- availability ------------------------------------------------------------------------


def test_availability_is_saved_and_said(app: FastAPI) -> None:
    oliver = Browser(app, "oliver.brandt")
    away = oliver.form("/account/availability", away="on")
    assert away.status_code == 303 and away.headers["location"] == "/account#availability"
    page = oliver.page()
    assert "kb suggests other people for open problems" in page
    assert "Untick “I am away” when you are back." in page
    assert '<input type="checkbox" name="away" checked>' in page
    assert oliver.client.get("/api/me/settings").json()["away"] is True

    oliver.form("/account/availability", routing_opt_out="on")
    settings = oliver.client.get("/api/me/settings").json()
    assert (settings["away"], settings["routing_opt_out"]) == (False, True)
    hannah = Browser(app, "hannah.schulz")
    problem = hannah.post("/api/problems", {"title": "Projector in room 4 flickers"}).json()["id"]
    refused = hannah.post(f"/api/problems/{problem}/route", {"people": ["oliver.brandt"]})
    assert refused.status_code == 422
    assert "opted out of being asked" in refused.json()["error"]["message"]

    oliver.form("/account/availability")
    assert "Saved: you are available" in oliver.page()


# -- the JSON API ------------------------------------------------------------------------


def test_api_settings_and_email_address(app: FastAPI) -> None:
    david = Browser(app, "david.chen")
    assert david.client.get("/api/me/settings").json() == {
        "id": "david.chen",
        "email": None,
        "notification_email": "immediately",
        "away": False,
        "routing_opt_out": False,
    }
    assert david.client.put("/api/me/email", json={"email": "d@example.org"}).status_code == 403
    saved = david.put("/api/me/email", {"email": "david@example.org"})
    assert saved.status_code == 200 and saved.json()["email"] == "david@example.org"
    refused = david.put("/api/me/email", {"email": "david at example"})
    assert refused.status_code == 422
    assert "is not an e-mail address" in refused.json()["error"]["message"]
    assert david.put("/api/me/email", {"email": "x" * 400}).status_code == 422
    cleared = david.put("/api/me/email", {"email": None})
    assert cleared.status_code == 200 and cleared.json()["email"] is None
    assert TestClient(app).get("/api/me/settings").status_code == 401


def test_api_password_change_with_the_cookie_and_with_a_token(app: FastAPI) -> None:
    elena, other_device = Browser(app, "elena.rossi"), Browser(app, "elena.rossi")
    wrong = elena.post(
        "/api/me/password", {"current_password": "nope", "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message"] == "that is not your current password"
    short = elena.post("/api/me/password", {"current_password": DEMO_PASSWORD, "new_password": "x"})
    assert short.status_code == 422 and "at least 8" in short.json()["error"]["message"]
    missing = elena.post("/api/me/password", {"new_password": NEW_PASSWORD})
    assert missing.status_code == 422

    changed = elena.post(
        "/api/me/password", {"current_password": DEMO_PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 204
    assert elena.client.get("/api/me").status_code == 200
    assert other_device.client.get("/api/me").status_code == 401

    token = elena.post("/api/me/tokens", {"label": "rotate"}).json()["token"]
    script = TestClient(app)
    again = script.post(
        "/api/me/password",
        json={"current_password": NEW_PASSWORD, "new_password": DEMO_PASSWORD},
        headers=bearer(token),
    )
    assert again.status_code == 204  # a token needs no CSRF token
    assert elena.client.get("/api/me").status_code == 401  # every session ended
    assert script.get("/api/me", headers=bearer(token)).status_code == 200  # tokens stay
    sign_in(TestClient(app), "elena.rossi", DEMO_PASSWORD)


def test_api_tokens_list_create_and_revoke_only_ones_own(app: FastAPI) -> None:
    fatima, samir = Browser(app, "fatima.zahra"), Browser(app, "samir.haddad")
    assert fatima.client.get("/api/me/tokens").json() == []
    made = fatima.post("/api/me/tokens", {"label": "dashboard"})
    assert made.status_code == 201
    body = made.json()
    assert body["token"].startswith("kb_") and body["label"] == "dashboard"
    assert body["active"] is True and body["last_used_at"] is None
    assert body["created_at"].endswith("Z")

    script = TestClient(app)
    assert script.get("/api/me/tokens", headers=bearer(body["token"])).status_code == 200
    listed = fatima.client.get("/api/me/tokens").json()
    assert [t["id"] for t in listed] == [body["id"]]
    assert "token" not in listed[0] and listed[0]["last_used_at"] is not None

    for token_id in (body["id"], 999_999):
        refused = samir.post(f"/api/me/tokens/{token_id}/revoke")
        assert refused.status_code == 404
        assert refused.json()["error"]["message"] == f"you have no token with the id {token_id}"
    assert samir.post("/api/me/tokens/0/revoke").status_code == 422
    assert samir.client.post(f"/api/me/tokens/{body['id']}/revoke").status_code == 403  # no CSRF

    for label in ("", "   ", "x" * (MAX_TOKEN_LABEL_CHARS + 1), "tab\there"):
        assert fatima.post("/api/me/tokens", {"label": label}).status_code == 422, label

    revoked = fatima.post(f"/api/me/tokens/{body['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False and revoked.json()["revoked_at"].endswith("Z")
    assert script.get("/api/me", headers=bearer(body["token"])).status_code == 401
    assert fatima.post(f"/api/me/tokens/{body['id']}/revoke").status_code == 200  # again: same


def test_the_account_api_is_in_the_openapi_schema(app: FastAPI) -> None:
    schema = TestClient(app).get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/me/tokens"]) == {"get", "post"}
    assert "post" in paths["/api/me/tokens/{token_id}/revoke"]
    assert "post" in paths["/api/me/password"] and "put" in paths["/api/me/email"]
    assert "get" in paths["/api/me/settings"] and "patch" in paths["/api/me"]
    password = paths["/api/me/password"]["post"]
    assert {"204", "400", "422", "429"} <= set(password["responses"])
    assert password["tags"] == ["accounts"]
    created = paths["/api/me/tokens"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/NewTokenOut")
    assert not any(path.startswith("/account") for path in paths)  # the pages are not API
