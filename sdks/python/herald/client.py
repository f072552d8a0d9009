"""The Herald client: push events, inspect events and runs, start workflows."""

from __future__ import annotations

import datetime as _dt
import os
import time
import urllib.parse
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union, overload

from ._duration import Duration, go_duration
from ._http import DEFAULT_RETRIES, Query, Transport
from .errors import HeraldError
from .models import Event, PushResult, Run, RunRef, RunSummary, WorkflowInfo

from typing import Literal, TypedDict

__all__ = [
    "DEFAULT_URL",
    "Client",
    "EventClient",
    "RunsClient",
    "WorkflowsClient",
    "BulkEvent",
    "Time",
    "resolve_token",
]

#: The address of a local engine, used when neither an argument nor HERALD_URL gives one.
DEFAULT_URL = "http://127.0.0.1:7420"
#: Most events one bulk push takes.
MAX_BULK_EVENTS = 1000

Time = Union[_dt.datetime, str]
"""A point in time: an aware ``datetime`` (a naive one is local time) or an RFC 3339
string."""


class _BulkEventRequired(TypedDict):
    key: str


class BulkEvent(_BulkEventRequired, total=False):
    """One event of ``bulk_push``: ``key`` and, optionally, the same fields ``push``
    takes."""

    payload: Mapping[str, Any]
    additional_metadata: Mapping[str, Any]
    idempotency_key: str
    scope: str
    delay: Duration
    deliver_at: Time


_BULK_FIELDS = frozenset(BulkEvent.__required_keys__ | BulkEvent.__optional_keys__)


def resolve_token(token: Optional[str] = None) -> str:
    """Returns the API token: the argument, else HERALD_TOKEN, else the contents of
    ``<HERALD_DATA_DIR>/token`` (default ``./.herald/token``), which a local engine
    writes on first start. It raises HeraldError (code ``no_token``) when none is
    found."""
    if token is not None and token.strip():
        return token.strip()
    env = os.environ.get("HERALD_TOKEN", "").strip()
    if env:
        return env
    path = os.path.join(os.environ.get("HERALD_DATA_DIR") or ".herald", "token")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
    except OSError as exc:
        raise HeraldError(
            "no token: set HERALD_TOKEN or start a local engine that writes %s (%s)" % (path, exc.strerror or exc),
            code="no_token",
        ) from exc
    if not text:
        raise HeraldError("no token: %s is empty and HERALD_TOKEN is not set" % path, code="no_token")
    return text


def _time(value: Time) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.astimezone()
        return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise TypeError("a time is a datetime or an RFC 3339 string, not %s" % type(value).__name__)


def _object(name: str, value: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError("%s must be a mapping (a JSON object), not %s" % (name, type(value).__name__))
    return dict(value)


def _event_body(
    key: str,
    payload: Optional[Mapping[str, Any]] = None,
    additional_metadata: Optional[Mapping[str, Any]] = None,
    idempotency_key: Optional[str] = None,
    scope: Optional[str] = None,
    delay: Optional[Duration] = None,
    deliver_at: Optional[Time] = None,
) -> Dict[str, Any]:
    body: Dict[str, Any] = {"key": key}
    p = _object("payload", payload)
    if p is not None:
        body["payload"] = p
    m = _object("additional_metadata", additional_metadata)
    if m is not None:
        body["additional_metadata"] = m
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    if scope is not None:
        body["scope"] = scope
    if delay is not None:
        body["delay"] = go_duration(delay)
    if deliver_at is not None:
        body["deliver_at"] = _time(deliver_at)
    return body


def _search(
    q: Dict[str, Any],
    metadata: Optional[Mapping[str, Any]],
    since: Optional[Time],
    until: Optional[Time],
) -> None:
    for name in sorted(metadata or {}):
        v = (metadata or {})[name]
        q["metadata[%s]" % name] = "true" if v is True else "false" if v is False else str(v)
    if since is not None:
        q["since"] = _time(since)
    if until is not None:
        q["until"] = _time(until)


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class Client:
    """Talks to a Herald engine over its HTTP API. Safe for use by many threads.

    ``url`` defaults to HERALD_URL, else ``http://127.0.0.1:7420``; ``token`` to
    HERALD_TOKEN, else the ``token`` file of a local engine's data directory
    (HERALD_DATA_DIR, default ``./.herald``). ``timeout`` bounds each request's
    socket operations, in seconds. Replies 429 and 503 are retried up to
    ``max_retries`` times after the wait the engine asks for (``Retry-After``) or a
    capped exponential backoff; other errors raise HeraldError at once.

    The calls are grouped as a Hatchet user knows them: ``client.event`` (push,
    bulk_push, get, cancel, list), ``client.runs`` (get, list, cancel, wait) and
    ``client.workflows`` (run, put, get, list, enable, disable).
    """

    event: "EventClient"
    runs: "RunsClient"
    workflows: "WorkflowsClient"

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        max_retries: int = DEFAULT_RETRIES,
    ) -> None:
        base = (url or os.environ.get("HERALD_URL") or DEFAULT_URL).strip()
        self._t = Transport(base, resolve_token(token), timeout)
        self.max_retries = max_retries
        self.event = EventClient(self)
        self.runs = RunsClient(self)
        self.workflows = WorkflowsClient(self)

    @classmethod
    def from_env(cls) -> "Client":
        """Returns a client configured from HERALD_URL and HERALD_TOKEN (or the local
        engine's token file), like ``Client()``."""
        return cls()

    @property
    def url(self) -> str:
        """The base address of the engine."""
        return self._t.url

    def close(self) -> None:
        """Closes the idle connections; the client stays usable."""
        self._t.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Query] = None,
        body: Any = None,
        retries: Optional[int] = None,
        replayable: Optional[bool] = None,
    ) -> Any:
        return self._t.call(
            method,
            path,
            query=query,
            body=body,
            retries=self.max_retries if retries is None else retries,
            replayable=replayable,
        )

    def _push(self, body: Dict[str, Any]) -> PushResult:
        res = self._call("POST", "/events", body=body, replayable=bool(body.get("idempotency_key")))
        return PushResult.from_json(res)

    def _pages(self, path: str, query: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        while True:
            res = self._call("GET", path, query=query) or {}
            for item in res.get("items") or []:
                yield item
            cursor = res.get("next_cursor")
            if not cursor:
                return
            query = dict(query, cursor=cursor)


class EventClient:
    """Events: ``client.event``."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def push(
        self,
        key: str,
        payload: Optional[Mapping[str, Any]] = None,
        *,
        additional_metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        scope: Optional[str] = None,
        delay: Optional[Duration] = None,
        deliver_at: Optional[Time] = None,
    ) -> PushResult:
        """Stores one event and starts the runs it triggers; returns once the event
        and its runs are committed, with the event and the runs it started.

        ``additional_metadata`` values must be strings, numbers or booleans.
        ``idempotency_key`` makes the push happen at most once per key within the
        engine's idempotency window: a repeat returns the original event and runs with
        ``duplicate`` set. ``scope`` routes the event to the workflows' runtime
        filters of that scope. ``delay`` (seconds, a timedelta or ``"90s"``) or
        ``deliver_at`` (a datetime) stores the event now and delivers it when due: the
        result's event is then ``scheduled`` and has no runs yet.
        """
        return self._c._push(
            _event_body(key, payload, additional_metadata, idempotency_key, scope, delay, deliver_at)
        )

    def bulk_push(self, events: Sequence[BulkEvent]) -> List[PushResult]:
        """Stores 1–1,000 events at once, all or nothing, and returns one result per
        event in request order. If one is invalid nothing is stored, and the
        HeraldError's ``field`` names it (``events[3].key``)."""
        if isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
            raise TypeError("bulk_push takes a list of events")
        if not 1 <= len(events) <= MAX_BULK_EVENTS:
            raise ValueError("bulk_push takes 1 to %d events, not %d" % (MAX_BULK_EVENTS, len(events)))
        body = []
        for i, ev in enumerate(events):
            if not isinstance(ev, Mapping) or "key" not in ev:
                raise TypeError("events[%d] must be a mapping with a key" % i)
            unknown = set(ev) - _BULK_FIELDS
            if unknown:
                raise TypeError("events[%d] has unknown fields: %s" % (i, ", ".join(sorted(unknown))))
            body.append(
                _event_body(
                    ev["key"],
                    ev.get("payload"),
                    ev.get("additional_metadata"),
                    ev.get("idempotency_key"),
                    ev.get("scope"),
                    ev.get("delay"),
                    ev.get("deliver_at"),
                )
            )
        replayable = all(b.get("idempotency_key") for b in body)
        res = self._c._call("POST", "/events/bulk", body={"events": body}, replayable=replayable) or {}
        return [PushResult.from_json(item) for item in res.get("items") or []]

    def get(self, event_id: str) -> Event:
        """Returns one event with its trigger decisions, the runs it started and, when a
        step pushed it, its lineage."""
        return Event.from_json(self._c._call("GET", "/events/" + _quote(event_id)))

    def cancel(self, event_id: str) -> Event:
        """Cancels a delayed event before its delivery and returns it (``cancelled``).
        A 409 HeraldError means it was already delivered, cancelled or failed."""
        return Event.from_json(self._c._call("POST", "/events/" + _quote(event_id) + "/cancel", body={}))

    def replay(self, event_id: str) -> PushResult:
        """Pushes a stored event again as a new event, matched against today's
        workflows."""
        return PushResult.from_json(self._c._call("POST", "/events/" + _quote(event_id) + "/replay", body={}))

    def dry_run(
        self,
        key: str,
        payload: Optional[Mapping[str, Any]] = None,
        *,
        additional_metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        scope: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Validates an event like ``push`` and returns, for every workflow, whether it
        would trigger it and if not why; stores and triggers nothing."""
        body = _event_body(key, payload, additional_metadata, idempotency_key, scope)
        body["dry_run"] = True
        res = self._c._call("POST", "/events", body=body, replayable=True)
        return res if isinstance(res, dict) else {}

    def list(
        self,
        *,
        key: Optional[str] = None,
        key_prefix: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        since: Optional[Time] = None,
        until: Optional[Time] = None,
        status: Optional[str] = None,
        workflow: Optional[str] = None,
        page_size: Optional[int] = None,
    ) -> Iterator[Event]:
        """Iterates over events, newest first, fetching cursor pages of ``page_size``
        (1–500, default 50) as it goes."""
        q: Dict[str, Any] = {}
        for name, v in (("key", key), ("key_prefix", key_prefix), ("status", status), ("workflow", workflow)):
            if v is not None:
                q[name] = v
        if page_size is not None:
            q["limit"] = page_size
        _search(q, metadata, since, until)
        return (Event.from_json(d) for d in self._c._pages("/events", q))


class RunsClient:
    """Runs: ``client.runs``."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def get(self, run_id: str) -> Run:
        """Returns one run with its steps."""
        return Run.from_json(self._c._call("GET", "/runs/" + _quote(run_id)))

    def list(
        self,
        *,
        workflow: Optional[str] = None,
        status: Optional[str] = None,
        event_id: Optional[str] = None,
        key: Optional[str] = None,
        key_prefix: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        since: Optional[Time] = None,
        until: Optional[Time] = None,
        page_size: Optional[int] = None,
    ) -> Iterator[RunSummary]:
        """Iterates over runs (without their steps), newest first, fetching cursor pages
        of ``page_size`` (1–500, default 50) as it goes. ``key``, ``key_prefix`` and
        ``metadata`` filter by the triggering event."""
        q: Dict[str, Any] = {}
        for name, v in (
            ("workflow", workflow),
            ("status", status),
            ("event_id", event_id),
            ("key", key),
            ("key_prefix", key_prefix),
        ):
            if v is not None:
                q[name] = v
        if page_size is not None:
            q["limit"] = page_size
        _search(q, metadata, since, until)
        return (RunSummary.from_json(d) for d in self._c._pages("/runs", q))

    def cancel(self, run_id: str) -> Run:
        """Cancels a run that has not ended and returns it; workers holding its steps
        learn it at their next heartbeat. A 409 HeraldError means it already ended."""
        return Run.from_json(self._c._call("POST", "/runs/" + _quote(run_id) + "/cancel", body={}))

    def wait(self, run_id: str, timeout: Optional[float] = None) -> Run:
        """Polls a run until it has ended (succeeded, failed or cancelled) and returns
        it. Raises TimeoutError when ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = 0.02
        while True:
            run = self.get(run_id)
            if run.done:
                return run
            if deadline is not None and time.monotonic() + interval > deadline:
                raise TimeoutError("run %s has not ended after %gs (status %s)" % (run_id, timeout, run.status))
            time.sleep(interval)
            interval = min(interval * 1.5, 0.5)


class WorkflowsClient:
    """Workflows: ``client.workflows``."""

    def __init__(self, client: Client) -> None:
        self._c = client

    @overload
    def run(
        self,
        name: str,
        input: Optional[Mapping[str, Any]] = ...,
        *,
        wait: Literal[False] = ...,
        timeout: Optional[float] = ...,
    ) -> RunRef: ...

    @overload
    def run(
        self,
        name: str,
        input: Optional[Mapping[str, Any]] = ...,
        *,
        wait: Literal[True],
        timeout: Optional[float] = ...,
    ) -> Run: ...

    def run(
        self,
        name: str,
        input: Optional[Mapping[str, Any]] = None,
        *,
        wait: bool = False,
        timeout: Optional[float] = None,
    ) -> Union[RunRef, Run]:
        """Starts a run of the named workflow without an event (a manual run, which
        works on disabled workflows too) with ``input`` as its input. Returns the
        run's reference, or with ``wait=True`` the run once it has ended (TimeoutError
        after ``timeout`` seconds)."""
        body: Dict[str, Any] = {}
        inp = _object("input", input)
        if inp is not None:
            body["input"] = inp
        ref = RunRef.from_json(self._c._call("POST", "/workflows/" + _quote(name) + "/runs", body=body))
        if not wait:
            return ref
        return self._c.runs.wait(ref.run_id, timeout=timeout)

    def put(self, definition: Mapping[str, Any]) -> WorkflowInfo:
        """Creates or updates a workflow from its JSON definition (docs/api.md); a
        changed definition becomes a new version."""
        d = _object("definition", definition) or {}
        name = d.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("a workflow definition needs a name")
        res = self._c._call("PUT", "/workflows/" + _quote(name), body=d) or {}
        return WorkflowInfo.from_json(res.get("workflow"))

    def get(self, name: str) -> WorkflowInfo:
        """Returns the current version of the named workflow."""
        return WorkflowInfo.from_json(self._c._call("GET", "/workflows/" + _quote(name)))

    def list(self) -> List[WorkflowInfo]:
        """Lists the workflows of the token's tenant."""
        res = self._c._call("GET", "/workflows") or {}
        return [WorkflowInfo.from_json(w) for w in res.get("items") or []]

    def enable(self, name: str) -> WorkflowInfo:
        """Enables the named workflow: matching events start runs again."""
        return WorkflowInfo.from_json(self._c._call("POST", "/workflows/" + _quote(name) + "/enable", body={}))

    def disable(self, name: str) -> WorkflowInfo:
        """Disables the named workflow: matching events record it as skipped."""
        return WorkflowInfo.from_json(self._c._call("POST", "/workflows/" + _quote(name) + "/disable", body={}))
