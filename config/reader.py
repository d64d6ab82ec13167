"""A strict reader over one JSON object of configuration.

Each accessor checks one key and names its full path in the error, so a typo
in cdk.json stops synth with a line like
``environments.dev.aurora.min_capacity: 3 is greater than max_capacity 2``.
Keys nobody asked for are reported by ``finish()``: a misspelt key is an error,
not a silently ignored default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import Enum
from typing import TypeVar

from config.errors import ConfigError

E = TypeVar("E", bound=Enum)
_REQUIRED = object()


class Section:
    """Typed access to one object in the configuration, by dotted path."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: must be an object, got {_show(data)}")
        self._data: Mapping[str, object] = data
        self._path = path
        self._seen: set[str] = set()

    def key_path(self, key: str) -> str:
        return f"{self._path}.{key}"

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.key_path(key)}: {message}")

    def _get(self, key: str, default: object) -> object:
        self._seen.add(key)
        if key in self._data and self._data[key] is not None:
            return self._data[key]
        if default is _REQUIRED:
            raise self.fail(key, "is required")
        return default

    def has(self, key: str) -> bool:
        """Whether an optional sub-object is present (null counts as absent)."""
        self._seen.add(key)
        return self._data.get(key) is not None

    def section(self, key: str) -> Section:
        return Section(self._get(key, {}), self.key_path(key))

    def sections(self, key: str, default: list[object]) -> list[Section]:
        """A list of objects, each its own Section (``key[0]``, ``key[1]``... in errors)."""
        value = self._get(key, default)
        if not isinstance(value, list):
            raise self.fail(key, f"{_show(value)} is not a list of objects")
        return [Section(item, f"{self.key_path(key)}[{n}]") for n, item in enumerate(value)]

    def string(self, key: str, *, pattern: str, hint: str, default: object = _REQUIRED) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise self.fail(key, f"{_show(value)} is not {hint}")
        return value

    def optional_string(self, key: str, *, pattern: str, hint: str) -> str | None:
        if self._data.get(key) is None:
            self._seen.add(key)
            return None
        return self.string(key, pattern=pattern, hint=hint)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"{_show(value)} is not true or false")
        return value

    def integer(self, key: str, default: object, *, low: int, high: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"{_show(value)} is not a whole number from {low} to {high}")
        return value

    def optional_integer(self, key: str, *, low: int, high: int) -> int | None:
        if self._data.get(key) is None:
            self._seen.add(key)
            return None
        return self.integer(key, _REQUIRED, low=low, high=high)

    def one_of_ints(self, key: str, default: int, allowed: tuple[int, ...]) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            choices = ", ".join(str(a) for a in allowed)
            raise self.fail(key, f"{_show(value)} is not one of {choices}")
        return value

    def number(
        self, key: str, default: float, *, low: float, high: float, step: float | None
    ) -> float:
        value = self._get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not low <= float(value) <= high:  # type: ignore[arg-type]
            raise self.fail(key, f"{_show(value)} is not a number from {low:g} to {high:g}")
        number = float(value)  # type: ignore[arg-type]
        if step is not None and (number / step) != int(number / step):
            raise self.fail(key, f"{number:g} is not a multiple of {step:g}")
        return number

    def choice(self, key: str, enum: type[E], default: object = _REQUIRED) -> E:
        value = self._get(key, default)
        if isinstance(value, enum):
            return value
        for member in enum:
            if member.value == value:
                return member
        allowed = ", ".join(str(m.value) for m in enum)
        raise self.fail(key, f"{_show(value)} is not one of {allowed}")

    def optional_choice(self, key: str, enum: type[E]) -> E | None:
        if self._data.get(key) is None:
            self._seen.add(key)
            return None
        return self.choice(key, enum)

    def strings(self, key: str, check: Callable[[str], bool], hint: str) -> tuple[str, ...]:
        value = self._get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, f"{_show(value)} is not a list")
        for item in value:
            if not isinstance(item, str) or not check(item):
                raise self.fail(key, f"{_show(item)} is not {hint}")
        if len(set(value)) != len(value):
            raise self.fail(key, "contains duplicates")
        return tuple(value)

    def string_map(self, key: str) -> tuple[tuple[str, str], ...]:
        value = self._get(key, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self.fail(key, "must be an object of string keys to string values")
        return tuple(sorted(value.items()))

    def finish(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            allowed = ", ".join(sorted(self._seen))
            raise ConfigError(
                f"{self.key_path(unknown[0])}: unknown key; allowed keys here: {allowed}"
            )


def _show(value: object) -> str:
    return "missing" if value is _REQUIRED else repr(value)
