"""Reading one JSON object field by field with a type check each, so that a wrong or
missing value and an unknown key (a typo) are each reported in one line by their path."""

from __future__ import annotations

import math
from typing import Any


class Malformed(ValueError):
    """One value of an entry that is not what its field needs; the message names the field."""


class Fields:
    """The keys of one JSON object, read once each with a type check, so that a wrong or
    missing value and an unknown key (a typo) are each reported by their path."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            what = f"'{where}'" if where else "the entry"
            raise Malformed(f"{what} must be an object, not {show(data)}")
        self.data, self.where, self.seen = data, where, set()

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, optional: bool = False) -> Any:
        self.seen.add(key)
        value = self.data.get(key)
        if value is None and not optional:
            raise Malformed(f"'{self.at(key)}' is missing")
        return value

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value:
            raise Malformed(f"'{self.at(key)}' must be a non-empty string, not {show(value)}")
        return value

    def number(self, key: str, low: float = -math.inf, high: float = math.inf) -> float:
        return _number(self.get(key), self.at(key), low, high)

    def integer(self, key: str, low: int = 0) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise Malformed(f"'{self.at(key)}' must be an integer >= {low}, not {show(value)}")
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise Malformed(f"'{self.at(key)}' must be true or false, not {show(value)}")
        return value

    def items(self, key: str, length: int | None = None) -> list:
        value = self.get(key)
        if not isinstance(value, list) or (length is not None and len(value) != length):
            wanted = f"a list of {length}" if length is not None else "a list"
            raise Malformed(f"'{self.at(key)}' must be {wanted}, not {show(value)}")
        return value

    def texts(self, key: str, length: int | None = None) -> tuple[str, ...]:
        value = self.items(key, length)
        if not all(isinstance(v, str) and v for v in value):
            raise Malformed(f"'{self.at(key)}' must hold non-empty strings, not {show(value)}")
        return tuple(value)

    def numbers(
        self, key: str, length: int, low: float = -math.inf, high: float = math.inf
    ) -> tuple[float, ...]:
        return tuple(_number(v, self.at(key), low, high) for v in self.items(key, length))

    def plain(self, key: str) -> dict[str, Any]:
        """A free-form object (provenance: where a file came from, how it was checked)."""
        value = self.get(key, optional=True)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise Malformed(f"'{self.at(key)}' must be an object, not {show(value)}")
        return value

    def sub(self, key: str, optional: bool = False) -> Fields | None:
        value = self.get(key, optional)
        return None if value is None else Fields(value, self.at(key))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise Malformed(f"unknown key '{self.at(unknown[0])}'")


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        bounds = f" in [{low:g}, {high:g}]" if math.isfinite(low) and math.isfinite(high) else ""
        raise Malformed(f"'{where}' must be a number{bounds}, not {show(value)}")
    return float(value)


def show(value: Any) -> str:
    """A value for a one-line message: its JSON type and a short repr."""
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "list"}
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return "nothing" if value is None else f"{kinds.get(type(value), 'object')} {text}"
