"""The errors of the command line: ConfigError (a one-line message, exit code 2) and Terminated (SIGTERM)."""

from sacred.utils import SacredInterrupt


class ConfigError(ValueError):
    """A bad config, manifest, row or scale: the message names the key and the valid choices."""


class Terminated(SacredInterrupt):
    """A run stopped by SIGTERM: sacred records it INTERRUPTED (its STATUS); the command exits 143 (128 + 15)."""

    STATUS = "INTERRUPTED"
