"""The one error type bad configuration raises: its message is the whole story."""


class ConfigError(ValueError):
    """Raised with one line naming the key, the bad value and what is allowed."""
