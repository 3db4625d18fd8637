"""`kb user …` and `kb token …`: who can sign in, and tokens for scripts."""

from pathlib import Path
from typing import Any

import click

from kb.accounts import (
    AccountError,
    Role,
    add_user,
    canonical_handle,
    change_roles,
    create_token,
    find_person,
    list_tokens,
    list_users,
    parse_role,
    remove_user,
    revoke_token,
)
from kb.models import Person
from kb.sso_accounts import link_identity, people_with_sso

ROLE_NAMES = ", ".join(role.value for role in Role)


def _context() -> Any:
    return click.get_current_context().find_root().obj


def _read_password(password_file: Path | None) -> str:
    if password_file is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return str(password)
    try:
        lines = password_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{password_file}: cannot read the password: {error}") from None
    if not lines or not lines[0]:
        raise click.ClickException(f"{password_file}:1: the first line should hold the password")
    return lines[0]


@click.group("user")
def user_group() -> None:
    """People who can sign in to the web app, and their roles."""


@user_group.command("add")
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    default=["worker"],
    show_default=True,
    help=f"A role to give (repeat for several): {ROLE_NAMES}.",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the password from the first line of this file instead of asking for it.",
)
@click.option("--full-name", default=None, help="Name shown on pages [default: NAME].")
@click.option("--email", default=None, help="Where routed problems are e-mailed (if SMTP is set).")
def user_add(
    name: str,
    roles: tuple[str, ...],
    password_file: Path | None,
    full_name: str | None,
    email: str | None,
) -> None:
    """Create the user NAME, or give an existing person (for example an imported
    author) the roles and a password. Roles only add up here; `kb user role NAME
    --remove ROLE` takes one away.

    \b
    Examples:
      kb user add ana.silva --role worker
      kb user add grace.okafor --role knowledge_manager --password-file pw.txt
    """
    try:
        parsed = [parse_role(role) for role in roles]
        password = _read_password(password_file)
        with _context().database.session() as session:
            person, created = add_user(session, name, parsed, password, full_name, email or None)
            verb = "Created" if created else "Updated"
            click.echo(f"{verb} {person.handle} ({', '.join(person.roles)}); they can sign in now.")
    except AccountError as error:
        raise click.ClickException(str(error)) from None


@user_group.command("role")
@click.argument("name")
@click.option(
    "--add",
    "added",
    multiple=True,
    help=f"A role to give (repeat for several): {ROLE_NAMES}.",
)
@click.option(
    "--remove",
    "removed",
    multiple=True,
    help="A role to take away (repeat for several).",
)
def user_role(name: str, added: tuple[str, ...], removed: tuple[str, ...]) -> None:
    """Give the user NAME roles or take them away; without options, show their roles.
    The last admin keeps the admin role.

    \b
    Examples:
      kb user role ana.silva --add tutor
      kb user role grace.okafor --remove knowledge_manager
    """
    try:
        add = [parse_role(role) for role in added]
        remove = [parse_role(role) for role in removed]
        with _context().database.session() as session:
            person = find_person(session, name)
            before = list(person.roles or [])
            held = change_roles(session, person, add, remove) if add or remove else before
            roles = ", ".join(held) or "no roles"
            if held == before and (add or remove):
                click.echo(f"{person.handle} keeps {roles}: nothing changed.")
            else:
                click.echo(f"{person.handle}: {roles}.")
    except AccountError as error:
        raise click.ClickException(str(error)) from None


@user_group.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask before removing.")
def user_remove(name: str, yes: bool) -> None:
    """Remove the user NAME: their account goes, what they wrote stays.

    As Stack Overflow for Teams and Discourse (anonymize) do it: their entries,
    comments, edits and articles stay where they are, shown as by "Removed
    person". They can no longer sign in (password, sessions and API tokens
    end), lose their roles and e-mail address, are no longer suggested as
    people to ask, and their inbox and follows are deleted. Their user name is
    freed for a new account (`kb user list` shows the old one as removed-ID).
    The last admin cannot be removed.
    """
    try:
        with _context().database.session() as session:
            person = find_person(session, name)
            handle = person.handle
            if not yes:
                click.confirm(
                    f"Remove {handle}? Their entries stay, shown as by a removed person.",
                    abort=True,
                )
            remove_user(session, person)
            click.echo(
                f"Removed {handle}: they cannot sign in any more; their entries stay, "
                "shown as by a removed person."
            )
    except AccountError as error:
        raise click.ClickException(str(error)) from None


@user_group.command("list")
def user_list() -> None:
    """Everyone kb knows: user name, roles, and whether they can sign in."""
    with _context().database.session() as session:
        people = list_users(session)
        if not people:
            click.echo("Nobody yet. Add someone with: kb user add NAME --role worker")
            return
        width = max(len(p.handle) for p in people)
        by_sso = people_with_sso(session)
        click.echo(f"{'user'.ljust(width)}  sign-in  roles")
        for person in people:
            can_sign_in = "yes" if person.password_hash else "sso" if person.id in by_sso else "no"
            roles = ", ".join(person.roles) or "-"
            click.echo(f"{person.handle.ljust(width)}  {can_sign_in.ljust(7)}  {roles}")


@user_group.command("link")
@click.argument("name")
@click.option(
    "--subject",
    required=True,
    help="The person's subject (`sub` claim) at the provider, e.g. their user id in Keycloak.",
)
@click.option("--issuer", default=None, help="The provider's issuer URL [default: KB_OIDC_ISSUER].")
def user_link(name: str, subject: str, issuer: str | None) -> None:
    """Let the existing person NAME sign in through single sign-on as SUBJECT: their first
    sign-on then lands on this account (groups applied) instead of creating a new one.

    \b
    Example:
      kb user link anna.berg --subject 2f1c9a7e-0d4b-4c1e-9a55-3e0f1b7c8d21
    """
    from sqlalchemy import select

    context = _context()
    issuer = issuer or context.settings.oidc_issuer
    if not issuer:
        raise click.ClickException("which provider? Set KB_OIDC_ISSUER or pass --issuer URL")
    with context.database.session() as session:
        person = session.scalar(select(Person).where(Person.handle == canonical_handle(name)))
        if person is None:
            raise click.ClickException(f"nobody has the user name {name!r} (see kb user list)")
        try:
            created = link_identity(session, person, issuer, subject)
        except AccountError as error:
            raise click.ClickException(str(error)) from None
        already = "" if created else " (already linked)"
        click.echo(f"{person.handle} signs in through {issuer.rstrip('/')} as {subject}{already}.")


@click.group("token")
def token_group() -> None:
    """API tokens for scripts: send them as `Authorization: Bearer TOKEN`."""


@token_group.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for, shown by `kb token list`.")
def token_create(name: str, label: str) -> None:
    """Create an API token that acts as the user NAME. It is printed once; kb keeps
    only its hash, so store it now.

    \b
    Example:
      kb token create grace.okafor --label "nightly report"
      curl -H "Authorization: Bearer TOKEN" http://127.0.0.1:8000/api/me
    """
    from sqlalchemy import select

    with _context().database.session() as session:
        person = session.scalar(select(Person).where(Person.handle == canonical_handle(name)))
        if person is None:
            raise click.ClickException(f"nobody is called {name!r}; see `kb user list`")
        try:
            token, plain = create_token(session, person, label)
        except AccountError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"Token {token.id} for {person.handle} (shown only now):", err=True)
        click.echo(plain)


@token_group.command("list")
def token_list() -> None:
    """Tokens: id, user, label, created, last used, revoked."""
    with _context().database.session() as session:
        tokens = list_tokens(session)
        if not tokens:
            click.echo("No tokens. Create one with: kb token create NAME")
            return
        for token in tokens:
            used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            click.echo(
                f"{token.id:>4}  {token.person.handle}  {token.label or '-'}  "
                f"created {token.created_at:%Y-%m-%d}  used {used}  {state}"
            )


@token_group.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID (see `kb token list`); it stops working at once."""
    try:
        with _context().database.session() as session:
            token = revoke_token(session, token_id)
            click.echo(f"Revoked token {token.id} of {token.person.handle}.")
    except AccountError as error:
        raise click.ClickException(str(error)) from None
