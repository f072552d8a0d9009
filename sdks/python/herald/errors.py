"""Errors raised by the Herald SDK."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any, Mapping, Optional

__all__ = ["HeraldError", "HeraldConnectionError", "NonRetryableError"]

# How much of an error reply is read, and how much of a non-JSON one is kept.
_MAX_ERROR_BODY = 64 << 10
_MAX_PLAIN_MESSAGE = 512


class HeraldError(Exception):
    """An error answered by the Herald engine, or a request that could not be made.

    Every error reply of the HTTP API has the body
    ``{"error": {"code": ..., "message": ..., "field": ...}}``; a HeraldError carries
    those fields together with the HTTP status:

    - ``status``: the HTTP status (400, 404, 409, 429, ...), or 0 when no reply came
      (see HeraldConnectionError);
    - ``code``: the machine-readable code (``invalid_argument``, ``not_found``,
      ``conflict``, ``overloaded``, ...), empty when the reply had no JSON error body;
    - ``message``: the engine's explanation;
    - ``field``: the request field to blame (``key``, ``events[3].key``), or None;
    - ``retry_after``: the seconds the engine asked the caller to wait before retrying
      (the ``Retry-After`` header of 429 and 503 replies), or None.
    """

    status: int
    code: str
    message: str
    field: Optional[str]
    retry_after: Optional[float]

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        field: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = []
        if self.status:
            parts.append("HTTP %d" % self.status)
        if self.code:
            parts.append(self.code)
        head = " ".join(parts)
        text = head + ": " + self.message if head else self.message
        if self.field:
            text += " (field %r)" % self.field
        if self.retry_after:
            text += " (retry after %gs)" % self.retry_after
        return text

    @property
    def temporary(self) -> bool:
        """Whether the same request may succeed later: the engine was overloaded
        (429), could not commit (503), or could not be reached."""
        return self.status in (0, 429, 503)

    @classmethod
    def from_reply(cls, status: int, headers: Mapping[str, str], body: bytes) -> "HeraldError":
        """Builds the error of an HTTP error reply. A body that is not the documented
        JSON error shape is kept, trimmed, as the message."""
        retry_after = parse_retry_after(headers.get("Retry-After"))
        try:
            wire: Any = json.loads(body[:_MAX_ERROR_BODY].decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            wire = None
        if isinstance(wire, dict) and isinstance(wire.get("error"), dict):
            e = wire["error"]
            return cls(
                str(e.get("message") or ""),
                status=status,
                code=str(e.get("code") or ""),
                field=(str(e["field"]) if e.get("field") else None),
                retry_after=retry_after,
            )
        text = body[:_MAX_ERROR_BODY].decode("utf-8", "replace").strip()
        if len(text) > _MAX_PLAIN_MESSAGE:
            text = text[:_MAX_PLAIN_MESSAGE] + "…"
        return cls(text or "HTTP %d" % status, status=status, retry_after=retry_after)


class HeraldConnectionError(HeraldError):
    """The engine could not be reached, or the connection broke before a reply came.
    Its ``status`` is 0 and its ``code`` is ``"unreachable"``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=0, code="unreachable")


class NonRetryableError(Exception):
    """Raised by a step to fail at once, whatever attempts it has left, and with it the
    run: for failures that retrying cannot fix, such as an input without a required
    field. An exception raised ``from`` a NonRetryableError counts as one too.
    """


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Parses a Retry-After header: a number of seconds or an HTTP date. It returns
    None when the value is absent, invalid, not positive or over a day."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        secs = float(value)
    except ValueError:
        secs = None
    if secs is not None:
        if secs != secs or secs <= 0 or secs > 24 * 60 * 60:
            return None
        return secs
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return delta if delta > 0 else None
