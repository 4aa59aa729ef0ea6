"""The user-facing error family: every entry point reports a UserError as one line, exit 2."""


class UserError(Exception):
    """A problem in the user's input (config, trace, checkpoint): reported as one line, exit 2."""


class ConfigError(UserError, ValueError):
    """A setting that is unknown, of the wrong type or out of range; the message names it."""
