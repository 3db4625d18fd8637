"""The single sign-on settings (KB_OIDC_*, KB_PASSWORD_SIGN_IN), checked together once at
startup: `kb serve` refuses to start with a map that names an unknown role or community,
or with half a configuration, and says which setting is wrong."""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from kb.settings import Settings
from kb.sso_groups import GroupMap, SsoSettingsError, check_communities, parse_group_map

DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class SsoSettings:
    discovery_url: str
    issuer: str | None  # what the discovery document must say, when KB_OIDC_ISSUER is set
    client_id: str
    client_secret: str | None
    scopes: str
    groups_claim: str
    group_map: GroupMap
    button_label: str
    link_verified_email: bool


def sso_settings(settings: Settings, session: Session) -> SsoSettings | None:
    """The checked single sign-on settings; None when single sign-on is not set up."""
    issuer = (settings.oidc_issuer or "").strip().rstrip("/") or None
    discovery_url = (settings.oidc_discovery_url or "").strip() or None
    client_id = (settings.oidc_client_id or "").strip()
    if issuer is None and discovery_url is None:
        if client_id:
            raise SsoSettingsError(
                "KB_OIDC_CLIENT_ID is set but KB_OIDC_ISSUER is not: set the provider's "
                "issuer URL too (or KB_OIDC_DISCOVERY_URL)"
            )
        if not settings.password_sign_in:
            raise SsoSettingsError(
                "KB_PASSWORD_SIGN_IN is off and single sign-on is not set up "
                "(KB_OIDC_ISSUER): nobody could sign in"
            )
        return None
    if not client_id:
        raise SsoSettingsError(
            "KB_OIDC_CLIENT_ID is needed for single sign-on: the client id kb is "
            "registered with at the provider"
        )
    for name, url in (("KB_OIDC_ISSUER", issuer), ("KB_OIDC_DISCOVERY_URL", discovery_url)):
        if url is not None and not url.startswith(("https://", "http://")):
            raise SsoSettingsError(f"{name} must be an http(s) URL, not {url!r}")
    scopes = " ".join(settings.oidc_scopes.split())
    if "openid" not in scopes.split():
        raise SsoSettingsError(
            f"KB_OIDC_SCOPES must include openid (it is {settings.oidc_scopes!r})"
        )
    if not settings.oidc_groups_claim.strip():
        raise SsoSettingsError("KB_OIDC_GROUPS_CLAIM cannot be empty")
    group_map = parse_group_map(settings.oidc_group_map)
    check_communities(session, group_map)
    return SsoSettings(
        discovery_url=discovery_url or f"{issuer}{DISCOVERY_PATH}",
        issuer=issuer,
        client_id=client_id,
        client_secret=settings.oidc_client_secret or None,
        scopes=scopes,
        groups_claim=settings.oidc_groups_claim.strip(),
        group_map=group_map,
        button_label=settings.oidc_button_label.strip() or "single sign-on",
        link_verified_email=settings.oidc_link_verified_email,
    )
