"""Durations on the wire are Go duration strings ("30s", "1m30s", "250ms")."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Union

Duration = Union[int, float, str, _dt.timedelta]
"""A duration: seconds (int or float), a ``datetime.timedelta``, or a Go duration
string such as ``"30s"``, ``"1m30s"`` or ``"250ms"``."""

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Parses a Go duration string into seconds; raises ValueError when it is not one."""
    s = text.strip()
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError("invalid duration %r" % text)
    total, pos = 0.0, 0
    for m in _PART.finditer(s):
        if m.start() != pos:
            raise ValueError("invalid duration %r" % text)
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError("invalid duration %r" % text)
    return sign * total


def seconds(value: Duration) -> float:
    """Returns a duration in seconds."""
    if isinstance(value, bool):
        raise TypeError("a duration is seconds, a timedelta or a string like '30s', not a bool")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        return parse_go_duration(value)
    raise TypeError("a duration is seconds, a timedelta or a string like '30s', not %s" % type(value).__name__)


def go_duration(value: Duration) -> str:
    """Writes a duration as a Go duration string ("30s", "1.5s"); a string is checked
    and passed on as written."""
    if isinstance(value, str):
        parse_go_duration(value)
        return value.strip()
    secs = seconds(value)
    if secs == int(secs):
        return "%ds" % int(secs)
    text = ("%.6f" % secs).rstrip("0").rstrip(".")
    return text + "s"
