"""Errors of the extender's request handling."""


class RequestError(ValueError):
    """A malformed extender request: answered with HTTP 400 and {"Error": message}."""
