"""`kb community …`: create communities, open or members-only, and manage members."""

from typing import Any

import click
from sqlalchemy import select

from kb.communities import (
    community_by_slug,
    create_community,
    members_of,
    set_membership,
    set_private,
)
from kb.errors import InvalidContribution
from kb.models import Community, Person


def _context() -> Any:
    return click.get_current_context().find_root().obj


def _person(session: Any, handle: str) -> Person:
    person = session.scalar(select(Person).where(Person.handle == handle.strip()))
    if person is None:
        raise click.ClickException(f"nobody is called {handle!r} (see `kb user list`)")
    return person


def _community(session: Any, slug: str) -> Community:
    try:
        return community_by_slug(session, slug)
    except InvalidContribution as error:
        raise click.ClickException(f"{error} (see `kb community list`)") from None


@click.group("community")
def community_group() -> None:
    """Communities: open ones everyone may read, members-only ones only their members
    (and admins) see, in search, pages, the API, routing, the console and exports.

    \b
      kb community create hr --name "People & HR" --private
      kb community add-member hr grace.okafor
      kb community list
    """


@community_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The community's name, as pages show it.")
@click.option("--description", default="", help="A sentence on what the community is about.")
@click.option(
    "--private/--open",
    "private",
    default=False,
    show_default=True,
    help="Members-only (--private) or readable by everyone who may read kb (--open).",
)
def create_command(slug: str, name: str, description: str, private: bool) -> None:
    """Create the community SLUG (its id in URLs and in imported files' `community:`)."""
    with _context().database.session() as session:
        try:
            community = create_community(session, slug, name, description, private)
        except InvalidContribution as error:
            raise click.ClickException(str(error)) from None
        kind = "members-only" if community.private else "open"
        click.echo(f"Created the {kind} community {community.slug} ({community.name}).")


@community_group.command("set")
@click.argument("slug")
@click.option(
    "--private/--open",
    "private",
    required=True,
    help="Make the community members-only, or open to every reader.",
)
def set_command(slug: str, private: bool) -> None:
    """Make the existing community SLUG members-only or open; takes effect at once (no
    reindex)."""
    with _context().database.session() as session:
        community = _community(session, slug)
        entries = set_private(session, community, private)
        if private:
            click.echo(
                f"{community.slug} is members-only: its {entries} entries are visible only "
                f"to its {len(members_of(session, community))} members and to admins."
            )
        else:
            click.echo(f"{community.slug} is open: its {entries} entries are visible to readers.")


@community_group.command("add-member")
@click.argument("slug")
@click.argument("handle")
def add_member_command(slug: str, handle: str) -> None:
    """Make the user HANDLE a member of the community SLUG."""
    with _context().database.session() as session:
        community, person = _community(session, slug), _person(session, handle)
        set_membership(session, None, community, person, member=True)
        click.echo(f"{person.handle} is a member of {community.slug}.")


@community_group.command("remove-member")
@click.argument("slug")
@click.argument("handle")
def remove_member_command(slug: str, handle: str) -> None:
    """Remove the user HANDLE from the community SLUG (of a members-only community, they
    stop seeing its entries, requests and notifications at once)."""
    with _context().database.session() as session:
        community, person = _community(session, slug), _person(session, handle)
        if community.slug not in (person.communities or []):
            raise click.ClickException(f"{person.handle} is not a member of {community.slug}")
        set_membership(session, None, community, person, member=False)
        click.echo(f"{person.handle} is no longer a member of {community.slug}.")


@community_group.command("list")
def list_command() -> None:
    """Every community: id, open or members-only, members, name."""
    with _context().database.session() as session:
        communities = list(session.scalars(select(Community).order_by(Community.slug)))
        if not communities:
            click.echo("No communities yet. Create one with: kb community create SLUG --name NAME")
            return
        for community in communities:
            kind = "members-only" if community.private else "open"
            members = len(members_of(session, community))
            click.echo(f"{community.slug:<20} {kind:<13} {members:>4} members  {community.name}")
