"""Single sign-on with OpenID Connect against a real provider on loopback
(oidc-provider-mock, in a thread): in Chromium against a real `kb serve`, and with the
app in-process for the refusals. The provider's authorization page has a `sub` field and
an Authorize and a Deny button; each user's claims are set at the provider beforehand
(PUT /users/SUB), as an organisation's directory would hold them."""

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from kb.accounts import Role, add_user
from kb.cli import main
from kb.database import Database
from kb.models import Person, SsoIdentity
from kb.settings import Settings
from kb.sso_groups import GroupGrant, GroupMap, SsoSettingsError, parse_group_map
from tests.conftest import copy_home, kb_env
from tests.web_helpers import DEMO_PASSWORD, free_port, running_server
from web.app import create_app

with warnings.catch_warnings():  # the provider imports authlib.jose, which authlib deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from oidc_provider_mock import run_server_in_thread

# The provider runs in this process, on authlib APIs that authlib has deprecated: its
# warnings (errors under pytest) would turn its answers into 500s.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config.* is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated:DeprecationWarning"),
]

GROUP_MAP = {
    "maintenance-techs": {"communities": ["maintenance"]},
    "it-helpdesk": {"communities": ["it-support"]},
    "trainers": {"communities": ["trainers"], "roles": ["tutor"]},
    "km": {"roles": ["knowledge_manager"]},
}
LABEL = "Brightwater account"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The OpenID Connect provider, on a free loopback port; its issuer URL."""
    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://127.0.0.1:{server.server_port}"


def oidc_env(provider: str, **more: str) -> dict[str, str]:
    return {
        "KB_OIDC_ISSUER": provider,
        "KB_OIDC_CLIENT_ID": "kb-tests",
        "KB_OIDC_CLIENT_SECRET": "kb-tests-secret",
        "KB_OIDC_GROUP_MAP": json.dumps(GROUP_MAP),
        "KB_OIDC_BUTTON_LABEL": LABEL,
        **more,
    }


def with_sso(settings: Settings, provider: str, **more: object) -> Settings:
    values = {
        "oidc_issuer": provider,
        "oidc_client_id": "kb-tests",
        "oidc_client_secret": "kb-tests-secret",
        "oidc_group_map": json.dumps(GROUP_MAP),
        "oidc_button_label": LABEL,
        **more,
    }
    return settings.model_copy(update=values)


def set_user(provider: str, subject: str, **claims: object) -> None:
    """What the provider's directory says about this person."""
    response = httpx.put(f"{provider}/users/{subject}", json=claims, timeout=10)
    assert response.status_code == 204, response.text


# -- In Chromium, against a real `kb serve` ------------------------------------------------


@pytest.fixture(scope="module")
def base_url(
    demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory, provider: str
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("sso-browser") / "kb-home"
    copy_home(demo_people_home, home)
    with running_server(home, "--workers", "1", **oidc_env(provider)) as base:
        yield base


def authorize_at_provider(page: Page, subject: str) -> None:
    expect(page.locator("h1")).to_have_text("Authorize Client")
    page.fill("input[name=sub]", subject)
    page.get_by_role("button", name="Authorize", exact=True).click()


def me(page: Page) -> dict[str, object]:
    answer = page.request.get("/api/me")
    assert answer.status == 200, answer.text()
    result: dict[str, object] = answer.json()
    return result


def test_a_new_person_signs_on_in_the_browser_and_groups_give_communities_and_roles(
    browser: Browser, base_url: str, provider: str
) -> None:
    set_user(
        provider,
        "7f3a-nadia",
        preferred_username="nadia.haddad",
        name="Nadia Haddad",
        email="nadia.haddad@brightwater.example",
        email_verified=True,
        groups=["maintenance-techs", "km", "all-staff"],
    )
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto("/ask")  # needs a signed-in person: to the sign-in page, and back after it
    sso_button = page.get_by_role("link", name=f"Sign in with {LABEL}")
    expect(sso_button).to_be_visible()
    expect(page.locator("#password")).to_be_visible()  # passwords stay on by default
    sso_button.click()
    assert page.url.startswith(provider)
    authorize_at_provider(page, "7f3a-nadia")

    expect(page.locator("a.me")).to_have_text("Nadia Haddad")
    assert page.url == f"{base_url}/ask"
    assert me(page) == {
        "id": "nadia.haddad",
        "name": "Nadia Haddad",
        "roles": ["knowledge_manager"],
        "communities": ["maintenance"],
    }
    expect(page.locator("nav a[href='/console']")).to_be_visible()  # a knowledge manager's

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("a.me")).to_have_count(0)

    # Moved from maintenance to the IT help desk and the trainers, no longer in km.
    set_user(
        provider,
        "7f3a-nadia",
        preferred_username="nadia.haddad",
        name="Nadia Haddad-Okoro",
        email="nadia.haddad@brightwater.example",
        email_verified=True,
        groups=["it-helpdesk", "trainers"],
    )
    page.goto("/signin")
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    authorize_at_provider(page, "7f3a-nadia")
    expect(page.locator("a.me")).to_have_text("Nadia Haddad-Okoro")
    assert me(page) == {
        "id": "nadia.haddad",  # the same person, found by the provider's subject
        "name": "Nadia Haddad-Okoro",
        "roles": ["tutor"],
        "communities": ["it-support", "trainers"],
    }
    assert page.request.get("/api/people/nadia.haddad-2").status == 404
    person = page.request.get("/api/people/nadia.haddad").json()
    assert person["name"] == "Nadia Haddad-Okoro"
    context.close()


def test_denying_at_the_provider_shows_why_in_the_browser(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto("/signin")
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    page.get_by_role("button", name="Deny").click()
    expect(page.locator("h1")).to_have_text("Single sign-on did not work")
    expect(page.locator(".sso-reason")).to_contain_text("access was denied there")
    expect(page.locator("a.me")).to_have_count(0)
    context.close()


# -- In-process: the refusals --------------------------------------------------------------


def start(client: TestClient, next: str = "/") -> str:
    """/signin/sso: the provider's authorization URL it redirects to."""
    response = client.get("/signin/sso", params={"next": next}, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert "code_challenge=" in location and "code_challenge_method=S256" in location
    assert "nonce=" in location and "state=" in location
    return location


def authorize(authorization_url: str, subject: str) -> str:
    """The person authorizes at the provider; the callback URL it sends them back to."""
    answer = httpx.post(authorization_url, data={"sub": subject}, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def sign_on(client: TestClient, subject: str, next: str = "/") -> httpx.Response:
    callback = authorize(start(client, next), subject)
    return client.get(callback, headers={"accept": "text/html"}, follow_redirects=False)


@pytest.fixture
def sso_app(demo_copy: Settings, provider: str) -> Iterator[TestClient]:
    with TestClient(create_app(with_sso(demo_copy, provider))) as client:
        yield client


def person(settings: Settings, handle: str) -> Person | None:
    database = Database.from_settings(settings)
    try:
        with database.session() as session:
            return session.scalar(select(Person).where(Person.handle == handle))
    finally:
        database.dispose()


def test_a_sign_on_keeps_next_and_links_by_subject(
    sso_app: TestClient, demo_copy: Settings, provider: str
) -> None:
    set_user(provider, "s-ola", preferred_username="Ola.Berg", email="ola@x.example")
    response = sign_on(sso_app, "s-ola", next="/entries/MNT-P-001")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/entries/MNT-P-001"
    assert sso_app.get("/api/me").json()["id"] == "ola.berg"
    ola = person(demo_copy, "ola.berg")
    assert ola is not None and ola.password_hash is None and ola.email == "ola@x.example"

    # An open redirect is refused, as on the password form.
    response = sign_on(TestClient(sso_app.app), "s-ola", next="//evil.example/")
    assert response.headers["location"] == "/"
    database = Database.from_settings(demo_copy)
    with database.session() as session:
        identities = list(session.scalars(select(SsoIdentity)))
        assert [(i.issuer, i.subject, i.person.handle) for i in identities] == [
            (provider, "s-ola", "ola.berg")
        ]
    database.dispose()


def test_a_user_name_already_taken_gets_a_number_not_the_account(
    sso_app: TestClient, demo_copy: Settings, provider: str
) -> None:
    set_user(provider, "s-leon", preferred_username="leon.fischer", name="Another Leon")
    assert sign_on(sso_app, "s-leon").status_code == 303
    assert sso_app.get("/api/me").json() == {
        "id": "leon.fischer-2",
        "name": "Another Leon",
        "roles": [],
        "communities": [],
    }
    leon = person(demo_copy, "leon.fischer")
    assert leon is not None and leon.name == "Leon Fischer"  # the local account is untouched


def test_a_callback_from_another_browser_or_a_forged_state_is_refused(
    sso_app: TestClient, provider: str
) -> None:
    set_user(provider, "s-eve", preferred_username="eve", email="eve@x.example")
    callback = authorize(start(sso_app), "s-eve")
    other_browser = TestClient(sso_app.app)
    refused = other_browser.get(callback, headers={"accept": "text/html"})
    assert refused.status_code == 400
    assert "not started in this browser" in refused.text
    assert other_browser.get("/api/me").status_code == 401

    forged = callback.replace("state=", "state=x")
    refused = sso_app.get(forged, headers={"accept": "text/html"})
    assert refused.status_code == 400 and "start again" in refused.text
    # The real one still works once, and only once.
    assert sso_app.get(callback, follow_redirects=False).status_code == 303
    assert TestClient(sso_app.app).get(callback).status_code == 400
    replay = sso_app.get(callback, headers={"accept": "text/html"})
    assert replay.status_code == 400


def test_access_denied_at_the_provider_is_a_403_with_the_reason(sso_app: TestClient) -> None:
    authorization_url = start(sso_app)
    denied = httpx.post(authorization_url, data={"action": "deny"}, timeout=10)
    callback = denied.headers["location"]
    assert "error=access_denied" in callback
    refused = sso_app.get(callback, headers={"accept": "text/html"})
    assert refused.status_code == 403
    assert "access was denied there" in refused.text
    assert sso_app.get("/api/me").status_code == 401


def test_a_provider_without_a_name_for_the_person_is_a_400(
    sso_app: TestClient, provider: str
) -> None:
    set_user(provider, "s-nameless")  # neither preferred_username nor email
    refused = sign_on(sso_app, "s-nameless")
    assert refused.status_code == 400
    assert "neither a preferred_username nor an e-mail" in refused.text


def test_an_unreachable_provider_is_a_clear_502_not_a_500(
    demo_copy: Settings, provider: str
) -> None:
    nowhere = with_sso(demo_copy, f"http://127.0.0.1:{free_port()}")
    not_there = with_sso(demo_copy, provider, oidc_discovery_url=f"{provider}/no-such-page")
    elsewhere = with_sso(
        demo_copy,
        f"{provider}/realms/other",
        oidc_discovery_url=f"{provider}/.well-known/openid-configuration",
    )
    for settings, reason in [
        (nowhere, "cannot be reached right now"),
        (not_there, "cannot be reached right now"),
        (elsewhere, "but KB_OIDC_ISSUER is"),
    ]:
        with TestClient(create_app(settings)) as client:
            page = client.get("/signin/sso", headers={"accept": "text/html"})
        assert page.status_code == 502, page.text
        assert reason in page.text


def test_an_existing_account_with_the_same_e_mail_is_not_taken_over(
    sso_app: TestClient, demo_copy: Settings, provider: str
) -> None:
    database = Database.from_settings(demo_copy)
    with database.session() as session:
        add_user(session, "anna.berg", [Role.ADMIN], None, email="anna.berg@brightwater.example")
    database.dispose()
    set_user(
        provider,
        "s-mallory",
        preferred_username="mallory",
        email="Anna.Berg@brightwater.example",
        email_verified=True,
        groups=["km"],
    )
    refused = sign_on(sso_app, "s-mallory")
    assert refused.status_code == 409
    assert "not joined to this single sign-on by itself" in refused.text
    assert sso_app.get("/api/me").status_code == 401
    assert person(demo_copy, "mallory") is None


def test_a_verified_e_mail_joins_the_existing_account_when_allowed(
    demo_copy: Settings, provider: str
) -> None:
    database = Database.from_settings(demo_copy)
    with database.session() as session:
        add_user(session, "anna.berg", [Role.ADMIN], None, email="anna.berg@brightwater.example")
    database.dispose()
    settings = with_sso(demo_copy, provider, oidc_link_verified_email=True)
    with TestClient(create_app(settings)) as client:
        set_user(provider, "s-anna-unverified", email="anna.berg@brightwater.example")
        refused = sign_on(client, "s-anna-unverified")
        assert refused.status_code == 409 and "does not say that this e-mail is verified" in (
            refused.text
        )
        set_user(
            provider,
            "s-anna",
            preferred_username="aberg",
            email="anna.berg@brightwater.example",
            email_verified=True,
            groups=["maintenance-techs"],
        )
        assert sign_on(client, "s-anna").status_code == 303
        assert client.get("/api/me").json() == {
            "id": "anna.berg",
            "name": "Anna Berg",
            "roles": ["admin", "worker"],  # not managed by the map: kept
            "communities": ["projects", "maintenance"],  # projects is not in the map
        }


def test_an_admin_links_an_existing_person_to_their_provider_account(
    sso_app: TestClient, demo_copy: Settings, provider: str
) -> None:
    env = {**kb_env(demo_copy.home), "KB_OIDC_ISSUER": provider + "/"}

    def kb(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, list(args), env=env)
        return result.exit_code, result.output

    code, output = kb("user", "link", "grace.okafor", "--subject", "kc-5150")
    assert code == 0, output
    assert output == f"grace.okafor signs in through {provider} as kc-5150.\n"
    assert kb("user", "link", "grace.okafor", "--subject", "kc-5150")[0] == 0  # again: fine
    code, output = kb("user", "link", "leon.fischer", "--subject", "kc-5150")
    assert code == 1 and "already signs in as grace.okafor" in output
    code, output = kb("user", "link", "nobody.here", "--subject", "kc-1")
    assert code == 1 and "nobody has the user name 'nobody.here'" in output

    set_user(
        provider,
        "kc-5150",
        preferred_username="gokafor",
        name="Grace Okafor",
        email="grace@x.example",
        groups=["trainers"],
    )
    assert sign_on(sso_app, "kc-5150").status_code == 303
    me = sso_app.get("/api/me").json()
    assert me["id"] == "grace.okafor" and "tutor" in me["roles"] and "trainers" in me["communities"]
    code, output = kb("user", "list")
    grace = next(line for line in output.splitlines() if line.startswith("grace.okafor"))
    assert " sso " in grace


def test_password_sign_in_turned_off_leaves_only_the_sso_button(
    demo_people: Settings, provider: str
) -> None:
    settings = with_sso(demo_people, provider, password_sign_in=False)
    with TestClient(create_app(settings)) as client:
        page = client.get("/signin")
        assert f"Sign in with {LABEL}" in page.text
        assert 'name="password"' not in page.text
        form = {"handle": "leon.fischer", "password": DEMO_PASSWORD, "next": "/"}
        refused = client.post("/signin", data=form)
        assert refused.status_code == 403
        assert "Sign-in with a password is turned off here." in refused.text
        assert client.get("/api/me").status_code == 401


# -- Startup: settings that cannot work stop kb with the reason ----------------------------


@pytest.mark.parametrize(
    ("group_map", "message"),
    [
        (
            {"km": {"roles": ["knowlege_manager"]}},
            "KB_OIDC_GROUP_MAP, group 'km': unknown role 'knowlege_manager'; roles are:",
        ),
        (
            {"maintenance-techs": {"communities": ["maintenence"]}},
            "group 'maintenance-techs': no community has the id 'maintenence'; communities "
            "are: general, it-support, maintenance, projects, trainers",
        ),
        ({"km": ["knowledge_manager"]}, "group 'km': expected"),
        ({"km": {"role": ["tutor"]}}, "group 'km': unknown key 'role'"),
    ],
)
def test_a_bad_group_map_stops_startup_naming_the_group(
    demo_copy: Settings, group_map: object, message: str
) -> None:
    settings = with_sso(demo_copy, "http://127.0.0.1:9", oidc_group_map=json.dumps(group_map))
    with pytest.raises(SsoSettingsError) as raised:
        create_app(settings)
    assert message in str(raised.value)


def test_kb_serve_refuses_a_bad_group_map_with_the_reason(
    demo_copy: Settings, provider: str
) -> None:
    env = {
        **kb_env(demo_copy.home),
        **oidc_env(provider, KB_OIDC_GROUP_MAP='{"km": {"roles": ["boss"]}}'),
    }
    for workers in ("1", "2"):
        result = CliRunner().invoke(main, ["serve", "--workers", workers], env=env)
        assert result.exit_code == 1, result.output
        assert "group 'km': unknown role 'boss'" in result.output


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"oidc_group_map": "{not json"}, "KB_OIDC_GROUP_MAP is not valid JSON"),
        ({"oidc_client_id": None}, "KB_OIDC_CLIENT_ID is needed"),
        ({"oidc_scopes": "profile email"}, "KB_OIDC_SCOPES must include openid"),
        ({"oidc_issuer": None}, "KB_OIDC_CLIENT_ID is set but KB_OIDC_ISSUER is not"),
        (
            {"oidc_issuer": None, "oidc_client_id": None, "password_sign_in": False},
            "nobody could sign in",
        ),
    ],
)
def test_half_a_configuration_stops_startup(
    demo_copy: Settings, values: dict[str, object], message: str
) -> None:
    settings = with_sso(demo_copy, "http://127.0.0.1:9")
    with pytest.raises(SsoSettingsError, match=message):
        create_app(settings.model_copy(update=values))


# -- The group map's rule ------------------------------------------------------------------


def test_the_map_manages_only_what_it_names() -> None:
    group_map = parse_group_map(json.dumps(GROUP_MAP))
    assert group_map.grants["trainers"] == GroupGrant(
        frozenset({"trainers"}), frozenset({Role.TUTOR})
    )
    # A community leader of projects (not in the map) who left maintenance, joined trainers.
    communities, roles = group_map.apply(
        ["trainers", "unknown-group"],
        communities=["projects", "maintenance"],
        roles=["community_leader", "knowledge_manager"],
    )
    assert communities == ["projects", "trainers"]
    assert roles == ["community_leader", "tutor"]
    assert GroupMap({}).apply(["x"], ["a"], ["admin"]) == (["a"], ["admin"])
