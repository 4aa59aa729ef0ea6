"""Errors of the extender's request handling, and how a request's values appear in them: quoted
short, and no error answer longer than ERROR_CHARS, so an answer never echoes a request
unbounded (a 50 MB pod name comes back as its first characters and its length)."""

SHOWN_CHARS = 80
ERROR_CHARS = 1000


class RequestError(ValueError):
    """A malformed extender request: answered with HTTP 400 and {"Error": message}."""


def shown(value: object) -> str:
    """A value from a request as an error message quotes it: a string as it is, anything else
    as its repr, cut to SHOWN_CHARS characters with the full length said."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"


def bounded(message: str) -> str:
    """An error message cut to ERROR_CHARS characters."""
    if len(message) <= ERROR_CHARS:
        return message
    return f"{message[:ERROR_CHARS]}... ({len(message)} characters)"
