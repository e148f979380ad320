"""User-facing errors: the CLI prints them as one line and exits with code 2, without a traceback."""


class NlxError(Exception):
    """Bad input from the user: a config key, a file, a video, a checkpoint. ``str(err)`` is the message."""


class ConfigError(NlxError):
    """A configuration key that is unknown, of the wrong type, or has an impossible value."""
