"""The group map of single sign-on (KB_OIDC_GROUP_MAP): which communities and roles each
of the provider's groups gives, and the one rule for applying it.

The rule: the map *manages* every community and every role that it names anywhere. At
each sign-on, a person is a member of a managed community exactly when one of their
groups maps to it, and holds a managed role exactly when one of their groups gives it.
Communities and roles the map never names are left as they are, so that a community
leader's own membership changes and `kb user add --role` keep working for those."""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.accounts import Role
from kb.models import Community


class SsoSettingsError(ValueError):
    """A single sign-on setting that cannot work; the message names the culprit."""


@dataclass(frozen=True)
class GroupGrant:
    communities: frozenset[str] = frozenset()
    roles: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class GroupMap:
    grants: dict[str, GroupGrant]

    @property
    def managed_communities(self) -> frozenset[str]:
        return frozenset(slug for grant in self.grants.values() for slug in grant.communities)

    @property
    def managed_roles(self) -> frozenset[Role]:
        return frozenset(role for grant in self.grants.values() for role in grant.roles)

    def granted(self, groups: Iterable[str]) -> GroupGrant:
        """What these groups give together; groups the map does not name give nothing."""
        grants = [self.grants[group] for group in groups if group in self.grants]
        return GroupGrant(
            communities=frozenset(slug for grant in grants for slug in grant.communities),
            roles=frozenset(role for grant in grants for role in grant.roles),
        )

    def apply(
        self, groups: Iterable[str], communities: list[str], roles: list[str]
    ) -> tuple[list[str], list[str]]:
        """A person's communities and roles after a sign-on with these groups."""
        granted = self.granted(groups)
        kept_communities = [c for c in communities if c not in self.managed_communities]
        kept_roles = [r for r in roles if r not in self.managed_roles]
        new_communities = [
            *kept_communities,
            *sorted(granted.communities - set(kept_communities)),
        ]
        new_roles = sorted({*kept_roles, *(role.value for role in granted.roles)})
        return new_communities, new_roles


_KEYS = {"communities", "roles"}


def parse_group_map(text: str) -> GroupMap:
    """KB_OIDC_GROUP_MAP read and checked; SsoSettingsError names what is wrong."""
    try:
        raw = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise SsoSettingsError(f"KB_OIDC_GROUP_MAP is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise SsoSettingsError(
            'KB_OIDC_GROUP_MAP must be a JSON object: {"GROUP": {"communities": [...], '
            '"roles": [...]}}'
        )
    return GroupMap({str(group): _grant(str(group), value) for group, value in raw.items()})


def _grant(group: str, value: object) -> GroupGrant:
    where = f"KB_OIDC_GROUP_MAP, group {group!r}"
    if not isinstance(value, dict):
        raise SsoSettingsError(f'{where}: expected {{"communities": [...], "roles": [...]}}')
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise SsoSettingsError(
            f"{where}: unknown key {unknown[0]!r}; a group has communities and roles"
        )
    communities = _names(where, "communities", value.get("communities", []))
    roles = []
    for name in _names(where, "roles", value.get("roles", [])):
        try:
            roles.append(Role(name))
        except ValueError:
            known = ", ".join(role.value for role in Role)
            raise SsoSettingsError(f"{where}: unknown role {name!r}; roles are: {known}") from None
    return GroupGrant(frozenset(communities), frozenset(roles))


def _names(where: str, key: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SsoSettingsError(f"{where}: {key} must be a list of names")
    return list(value)


def check_communities(session: Session, group_map: GroupMap) -> None:
    """Every community the map names exists: a typo would otherwise give nobody anything."""
    named = group_map.managed_communities
    if not named:
        return
    existing = set(session.scalars(select(Community.slug)))
    for group, grant in sorted(group_map.grants.items()):
        for slug in sorted(grant.communities - existing):
            known = ", ".join(sorted(existing)) or "none yet (kb import creates them)"
            raise SsoSettingsError(
                f"KB_OIDC_GROUP_MAP, group {group!r}: no community has the id {slug!r}; "
                f"communities are: {known}"
            )
