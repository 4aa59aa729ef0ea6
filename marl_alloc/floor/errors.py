"""The user-facing error family: every entry point reports a UserError as one line, exit 2."""


def first_line(err: Exception) -> str:
    """The first line of an error's text (Arrow, OmegaConf and pickle errors run on for
    several), or its type's name when it has none: what a one-line message quotes."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class UserError(Exception):
    """A problem in the user's input (config, trace, checkpoint): reported as one line, exit 2."""


class ConfigError(UserError, ValueError):
    """A setting that is unknown, of the wrong type or out of range; the message names it."""
