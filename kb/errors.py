"""The two ways a write is refused. Every adapter maps them its own way: the JSON API
to 403 and 422, the form pages to the form again with the reason, the CLI to a message."""


class InvalidContribution(ValueError):
    """The content cannot be saved as it is; the message says what to change."""


class NotAllowed(PermissionError):
    """This person may not do this; the message says who may."""
