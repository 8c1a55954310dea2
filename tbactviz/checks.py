"""Argument checks shared by every stage: one wording, and one exception type per kind of mistake.

* :class:`TypeError` when the value has the wrong type (a float or a bool where an int is expected, a number
  where a name is expected);
* :class:`ValueError` when the type is right but the value is not (an int below its minimum, an unknown name).

Every message reads ``name=value is not valid; expected <what is valid>``, and a type error adds what it got
(``..., got float``), so a message alone tells which argument to fix and how. ``bool`` is never taken for an
int or a number (``max_images=True`` is a mistake, not 1); numpy integers are ints and numpy floats are
numbers (they register as :class:`numbers.Integral` / :class:`numbers.Real`); numpy's ``bool_`` is a bool.

This module imports nothing but the standard library and numpy, so every stage may use it.

Example:
    >>> check_int("max_images", 3, minimum=1)
    3
    >>> check_int("max_images", True, minimum=1)
    Traceback (most recent call last):
    ...
    TypeError: max_images=True is not valid; expected an int >= 1, got bool
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_ints",
    "check_number",
    "check_optional_int",
    "check_range",
    "int_bounds",
    "is_bool",
    "is_int",
    "is_number",
    "type_error",
    "value_error",
]


def type_error(name: str, value: Any, expected: str) -> TypeError:
    """The :class:`TypeError` of an argument of the wrong type: ``name=value is not valid; expected ...``.

    Example:
        >>> str(type_error("order", 3, "one of 'index', 'activity'"))
        "order=3 is not valid; expected one of 'index', 'activity', got int"
    """
    return TypeError(f"{name}={value!r} is not valid; expected {expected}, got {type(value).__name__}")


def value_error(name: str, value: Any, expected: str) -> ValueError:
    """The :class:`ValueError` of an argument of the right type and a wrong value.

    Example:
        >>> str(value_error("levels", 1, "an int in 2..254"))
        'levels=1 is not valid; expected an int in 2..254'
    """
    return ValueError(f"{name}={value!r} is not valid; expected {expected}")


def is_bool(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy bool.

    Example:
        >>> is_bool(True), is_bool(np.False_), is_bool(1)
        (True, True, False)
    """
    return isinstance(value, (bool, np.bool_))


def is_int(value: Any) -> bool:
    """Whether ``value`` is an int, and not a bool: a Python or numpy int, or anything with ``__index__``
    (Python's own test of an int: a 0-d numpy int array, ``range``-like index types).

    Example:
        >>> import numpy as np
        >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
        (True, True, False, False)
    """
    if is_bool(value):
        return False
    if isinstance(value, numbers.Integral):
        return True
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number (int or float, Python or numpy), and not a bool.

    Example:
        >>> is_number(0.5), is_number(2), is_number(False), is_number("1")
        (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not is_bool(value)


def int_bounds(minimum: int | None, maximum: int | None) -> str:
    """``"an int >= 1"``, ``"an int in 2..254"``, ``"an int <= 9"`` or ``"an int"``."""
    if minimum is not None and maximum is not None:
        return f"an int in {minimum}..{maximum}"
    if minimum is not None:
        return f"an int >= {minimum}"
    return f"an int <= {maximum}" if maximum is not None else "an int"


def check_int(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None, valid: str = ""
) -> int:
    """``value`` as an ``int`` within ``minimum..maximum`` (both inclusive, None: unbounded).

    Args:
        name: The argument's name, as the caller wrote it (``"max_images"``, ``"--step"``).
        value: What was passed.
        minimum, maximum: The bounds.
        valid: What is valid, when more than the bounds says it (replaces ``"an int >= 1"``).

    Raises:
        TypeError: ``value`` is not an int (floats, bools, strings, None).
        ValueError: ``value`` is out of bounds.

    Example:
        >>> import numpy as np
        >>> check_int("levels", np.uint8(64), minimum=2, maximum=254)
        64
    """
    expected = valid or int_bounds(minimum, maximum)
    if not is_int(value):
        raise type_error(name, value, expected)
    number = operator.index(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise value_error(name, value, expected)
    return number


def check_optional_int(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None, meaning: str = ""
) -> int | None:
    """:func:`check_int`, with ``None`` valid too (``meaning`` says what None does, for the message).

    Example:
        >>> check_optional_int("columns", None, minimum=1) is None
        True
    """
    if value is None:
        return None
    none = f"None ({meaning})" if meaning else "None"
    return check_int(
        name, value, minimum=minimum, maximum=maximum, valid=f"{int_bounds(minimum, maximum)} or {none}"
    )


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    finite: bool = False,
) -> float:
    """``value`` as a ``float`` within ``minimum..maximum`` (inclusive); NaN is never within bounds.

    Args:
        name: The argument's name.
        value: What was passed: an int or a float (Python or numpy), not a bool.
        minimum, maximum: The bounds (None: unbounded).
        finite: Whether +-Inf and NaN are refused too.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: ``value`` is out of bounds, NaN, or (with ``finite``) infinite.

    Example:
        >>> check_number("eps", 0, minimum=0.0)
        0.0
    """
    parts = ["a finite number" if finite else "a number"]
    if minimum is not None:
        parts.append(f">= {minimum:g}")
    if maximum is not None:
        parts.append(f"<= {maximum:g}" if minimum is None else f"and <= {maximum:g}")
    expected = " ".join(parts)
    if not is_number(value):
        raise type_error(name, value, expected)
    number = float(value)
    if (
        math.isnan(number)
        or (finite and math.isinf(number))
        or (minimum is not None and not number >= minimum)
        or (maximum is not None and not number <= maximum)
    ):
        raise value_error(name, value, expected)
    return number


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a ``bool`` (Python or numpy bools only: 0 and 1 are not bools).

    Raises:
        TypeError: ``value`` is not a bool.

    Example:
        >>> check_bool("images", False)
        False
    """
    if not is_bool(value):
        raise type_error(name, value, "True or False")
    return bool(value)


def check_choice(name: str, value: Any, choices: Sequence[str], *, valid: str = "") -> str:
    """``value`` if it is one of the strings ``choices`` (``valid``: what is valid, if more than them).

    Raises:
        TypeError: ``value`` is not a str.
        ValueError: ``value`` is not one of ``choices``.

    Example:
        >>> check_choice("order", "activity", ("index", "activity"))
        'activity'
    """
    expected = valid or "one of " + ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise type_error(name, value, expected)
    if value not in choices:
        raise value_error(name, value, expected)
    return value


def check_range(name: str, value: Any) -> tuple[float, float]:
    """A ``(low, high)`` pair of finite numbers with ``high > low``, as floats.

    Raises:
        TypeError: ``value`` is not a pair of numbers (a str, a number, three numbers, a pair holding None).
        ValueError: a bound is NaN or infinite, or ``high <= low``.

    Example:
        >>> check_range("value_range", [0, 2])
        (0.0, 2.0)
    """
    expected = "a pair (low, high) of finite numbers with high > low"
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise type_error(name, value, expected)
    items = list(value)
    if len(items) != 2 or not all(is_number(v) for v in items):
        raise type_error(name, value, expected)
    low, high = float(items[0]), float(items[1])
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise value_error(name, value, expected)
    return low, high


def check_ints(name: str, value: Any, *, minimum: int | None = None, valid: str = "") -> tuple[int, ...]:
    """An iterable of ints (each >= ``minimum``) as a tuple, in the given order.

    Raises:
        TypeError: ``value`` is not an iterable (a str is not one here), or an item is not an int.
        ValueError: an item is below ``minimum``.

    Example:
        >>> check_ints("steps", [1, 5, 10], minimum=0)
        (1, 5, 10)
    """
    expected = valid or f"an iterable of ints{'' if minimum is None else f' >= {minimum}'}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise type_error(name, value, expected)
    out = []
    for item in value:
        if not is_int(item):
            raise TypeError(f"{name}={value!r} is not valid: {item!r} is not an int; expected {expected}")
        if minimum is not None and operator.index(item) < minimum:
            raise ValueError(
                f"{name}={value!r} is not valid: {item!r} is below {minimum}; expected {expected}"
            )
        out.append(operator.index(item))
    return tuple(out)
