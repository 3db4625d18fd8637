"""Single sign-on with OpenID Connect: the authorization code flow, with state, nonce and
PKCE (S256), through authlib's Starlette client.

`/signin/sso` sends the browser to the provider; the provider sends it back to
`/signin/sso/callback` with a code, which is exchanged for an ID token whose signature,
issuer, audience, expiry and nonce authlib checks. This module only speaks the protocol:
who the claims belong to, and what their groups give, is kb.sso_accounts's to decide.
The state, nonce and PKCE verifier wait in the session cookie (signed, so they cannot be
forged, and tied to this browser) between the two requests.

Every failure is a page that says what went wrong: a 4xx for the browser's or the
provider's refusals, 502 when the provider cannot be reached or answers nonsense.
"""

import logging
from collections.abc import Mapping
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from kb.sso_accounts import SsoClaims, SsoSignInRefused, sign_in_with_sso
from kb.sso_settings import SsoSettings
from web.account_pages import safe_next
from web.auth import sign_in
from web.deps import SessionDep
from web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter()

CLIENT_NAME = "oidc"
NEXT_KEY = "sso_next"
PROVIDER_TIMEOUT_SECONDS = 10.0


class SsoFailed(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SsoClient:
    """The provider, as one app (worker) talks to it; its discovery document and keys are
    fetched at the first sign-on, not at startup, so kb starts while the provider is down."""

    def __init__(self, settings: SsoSettings) -> None:
        self.settings = settings
        oauth = OAuth()
        self.remote: Any = oauth.register(
            CLIENT_NAME,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=settings.discovery_url,
            client_kwargs={
                "scope": settings.scopes,
                "code_challenge_method": "S256",
                "timeout": PROVIDER_TIMEOUT_SECONDS,
                # A public client (no secret) authenticates with PKCE alone.
                **({} if settings.client_secret else {"token_endpoint_auth_method": "none"}),
            },
        )

    async def redirect(self, request: Request, redirect_uri: str) -> Response:
        metadata = await self._metadata()
        expected = self.settings.issuer
        issuer = str(metadata.get("issuer", "")).rstrip("/")
        if expected is not None and issuer != expected:
            raise SsoFailed(
                502,
                f"the provider's discovery document names the issuer {issuer!r}, but "
                f"KB_OIDC_ISSUER is {expected!r}: an administrator must correct the setting",
            )
        try:
            response: Response = await self.remote.authorize_redirect(request, redirect_uri)
        except RuntimeError as failure:  # authlib's word for metadata without an endpoint
            raise _incomplete(failure) from None
        return response

    async def claims(self, request: Request) -> SsoClaims:
        """The validated claims of the provider's answer to our redirect."""
        error = request.query_params.get("error")
        if error:
            raise _provider_refusal(error, request.query_params.get("error_description"))
        if not request.query_params.get("state"):
            raise SsoFailed(400, "the provider's answer carries no state: start again")
        await self._metadata()
        try:
            token = await self.remote.authorize_access_token(request)
        except AuthlibBaseError as failure:
            if failure.error == "mismatching_state":
                raise SsoFailed(
                    400,
                    "this sign-in was not started in this browser, or has already been used "
                    "or has expired: start again",
                ) from None
            raise SsoFailed(
                400, f"the provider did not accept the sign-in: {_describe(failure)}"
            ) from None
        except JoseError as failure:
            raise SsoFailed(
                400, f"the provider's ID token is not valid: {failure.description or failure}"
            ) from None
        except (httpx2.HTTPError, ValueError, KeyError, TypeError) as failure:
            log.warning("single sign-on: the token exchange failed: %r", failure)
            raise SsoFailed(
                502, "the provider could not be reached to finish the sign-in: try again later"
            ) from None
        except RuntimeError as failure:  # metadata without a jwks_uri, for one
            raise _incomplete(failure) from None
        id_claims = token.get("userinfo")
        if not isinstance(id_claims, Mapping):
            raise SsoFailed(502, "the provider answered without an ID token")
        return await self._complete(dict(id_claims), token)

    async def _complete(self, claims: dict[str, Any], token: Mapping[str, Any]) -> SsoClaims:
        """Claims the ID token left out (many providers put groups only in userinfo)
        are taken from the userinfo endpoint, if the provider has one."""
        groups_claim = self.settings.groups_claim
        wanted = _claim(claims, groups_claim) is None or not (
            claims.get("preferred_username") or claims.get("email")
        )
        if wanted and self.remote.server_metadata.get("userinfo_endpoint"):
            try:
                userinfo = dict(await self.remote.userinfo(token=token))
            except (httpx2.HTTPError, ValueError, AuthlibBaseError) as failure:
                log.warning("single sign-on: userinfo failed: %r", failure)
                userinfo = {}
            if userinfo.get("sub") == claims.get("sub"):  # another subject's: never mixed in
                claims = {**userinfo, **claims}
                if _claim(claims, groups_claim) is None:
                    claims[groups_claim] = _claim(userinfo, groups_claim)
        return SsoClaims(
            issuer=str(claims["iss"]).rstrip("/"),  # as KB_OIDC_ISSUER is compared
            subject=str(claims["sub"]),
            preferred_username=_text(claims.get("preferred_username")),
            email=_text(claims.get("email")),
            email_verified=claims.get("email_verified") in (True, "true"),
            name=_text(claims.get("name")),
            groups=_groups(_claim(claims, groups_claim)),
        )

    async def _metadata(self) -> Mapping[str, Any]:
        try:
            metadata: Mapping[str, Any] = await self.remote.load_server_metadata()
        except (httpx2.HTTPError, ValueError, TypeError) as failure:
            log.warning(
                "single sign-on: discovery at %s failed: %r", self.settings.discovery_url, failure
            )
            raise SsoFailed(
                502,
                "the single sign-on provider cannot be reached right now: try again in a "
                "moment, or tell an administrator if it lasts",
            ) from None
        return metadata


def _incomplete(failure: RuntimeError) -> SsoFailed:
    log.warning("single sign-on: the provider's discovery document is incomplete: %s", failure)
    return SsoFailed(
        502,
        "the single sign-on provider's discovery document is incomplete "
        f"({failure}): tell an administrator",
    )


def _provider_refusal(error: str, description: str | None) -> SsoFailed:
    if error == "access_denied":
        return SsoFailed(
            403,
            "the provider did not let you sign in to kb (access was denied there): "
            "ask your administrator if you should have access",
        )
    detail = f" ({description})" if description else ""
    return SsoFailed(400, f"the provider refused the sign-in: {error}{detail}")


def _describe(failure: AuthlibBaseError) -> str:
    return f"{failure.error}: {failure.description}" if failure.description else failure.error


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by its name, or by a dotted path into nested objects (realm_access.roles)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _groups(value: Any) -> tuple[str, ...]:
    """A list of group names; a single name is a list of one. Anything else is no groups."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value if isinstance(item, str | int))
    return ()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def sso_client(request: Request) -> SsoClient:
    client: SsoClient | None = getattr(request.app.state, "sso", None)
    if client is None:
        raise SsoFailed(404, "single sign-on is not set up on this kb")
    return client


def failure_page(request: Request, failure: SsoFailed) -> Response:
    return templates.TemplateResponse(
        request, "sso_error.html", {"reason": failure.reason}, status_code=failure.status
    )


@router.get("/signin/sso", response_class=HTMLResponse, name="sso_start", include_in_schema=False)
async def sso_start(request: Request, next: str = "/") -> Response:
    try:
        client = sso_client(request)
        request.session[NEXT_KEY] = safe_next(next)
        return await client.redirect(request, str(request.url_for("sso_callback")))
    except SsoFailed as failure:
        return failure_page(request, failure)


@router.get(
    "/signin/sso/callback",
    response_class=HTMLResponse,
    name="sso_callback",
    include_in_schema=False,
)
async def sso_callback(request: Request, session: SessionDep) -> Response:
    try:
        client = sso_client(request)
        claims = await client.claims(request)
        settings = client.settings
        person = await run_in_threadpool(
            sign_in_with_sso, session, claims, settings.group_map, settings.link_verified_email
        )
    except SsoFailed as failure:
        return failure_page(request, failure)
    except SsoSignInRefused as refusal:
        return failure_page(request, SsoFailed(refusal.status, str(refusal)))
    target = safe_next(str(request.session.get(NEXT_KEY, "/")))
    sign_in(request, person)
    return RedirectResponse(target, status_code=303)
