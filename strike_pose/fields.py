"""The checks of fields read from files a user writes (scene, experiment and catalogue TOML): each takes
the field's place (`where`, as the user would find it: "light.ambient", "attack 'a'.budget_seconds") and
raises one StrikePoseError that names it and says what it must be."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from strike_pose.errors import StrikePoseError, shown


def finite_float(value: Any) -> float | None:
    """float(value) for a real number (not a bool) that is finite as a float; else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float's range
        return None
    return number if math.isfinite(number) else None


def number(where: str, value: Any, lo: float | None = None, hi: float | None = None) -> float:
    """`value` as a float if it is a finite number within lo..hi (either bound may be None), else a
    StrikePoseError naming `where`: the one number check of scene and experiment files."""
    number = finite_float(value)
    if number is None:
        raise StrikePoseError(f"{where} must be a finite number, got {shown(value)}")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        bound = (f"between {lo:g} and {hi:g}" if lo is not None and hi is not None else
                 f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        raise StrikePoseError(f"{where} must be {bound}, got {shown(value)}")
    return number


def table(where: str, data: dict, cls) -> dict:
    """`data`, when it is a table whose keys are all fields of the dataclass `cls`, else a StrikePoseError."""
    return table_of(where, data, [f.name for f in fields(cls)])


def table_of(where: str, data: dict, names) -> dict:
    """`data`, when it is a table whose keys are all among `names`, else a StrikePoseError naming the field."""
    if not isinstance(data, dict):
        raise StrikePoseError(f"{where} must be a table like [{where}], got {shown(data)}")
    names = set(names)
    for key in data:
        if key not in names:
            raise StrikePoseError(f"unknown field {where}.{str(key)[:80]}; the fields of [{where}] are "
                                  f"{', '.join(sorted(names))}")
    return data


def string(value: Any, where: str) -> str:
    """`value` when it is a non-empty string, else a StrikePoseError naming `where`."""
    if not isinstance(value, str) or not value:
        raise StrikePoseError(f"{where} must be a non-empty string, got {shown(value)}")
    return value


def strings(value: Any, where: str) -> list[str]:
    """A list of non-empty strings (one string stands for a list of it), else a StrikePoseError naming `where`."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise StrikePoseError(f"{where} must be a list of strings, got {shown(value)}")
    return [string(v, where) for v in value]


def integer(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    """`value` when it is a whole number (not a bool) within lo..hi, else a StrikePoseError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise StrikePoseError(f"{where} must be a whole number, got {shown(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bound = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise StrikePoseError(f"{where} must be {bound}, got {shown(value)}")
    return value


__all__ = ["finite_float", "integer", "number", "string", "strings", "table", "table_of"]
