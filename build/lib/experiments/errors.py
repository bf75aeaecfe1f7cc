"""The one error type the command line turns into a one-line message and exit code 2."""


class ConfigError(ValueError):
    """A bad config, manifest, row or scale: the message names the key and the valid choices."""
