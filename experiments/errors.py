"""The errors of the command line: ConfigError (a one-line message, exit code 2) and Terminated (SIGTERM)."""


class ConfigError(ValueError):
    """A bad config, manifest, row or scale: the message names the key and the valid choices."""


class Terminated(KeyboardInterrupt):
    """A run stopped by SIGTERM: sacred records it INTERRUPTED (its STATUS), as for Ctrl-C; the command exits 143
    (128 + 15). A BaseException, as KeyboardInterrupt: no `except Exception` on the way (a data reader's per-sample
    skip) can swallow it and train on."""

    STATUS = "INTERRUPTED"
