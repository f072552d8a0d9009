"""HTTP plumbing: a keep-alive connection pool over http.client, JSON in and out,
the error mapping, and the retries of 429 and 503 replies."""

from __future__ import annotations

import http.client
import json
import random
import select
import socket
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import __version__
from .errors import HeraldConnectionError, HeraldError

# Bounds of the transparent retries on 429 and 503 (as in the Go SDK).
DEFAULT_RETRIES = 6
RETRY_BASE_BACKOFF = 0.1
RETRY_MAX_BACKOFF = 5.0
RETRY_MAX_SERVER_ASK = 60.0
# Idle connections kept per client; the engine closes one after two idle minutes.
_MAX_IDLE = 128
_IDLE_LIMIT = 90.0

QueryValue = Union[str, int, Sequence[str]]
Query = Mapping[str, QueryValue]

_DISCONNECTS = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Returns base·2^attempt capped at cap, less up to 20% random jitter."""
    d = base
    for _ in range(attempt):
        if d >= cap:
            break
        d *= 2
    d = min(d, cap)
    return d - random.uniform(0, d / 5)


def encode_json(value: Any) -> bytes:
    """Encodes a request body as compact UTF-8 JSON; NaN and infinities are refused."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


class _Conn:
    """One pooled connection and when it was last returned to the pool."""

    __slots__ = ("http", "idle_since")

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.http = conn
        self.idle_since = 0.0


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Reports whether an idle connection was closed by the engine: an idle socket
    that is readable has seen EOF (or unexpected bytes), and is not reused."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class Transport:
    """Sends JSON requests to one engine. Safe for concurrent use by many threads."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        u = urllib.parse.urlsplit(url.strip())
        if u.scheme not in ("http", "https"):
            raise ValueError("herald: URL %r: scheme must be http or https" % url)
        if not u.hostname:
            raise ValueError("herald: URL %r has no host" % url)
        if u.query or u.fragment:
            raise ValueError("herald: URL %r must not have a query or fragment" % url)
        self.url = urllib.parse.urlunsplit((u.scheme, u.netloc, u.path.rstrip("/"), "", ""))
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port
        self._prefix = u.path.rstrip("/") + "/api/v1"
        self._token = token
        self.timeout = timeout
        self._lock = threading.Lock()
        self._idle: List[_Conn] = []
        self._headers = {
            "Accept": "application/json",
            "User-Agent": "herald-python/" + __version__,
        }
        if token:
            self._headers["Authorization"] = "Bearer " + token

    # -- connections --------------------------------------------------------

    def new_connection(self, timeout: Optional[float] = None) -> http.client.HTTPConnection:
        """Opens a connection (lazily: it connects on the first request)."""
        t = self.timeout if timeout is None else timeout
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=t)
        return http.client.HTTPConnection(self._host, self._port, timeout=t)

    def _get(self) -> Tuple[_Conn, bool]:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                c = self._idle.pop()
                if now - c.idle_since < _IDLE_LIMIT and not _dropped(c.http):
                    return c, True
                c.http.close()
        return _Conn(self.new_connection()), False

    def _put(self, c: _Conn) -> None:
        c.idle_since = time.monotonic()
        with self._lock:
            if len(self._idle) < _MAX_IDLE:
                self._idle.append(c)
                return
        c.http.close()

    def close(self) -> None:
        """Closes the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.http.close()

    # -- requests -------------------------------------------------------------

    def path(self, path: str, query: Optional[Query] = None) -> str:
        """Returns the request target of an API path with its query."""
        target = self._prefix + path
        if query:
            pairs: List[Tuple[str, str]] = []
            for k, v in query.items():
                if isinstance(v, (list, tuple)):
                    pairs.extend((k, str(x)) for x in v)
                else:
                    pairs.append((k, str(v)))
            target += "?" + urllib.parse.urlencode(pairs)
        return target

    def exchange(
        self,
        method: str,
        target: str,
        body: Optional[bytes],
        *,
        timeout: Optional[float] = None,
        conn: Optional[http.client.HTTPConnection] = None,
        replayable: bool = False,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Tuple[int, Dict[str, str], bytes]:
        """Sends one request and returns the status, headers and body of the reply.

        With conn, the request goes on that connection (a worker's poll, which another
        thread may abort by shutting its socket); else on a pooled one. A request that
        finds a pooled connection closed by the engine is sent again on a new one when
        replayable (the engine cannot have acted on it twice) or when the failure came
        while sending it. Network failures raise HeraldConnectionError.
        """
        h = dict(self._headers)
        if body is not None:
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        t = self.timeout if timeout is None else timeout
        for attempt in range(2):
            if conn is not None:
                pooled, reused, hc = None, False, conn
            else:
                pooled, reused = self._get()
                hc = pooled.http
            hc.timeout = t
            if hc.sock is not None:
                hc.sock.settimeout(t)
            sent = False
            try:
                hc.request(method, target, body=body, headers=h)
                sent = True
                resp = hc.getresponse()
                data = resp.read()
                status = resp.status
                reply_headers = {k.title(): v for k, v in resp.getheaders()}
                if resp.will_close:
                    hc.close()
                elif pooled is not None:
                    self._put(pooled)
                return status, reply_headers, data
            except _DISCONNECTS as exc:
                hc.close()
                if reused and attempt == 0 and (replayable or not sent):
                    continue
                raise HeraldConnectionError(
                    "cannot reach Herald at %s: %s" % (self.url, _describe(exc))
                ) from exc
            except (OSError, http.client.HTTPException) as exc:
                hc.close()
                raise HeraldConnectionError(
                    "cannot reach Herald at %s: %s" % (self.url, _describe(exc))
                ) from exc
        raise AssertionError("unreachable")

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Query] = None,
        body: Any = None,
        data: Optional[bytes] = None,
        retries: int = 0,
        timeout: Optional[float] = None,
        replayable: Optional[bool] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Any:
        """Sends one JSON request and returns the decoded JSON reply (None for an empty
        one); ``data`` is a body already encoded. Error replies raise HeraldError. A 429 or 503 reply is retried up to
        retries times, after the wait the engine asked for (Retry-After, at most 60 s)
        or a capped exponential backoff."""
        if data is None and body is not None:
            data = encode_json(body)
        target = self.path(path, query)
        if replayable is None:
            replayable = method in ("GET", "PUT", "DELETE", "HEAD")
        attempt = 0
        while True:
            status, reply_headers, raw = self.exchange(
                method, target, data, timeout=timeout, replayable=replayable, headers=headers
            )
            if 200 <= status < 300:
                if not raw or status == 204:
                    return None
                try:
                    return json.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as exc:
                    raise HeraldError(
                        "decoding the reply of %s %s: %s" % (method, path, exc), status=status
                    ) from exc
            err = HeraldError.from_reply(status, reply_headers, raw)
            if attempt >= retries or status not in (429, 503):
                raise err
            wait = err.retry_after if err.retry_after else backoff(attempt, RETRY_BASE_BACKOFF, RETRY_MAX_BACKOFF)
            time.sleep(min(wait, RETRY_MAX_SERVER_ASK))
            attempt += 1


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, socket.timeout) or isinstance(exc, TimeoutError):
        return "timed out" + (": " + text if text and text != "timed out" else "")
    return text or type(exc).__name__
