"""Finding a person from what someone typed into a people picker: a user name, or a
full name; a miss says who was probably meant."""

import difflib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.errors import InvalidContribution
from kb.models import Person

CLOSE_MATCHES = 3


def person_called(session: Session, typed: str) -> Person:
    """The person whose user name (or, failing that, full name) this is, any case."""
    text = " ".join(typed.split())
    if not text:
        raise InvalidContribution("say whom to pass it to: pick a person from the list")
    by_handle = session.scalar(select(Person).where(func.lower(Person.handle) == text.lower()))
    if by_handle is not None:
        return by_handle
    by_name = list(session.scalars(select(Person).where(func.lower(Person.name) == text.lower())))
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        handles = ", ".join(p.handle for p in by_name)
        raise InvalidContribution(f"more than one person is called {text!r}: pick one of {handles}")
    raise InvalidContribution(f"nobody is called {text!r}" + _did_you_mean(session, text))


def _did_you_mean(session: Session, text: str) -> str:
    people = session.execute(select(Person.handle, Person.name)).all()
    spelled = {handle.lower(): handle for handle, _ in people}
    spelled.update({name.lower(): handle for handle, name in people})
    close = difflib.get_close_matches(text.lower(), spelled, n=CLOSE_MATCHES, cutoff=0.6)
    handles = list(dict.fromkeys(spelled[match] for match in close))
    return f": did you mean {' or '.join(handles)}?" if handles else ""
