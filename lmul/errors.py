"""The project's error classes and the one helper for parameter checks.

Every bad value a user can pass raises a ``ValueError`` subclass whose message names the
parameter and its allowed range (the CLI prints it as one line, exit code 2); a value of the
wrong type raises ``TypeError``. Neutral: imported by golden models, gateware and tools alike.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FormatError", "ParameterError", "check_choice", "check_int"]


class FormatError(ValueError):
    """A bad value: an invalid format description, a value that does not fit a format, or a
    parameter out of its range (``ParameterError``)."""


class ParameterError(FormatError):
    """A parameter value outside its allowed range; the message names the parameter and the range."""


def check_int(name: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in ``lo..hi`` (either bound may be open).

    Raises ``TypeError`` when ``value`` is not an int (``bool`` included) and ``ParameterError``
    naming ``name`` and the range when it is out of range.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if hi is None:
            rng = f">= {lo}"
        elif lo is None:
            rng = f"<= {hi}"
        else:
            rng = f"in {lo}..{hi}"
        raise ParameterError(f"{name} must be {rng}, got {value}")
    return value


def check_choice(name: str, value: object, choices: Iterable[object]) -> object:
    """``value`` if it is one of ``choices``, else ``ParameterError`` listing them."""
    options = list(choices)
    if value not in options:
        raise ParameterError(f"{name} must be one of {', '.join(repr(c) for c in options)}, got {value!r}")
    return value
