"""The Herald worker: workflows declared with decorators, run in threads.

A worker stores its workflow definitions in the engine, registers itself, long-polls
for ready steps, runs each in its own thread (up to ``slots`` at once), heartbeats the
leases it holds, and reports each result with its lease. It speaks the worker protocol
of docs/worker-protocol.md, with the semantics of the Go SDK's Worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import heapq
import http.client
import inspect
import itertools
import json
import logging
import os
import re
import signal
import socket
import threading
import time
import traceback
import urllib.parse
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    MutableMapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from ._duration import Duration, go_duration, parse_go_duration, seconds
from ._http import RETRY_MAX_SERVER_ASK, backoff, encode_json
from .client import Client, Time, _event_body
from .errors import HeraldConnectionError, HeraldError, NonRetryableError
from .models import PushResult, parse_time

__all__ = ["Context", "Worker", "Workflow", "StepSpec", "step", "workflow"]

# Defaults and bounds (as in the Go SDK).
DEFAULT_SLOTS = 10
MAX_SLOTS = 1000
DEFAULT_POLL_WAIT = 20.0
MAX_POLL_WAIT = 60.0
MAX_POLL_BATCH = 100
DEFAULT_SHUTDOWN_TIMEOUT = 20.0
ABANDON_TIMEOUT = 5.0
DEFAULT_HEARTBEAT = 10.0
REPORT_TIMEOUT = 30.0
REPORT_RETRIES = 5
MAX_ERROR_MESSAGE = 8 << 10

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: What a step may return: a mapping (a JSON object), a dataclass instance, or None for {}.
StepResult = Union[Mapping[str, Any], Any, None]

#: Why a step's cancellation flag was set.
CANCELLED_BY_ENGINE = "cancelled by the engine (run cancelled or lease lost)"
DEADLINE_EXCEEDED = "step deadline exceeded"
WORKER_SHUTDOWN = "worker shutting down"


# ---------------------------------------------------------------------------
# Declarations


@dataclasses.dataclass
class StepSpec:
    """One step of a workflow, as declared with ``@step``.

    ``retries`` is how many times a failed attempt is tried again (the step gets
    ``retries + 1`` attempts; engine default 2 retries); ``timeout`` bounds one
    attempt (engine default 60s); ``backoff``, ``max_backoff`` and ``backoff_factor``
    shape the waits between attempts (engine defaults 1s, 1m and 2).
    """

    fn: Callable[..., Any]
    name: str
    parents: List[Union[str, Callable[..., Any]]] = dataclasses.field(default_factory=list)
    retries: Optional[int] = None
    timeout: Optional[Duration] = None
    backoff: Optional[Duration] = None
    max_backoff: Optional[Duration] = None
    backoff_factor: Optional[float] = None

    def definition(self, parent_names: List[str]) -> Dict[str, Any]:
        """Returns the step's JSON definition (docs/api.md)."""
        d: Dict[str, Any] = {"name": self.name}
        if parent_names:
            d["parents"] = parent_names
        if self.timeout is not None:
            d["timeout"] = go_duration(self.timeout)
        retry: Dict[str, Any] = {}
        if self.retries is not None:
            retry["max_attempts"] = self.retries + 1
        if self.backoff is not None:
            retry["initial_backoff"] = go_duration(self.backoff)
        if self.max_backoff is not None:
            retry["max_backoff"] = go_duration(self.max_backoff)
        if self.backoff_factor is not None:
            retry["multiplier"] = self.backoff_factor
        if retry:
            d["retry"] = retry
        return d


def step(
    name: Union[str, Callable[..., Any], None] = None,
    *,
    parents: Sequence[Union[str, Callable[..., Any]]] = (),
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    backoff: Optional[Duration] = None,
    max_backoff: Optional[Duration] = None,
    backoff_factor: Optional[float] = None,
) -> Any:
    """Marks a method of a workflow class (or, through ``Workflow.step``, a function)
    as a step. The step's name is ``name``, else the function's name; ``parents``
    lists the steps that must succeed first, by name or by function. Works with and
    without parentheses: ``@step`` and ``@step(parents=[...])``.

    The function takes a Context (after ``self`` for a method) and returns the
    step's output: a mapping, a dataclass instance, or None for ``{}``. It may be an
    ``async def``; it then runs in its own event loop in the step's thread.
    """
    if callable(name):
        fn = name
        _mark(fn, StepSpec(fn=fn, name=fn.__name__))
        return fn
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        raise ValueError("retries must be a whole number of retries, 0 or more")

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise TypeError("@step decorates a function")
        _mark(
            fn,
            StepSpec(
                fn=fn,
                name=name if isinstance(name, str) else fn.__name__,
                parents=list(parents),
                retries=retries,
                timeout=timeout,
                backoff=backoff,
                max_backoff=max_backoff,
                backoff_factor=backoff_factor,
            ),
        )
        return fn

    return decorate


def _mark(fn: Callable[..., Any], spec: StepSpec) -> None:
    target = fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn
    setattr(target, "__herald_step__", spec)


def _spec_of(obj: Any) -> Optional[StepSpec]:
    target = obj.__func__ if isinstance(obj, (staticmethod, classmethod)) else obj
    spec = getattr(target, "__herald_step__", None)
    return spec if isinstance(spec, StepSpec) else None


class Workflow:
    """A workflow: a name, the events that start it and a DAG of steps.

    Made by ``herald.workflow(...)`` or ``worker.workflow(...)``, it is used either as
    a class decorator, whose methods marked with ``@step`` are the steps::

        @worker.workflow(name="welcome-user", on_events=["user:created"])
        class WelcomeUser:
            @worker.step()
            def send_email(self, ctx): ...

    or as a group of functions declared with its own ``step`` decorator::

        welcome = worker.workflow(name="welcome-user", on_events=["user:created"])

        @welcome.step()
        def send_email(ctx): ...
    """

    def __init__(
        self,
        name: Optional[str] = None,
        *,
        on_events: Iterable[Union[str, Mapping[str, str]]] = (),
        description: str = "",
    ) -> None:
        if isinstance(on_events, (str, bytes)):
            raise TypeError("on_events is a list of event keys, e.g. on_events=[%r]" % on_events)
        self.name = name or ""
        self.description = description
        self.on_events: List[Union[str, Dict[str, str]]] = [
            t if isinstance(t, str) else dict(t) for t in on_events
        ]
        self.steps: List[StepSpec] = []
        self.cls: Optional[type] = None
        self.instance: Any = None
        self._on_decorate: Optional[Callable[["Workflow"], None]] = None

    def __repr__(self) -> str:
        return "Workflow(%r, steps=%r)" % (self.name, [s.name for s in self.steps])

    def __call__(self, target: T) -> T:
        """Decorates a class: its methods marked with ``@step`` become the steps, in
        the order they are defined. The class is returned unchanged."""
        if not isinstance(target, type):
            raise TypeError("@workflow decorates a class; for functions, use the workflow's own .step decorator")
        seen = set()
        for klass in reversed(target.__mro__):
            for attr, value in vars(klass).items():
                spec = _spec_of(value)
                if spec is None:
                    continue
                if attr in seen:
                    self.steps = [s for s in self.steps if s.fn.__name__ != attr]
                seen.add(attr)
                self.steps.append(spec)
        self.cls = target
        if not self.name:
            self.name = target.__name__
        if not self.description and target.__doc__:
            self.description = inspect.cleandoc(target.__doc__).split("\n\n")[0].replace("\n", " ")
        setattr(target, "__herald_workflow__", self)
        if self._on_decorate is not None:
            self._on_decorate(self)
        return target

    def step(
        self,
        name: Optional[str] = None,
        *,
        parents: Sequence[Union[str, Callable[..., Any]]] = (),
        retries: Optional[int] = None,
        timeout: Optional[Duration] = None,
        backoff: Optional[Duration] = None,
        max_backoff: Optional[Duration] = None,
        backoff_factor: Optional[float] = None,
    ) -> Callable[[F], F]:
        """Adds a function (taking a Context) to this workflow as a step; the options
        are those of ``herald.step``."""

        def decorate(fn: F) -> F:
            step(
                name,
                parents=parents,
                retries=retries,
                timeout=timeout,
                backoff=backoff,
                max_backoff=max_backoff,
                backoff_factor=backoff_factor,
            )(fn)
            spec = _spec_of(fn)
            assert spec is not None
            self.steps.append(spec)
            return fn

        return decorate

    # -- checks and the wire form --------------------------------------------

    def _parent_names(self, spec: StepSpec) -> List[str]:
        names = []
        for p in spec.parents:
            if isinstance(p, str):
                names.append(p)
                continue
            target = _spec_of(p)
            if target is None or all(target is not s for s in self.steps):
                raise ValueError(
                    "herald: workflow %r: step %r: parent %r is not a step of this workflow"
                    % (self.name, spec.name, getattr(p, "__name__", p))
                )
            names.append(target.name)
        return names

    def validate(self) -> None:
        """Checks the workflow the way the engine will (names, parents, no cycle), so
        that mistakes show up when the worker starts; raises ValueError."""

        def fail(msg: str) -> ValueError:
            return ValueError("herald: workflow %r: %s" % (self.name, msg))

        if not _NAME.match(self.name):
            raise ValueError("herald: invalid workflow name %r: want 1–128 bytes of A-Z a-z 0-9 . _ -" % self.name)
        if not self.steps:
            raise fail("has no steps")
        names: Dict[str, StepSpec] = {}
        for s in self.steps:
            if not _NAME.match(s.name):
                raise fail("invalid step name %r: want 1–128 bytes of A-Z a-z 0-9 . _ -" % s.name)
            if s.name in names:
                raise fail("duplicate step %r" % s.name)
            names[s.name] = s
        graph: Dict[str, List[str]] = {}
        for s in self.steps:
            parents = self._parent_names(s)
            for p in parents:
                if p == s.name:
                    raise fail("step %r is its own parent" % s.name)
                if p not in names:
                    raise fail("step %r: parent %r does not exist" % (s.name, p))
            if len(set(parents)) != len(parents):
                raise fail("step %r lists a parent twice" % s.name)
            graph[s.name] = parents
            if s.timeout is not None:
                t = seconds(s.timeout)
                if not 1 <= t <= 24 * 3600:
                    raise fail("step %r: timeout %s out of range (1s–24h)" % (s.name, s.timeout))
        state: Dict[str, int] = {}

        def visit(n: str, path: List[str]) -> None:
            state[n] = 1
            for p in graph[n]:
                if state.get(p) == 1:
                    cycle = path[path.index(p):] + [n, p] if p in path else [n, p]
                    raise fail("steps form a cycle: %s" % " -> ".join(cycle))
                if p not in state:
                    visit(p, path + [n])
            state[n] = 2

        for n in graph:
            if n not in state:
                visit(n, [])

    def definition(self) -> Dict[str, Any]:
        """Returns the workflow's JSON definition (docs/api.md), as the worker stores it."""
        d: Dict[str, Any] = {
            "name": self.name,
            "triggers": list(self.on_events),
            "steps": [s.definition(self._parent_names(s)) for s in self.steps],
        }
        if self.description:
            d["description"] = self.description
        return d


def workflow(
    name: Optional[str] = None,
    *,
    on_events: Iterable[Union[str, Mapping[str, str]]] = (),
    description: str = "",
) -> Workflow:
    """Declares a workflow (see Workflow) without registering it with a worker: pass
    it, the decorated class or an instance of it to ``Worker.register_workflow``.

    ``on_events`` lists the event keys (or patterns such as ``"user:*"``) that start
    a run; an item may also be ``{"key": ..., "expression": <CEL>}``, which starts a
    run only when the expression is true on the event. ``name`` defaults to the
    class's name; ``description`` to the first paragraph of its docstring.
    """
    return Workflow(name, on_events=on_events, description=description)


# ---------------------------------------------------------------------------
# The step's context


class _StepLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes a step's log lines with its workflow, step, run and attempt, and
    passes them as ``extra`` attributes too."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> Tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        kwargs["extra"] = dict(extra, **kwargs.get("extra", {}))
        return "[%s/%s run=%s attempt=%s] %s" % (
            extra.get("workflow"),
            extra.get("step"),
            extra.get("run_id"),
            extra.get("attempt"),
            msg,
        ), kwargs


class Context:
    """What a running step knows and can do: its input, its parents' outputs, its
    ids, a logger, event pushes that record lineage, and a cancellation flag.

    A worker passes one to each step call; it is valid for that call.
    """

    def __init__(self, assignment: Mapping[str, Any], client: Client, logger: logging.Logger) -> None:
        self._a = assignment
        self._client = client
        self._reason: Optional[str] = None
        self._reason_lock = threading.Lock()
        #: Set when the step should stop: the engine cancelled the run or the lease
        #: was lost (the result will be dropped), the attempt's deadline passed, or
        #: the worker is shutting down and its grace period ended. Wait on it
        #: (``ctx.cancelled.wait(5)``) instead of sleeping.
        self.cancelled = threading.Event()
        #: The step's logger: the worker's, with the workflow, step, run and attempt.
        self.logger: logging.LoggerAdapter = _StepLogger(  # type: ignore[type-arg]
            logger,
            {
                "workflow": self.workflow_name,
                "step": self.step_name,
                "run_id": self.run_id,
                "step_run_id": self.step_run_id,
                "attempt": self.attempt,
            },
        )

    # -- the assignment -------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The id of the run the step belongs to."""
        return str(self._a.get("run_id") or "")

    @property
    def step_run_id(self) -> str:
        """The id of this step-run, the same for every attempt: a good idempotency key
        for the step's side effects."""
        return str(self._a.get("step_run_id") or "")

    @property
    def workflow_name(self) -> str:
        """The name of the run's workflow."""
        return str(self._a.get("workflow") or "")

    @property
    def workflow_version(self) -> int:
        """The workflow version the run uses."""
        return int(self._a.get("version") or 0)

    @property
    def step_name(self) -> str:
        """The name of the step being run."""
        return str(self._a.get("step") or "")

    @property
    def attempt(self) -> int:
        """The current attempt, starting at 1."""
        return int(self._a.get("attempt") or 1)

    @property
    def max_attempts(self) -> int:
        """How many attempts the step gets in all; ``attempt == max_attempts`` is the last."""
        return int(self._a.get("max_attempts") or 1)

    @property
    def event_id(self) -> Optional[str]:
        """The id of the event that started the run, or None for a manual run."""
        v = self._a.get("event_id")
        return v if isinstance(v, str) and v else None

    @property
    def deadline(self) -> Optional[datetime.datetime]:
        """When the attempt's execution timeout ends (an aware datetime), or None."""
        return parse_time(self._a.get("deadline"))

    def workflow_input(self) -> Dict[str, Any]:
        """The run's input: the triggering event's payload, or a manual run's input."""
        v = self._a.get("input")
        return v if isinstance(v, dict) else {}

    def step_output(self, parent: Union[str, Callable[..., Any]]) -> Dict[str, Any]:
        """The output of a parent step, named or given as its function. Raises
        ValueError when it is not a parent of this step."""
        name = parent if isinstance(parent, str) else getattr(_spec_of(parent), "name", None)
        parents = self._a.get("parents") or {}
        if not isinstance(name, str) or name not in parents:
            raise ValueError("herald: step %r has no parent %r" % (self.step_name, name or parent))
        v = parents[name]
        return v if isinstance(v, dict) else {}

    def parent_outputs(self) -> Dict[str, Dict[str, Any]]:
        """The outputs of all parent steps, by step name."""
        parents = self._a.get("parents") or {}
        return {k: (v if isinstance(v, dict) else {}) for k, v in parents.items()}

    # -- actions ----------------------------------------------------------------

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
        """Pushes an event on behalf of this step (chaining): the event records this
        run and step-run as its parents. Takes what ``client.event.push`` takes."""
        body = _event_body(key, payload, additional_metadata, idempotency_key, scope, delay, deliver_at)
        body["parent_run_id"] = self.run_id
        body["parent_step_run_id"] = self.step_run_id
        return self._client._push(body)

    def log(self, message: str) -> None:
        """Logs a line at INFO level through the step's logger."""
        self.logger.info("%s", message)

    # -- cancellation -------------------------------------------------------------

    @property
    def is_cancelled(self) -> bool:
        """Whether the cancellation flag is set."""
        return self.cancelled.is_set()

    @property
    def exit_flag(self) -> bool:
        """Whether the cancellation flag is set (the name Hatchet uses)."""
        return self.cancelled.is_set()

    @property
    def cancel_reason(self) -> Optional[str]:
        """Why the flag was set first: CANCELLED_BY_ENGINE, DEADLINE_EXCEEDED or
        WORKER_SHUTDOWN; None while it is not."""
        return self._reason

    def _cancel(self, reason: str) -> None:
        with self._reason_lock:
            if self._reason is None:  # the first cause is the one reported
                self._reason = reason
        self.cancelled.set()


# ---------------------------------------------------------------------------
# The worker


class _Timers:
    """One thread that runs callbacks at given monotonic times (step deadlines)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: List[Tuple[float, int, List[Any]]] = []
        self._seq = itertools.count()
        self._thread: Optional[threading.Thread] = None
        self._stopped = False

    def add(self, when: float, fn: Callable[[], None]) -> List[Any]:
        entry: List[Any] = [fn]
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._seq), entry))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="herald-timers", daemon=True)
                self._thread.start()
            if self._heap[0][2] is entry:  # a new earliest time: the loop waits too long
                self._cond.notify()
        return entry

    @staticmethod
    def cancel(entry: List[Any]) -> None:
        entry[0] = None

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, entry = heapq.heappop(self._heap)
            fn = entry[0]
            if fn is not None:
                fn()


class _Held:
    """A step-run the worker holds a lease on."""

    __slots__ = ("worker_id", "lease_id", "ctx")

    def __init__(self, worker_id: str, lease_id: str, ctx: Context) -> None:
        self.worker_id = worker_id
        self.lease_id = lease_id
        self.ctx = ctx


class Worker:
    """Runs the steps of the workflows registered with it.

    ``slots`` (1–1,000, default 10) is how many steps run at once, each in its own
    thread; ``poll_wait`` (seconds, at most 60) how long one long-poll waits for work;
    ``shutdown_timeout`` how long ``run`` lets running steps finish once asked to
    stop, before it sets their cancellation flags. ``name`` defaults to
    ``<hostname>-<pid>``. ``client`` defaults to ``Client()`` (HERALD_URL,
    HERALD_TOKEN or ``./.herald/token``).

    Declare workflows with ``worker.workflow(...)`` and ``worker.step(...)``, then call
    ``run()`` (alias ``start()``), which blocks until ``stop()``, SIGTERM or SIGINT.
    """

    #: Marks a method (or a function, through ``Workflow.step``) as a step; see ``herald.step``.
    step = staticmethod(step)

    def __init__(
        self,
        client: Optional[Client] = None,
        *,
        name: Optional[str] = None,
        slots: int = DEFAULT_SLOTS,
        poll_wait: float = DEFAULT_POLL_WAIT,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        logger: Optional[logging.Logger] = None,
        handle_signals: bool = True,
    ) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= MAX_SLOTS:
            raise ValueError("herald: slots %r out of range (1–%d)" % (slots, MAX_SLOTS))
        if not 0 <= poll_wait <= MAX_POLL_WAIT:
            raise ValueError("herald: poll_wait %r out of range (0–%gs)" % (poll_wait, MAX_POLL_WAIT))
        self.client = client if client is not None else Client()
        self.name = name or "%s-%d" % (socket.gethostname() or "worker", os.getpid())
        self.slots = slots
        self.poll_wait = float(poll_wait)
        self.shutdown_timeout = float(shutdown_timeout)
        self.logger = logger or logging.getLogger("herald.worker")
        self.handle_signals = handle_signals
        self._workflows: List[Workflow] = []
        self._started = False

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._force = threading.Event()
        self._free = slots
        self._running = 0
        self._held: Dict[str, _Held] = {}
        self._id = ""
        self._heartbeat_interval = DEFAULT_HEARTBEAT
        self._poll_conn: Optional[http.client.HTTPConnection] = None
        self._timers = _Timers()
        self._stats = {"completed": 0, "failed": 0, "dropped": 0}
        self._registered = threading.Event()
        self._hb_stop = threading.Event()
        self._names: List[str] = []
        self._steps: Dict[Tuple[str, str], Tuple[Workflow, StepSpec]] = {}

    # -- declarations ---------------------------------------------------------------

    def workflow(
        self,
        name: Optional[str] = None,
        *,
        on_events: Iterable[Union[str, Mapping[str, str]]] = (),
        description: str = "",
    ) -> Workflow:
        """Declares a workflow run by this worker (see ``herald.workflow``): use the
        result as a class decorator, or add functions with its ``.step`` decorator."""
        wf = Workflow(name, on_events=on_events, description=description)
        self._add(wf)
        if not name:
            wf._on_decorate = self._check_names  # a class gives it its name
        return wf

    def register_workflow(self, obj: Any) -> Workflow:
        """Registers a workflow declared with ``herald.workflow``: the Workflow, the
        decorated class (made with no arguments when the worker starts), or an
        instance of it. Returns the Workflow."""
        wf = obj if isinstance(obj, Workflow) else getattr(obj, "__herald_workflow__", None)
        if not isinstance(wf, Workflow):
            raise TypeError("register_workflow takes a workflow declared with @herald.workflow, not %r" % (obj,))
        if not isinstance(obj, (Workflow, type)):
            wf.instance = obj
        self._add(wf)
        return wf

    def _add(self, wf: Workflow) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError("herald: workflows must be registered before the worker starts")
            if any(w is wf for w in self._workflows):
                return
            self._workflows.append(wf)
        try:
            self._check_names(wf)
        except ValueError:
            with self._lock:
                self._workflows.remove(wf)
            raise

    def _check_names(self, wf: Workflow) -> None:
        with self._lock:
            if wf.name and any(w is not wf and w.name == wf.name for w in self._workflows):
                raise ValueError("herald: workflow %r registered twice" % wf.name)

    @property
    def workflows(self) -> List[Workflow]:
        """The workflows registered with this worker."""
        return list(self._workflows)

    # -- state ----------------------------------------------------------------------

    @property
    def worker_id(self) -> str:
        """The id the engine gave this worker ("" before it registered)."""
        with self._lock:
            return self._id

    def wait_registered(self, timeout: Optional[float] = None) -> bool:
        """Waits until the worker has stored its workflows and registered; returns
        whether it has."""
        return self._registered.wait(timeout)

    def stats(self) -> Dict[str, int]:
        """Counts of this worker's step results: ``completed`` and ``failed`` (accepted
        by the engine), ``dropped`` (refused with 409 or cancelled by the engine), and
        ``running`` (held now)."""
        with self._lock:
            return dict(self._stats, running=self._running)

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        """Runs the worker (the name Hatchet uses); see ``run``."""
        self.run()

    def run(self) -> None:
        """Stores the definitions of the registered workflows in the engine, registers
        the worker, then polls for and runs steps until ``stop()`` (or, when called on
        the main thread with ``handle_signals``, SIGTERM or SIGINT). It then stops
        polling, lets running steps finish for up to ``shutdown_timeout`` seconds
        (then sets their cancellation flags), and returns.

        It raises HeraldError when the workflows or the worker cannot be registered,
        or when the engine refuses the token; ValueError when a workflow is invalid.
        A worker runs once."""
        with self._lock:
            if self._started:
                raise RuntimeError("herald: worker already started")
            self._started = True
            wfs = list(self._workflows)
        if not wfs:
            raise RuntimeError("herald: worker has no workflows: declare them with worker.workflow before run()")
        for wf in wfs:
            wf.validate()
            self._check_names(wf)
        self._steps = {
            (wf.name, s.name): (wf, s) for wf in wfs for s in wf.steps
        }
        for wf in wfs:
            if wf.cls is not None and wf.instance is None:
                wf.instance = wf.cls()

        restore = self._install_signals()
        try:
            if self._stopping.is_set():
                return
            for wf in wfs:
                res = self.client._call("PUT", "/workflows/" + urllib.parse.quote(wf.name, safe=""), body=wf.definition())
                info = (res or {}).get("workflow") or {}
                self.logger.info(
                    "herald: workflow %s stored (version %s%s)",
                    wf.name,
                    info.get("version"),
                    ", new" if (res or {}).get("created_version") else "",
                )
            self._names = [wf.name for wf in wfs]
            self._register()
            self._registered.set()

            hb = threading.Thread(target=self._heartbeat_loop, name="herald-heartbeat", daemon=True)
            hb.start()
            try:
                self._poll_loop()
            finally:
                self._drain()
                self._hb_stop.set()
                hb.join(timeout=self._heartbeat_interval + 1)
                self._timers.stop()
                self.logger.info("herald: worker stopped (worker id %s)", self.worker_id)
        finally:
            restore()

    def stop(self, force: bool = False) -> None:
        """Asks the worker to stop: no more polling (a poll in flight is abandoned),
        running steps may finish within ``shutdown_timeout``. With ``force`` their
        cancellation flags are set at once. Safe to call from any thread and from a
        signal handler."""
        if force:
            self._force.set()
        self._stopping.set()
        with self._lock:
            conn = self._poll_conn
            self._cond.notify_all()
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _install_signals(self) -> Callable[[], None]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: Dict[int, Any] = {}

        def handler(signum: int, frame: Any) -> None:
            again = self._stopping.is_set()
            self.logger.info(
                "herald: %s received, %s",
                signal.Signals(signum).name,
                "cancelling running steps" if again else "draining (again to cancel running steps)",
            )
            self.stop(force=again)

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):  # pragma: no cover - not the main interpreter
                pass

        def restore() -> None:
            for sig, h in previous.items():
                signal.signal(sig, h)

        return restore

    def _register(self) -> None:
        body = {"name": self.name, "workflows": self._names, "slots": self.slots}
        res = self.client._call("POST", "/workers", body=body) or {}
        wid = res.get("id")
        if not isinstance(wid, str) or not wid:
            raise HeraldError("registering worker %r: reply has no id" % self.name)
        hb = _reply_duration(res.get("heartbeat_interval"))
        if hb <= 0:
            hb = DEFAULT_HEARTBEAT
            lease = _reply_duration(res.get("lease_duration"))
            if 0 < lease and lease / 3 < hb:
                hb = max(lease / 3, 0.1)
        with self._lock:
            self._id = wid
            self._heartbeat_interval = hb
        self.logger.info(
            "herald: worker registered (id %s, name %s, workflows %s, slots %d, heartbeat every %gs)",
            wid,
            self.name,
            ", ".join(self._names),
            self.slots,
            hb,
        )

    # -- polling ---------------------------------------------------------------------------

    def _poll_loop(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while self._free == 0 and not self._stopping.is_set():
                    self._cond.wait()
                if self._stopping.is_set():
                    return
                n = min(self._free, MAX_POLL_BATCH)
                self._free -= n
            try:
                assignments = self._poll(n)
            except HeraldError as err:
                with self._cond:
                    self._free += n
                if self._stopping.is_set():
                    return
                if err.status in (401, 403):
                    self.logger.error("herald: poll refused, stopping the worker: %s", err)
                    raise
                if err.status == 404:
                    self.logger.warning("herald: the engine no longer knows this worker, registering again")
                    try:
                        self._register()
                        failures = 0
                        continue
                    except HeraldError as rerr:
                        self.logger.warning("herald: registering again failed: %s", rerr)
                wait = backoff(failures, 0.2, 10.0)
                if err.retry_after:
                    wait = min(err.retry_after, RETRY_MAX_SERVER_ASK)
                failures += 1
                self.logger.warning("herald: poll failed, retrying in %.2fs: %s", wait, err)
                if self._stopping.wait(wait):
                    return
                continue
            failures = 0
            with self._cond:
                self._free += max(n - len(assignments), 0)
                self._free -= max(len(assignments) - n, 0)  # more than asked: an engine bug
                self._running += len(assignments)
            for a in assignments:
                t = threading.Thread(
                    target=self._execute,
                    args=(a,),
                    name="herald-step-%s" % a.get("step", ""),
                    daemon=True,
                )
                t.start()

    def _poll(self, n: int) -> List[Dict[str, Any]]:
        """Long-polls the engine for up to n assignments, on a connection stop() can
        abort."""
        t = self.client._t
        with self._lock:
            if self._stopping.is_set():
                return []
            wid = self._id
            if self._poll_conn is None:
                self._poll_conn = t.new_connection(self.poll_wait + 30)
            conn = self._poll_conn
            try:
                if conn.sock is None:
                    conn.timeout = min(10.0, self.poll_wait + 30)
                    conn.connect()
            except OSError as exc:
                conn.close()
                raise HeraldConnectionError("cannot reach Herald at %s: %s" % (t.url, exc)) from exc
        body = encode_json({"max": n, "wait": go_duration(self.poll_wait)})
        target = t.path("/workers/" + urllib.parse.quote(wid, safe="") + "/poll")
        status, headers, raw = t.exchange("POST", target, body, timeout=self.poll_wait + 30, conn=conn)
        if not 200 <= status < 300:
            raise HeraldError.from_reply(status, headers, raw)
        try:
            res = json.loads(raw.decode("utf-8")) if raw else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise HeraldError("decoding the poll reply: %s" % exc, status=status) from exc
        out = [a for a in (res or {}).get("assignments") or [] if isinstance(a, dict)]
        for a in out:
            a["_worker_id"] = wid
        return out

    # -- running steps ---------------------------------------------------------------------

    def _execute(self, a: Dict[str, Any]) -> None:
        ctx: Optional[Context] = None
        timer: Optional[List[Any]] = None
        try:
            found = self._steps.get((str(a.get("workflow")), str(a.get("step"))))
            ctx = Context(a, self.client, self.logger)
            if found is None:
                ctx.logger.error("herald: assigned a step this worker does not have")
                self._fail(
                    a,
                    ctx,
                    "worker %r has no step %r in workflow %r" % (self.name, a.get("step"), a.get("workflow")),
                    True,
                )
                return
            wf, spec = found
            with self._lock:
                srid = str(a["step_run_id"])
                stale = self._held.get(srid)
                self._held[srid] = _Held(a["_worker_id"], str(a.get("lease_id")), ctx)
            if stale is not None:
                # The engine handed the step out again: the lease the earlier run of it
                # holds has expired (it stalled while heartbeats failed).
                stale.ctx._cancel(CANCELLED_BY_ENGINE)
            deadline = parse_time(a.get("deadline"))
            if deadline is not None:
                when = time.monotonic() + (deadline.timestamp() - time.time())
                timer = self._timers.add(when, lambda: ctx._cancel(DEADLINE_EXCEEDED) if ctx else None)
            elif spec.timeout is not None:
                timer = self._timers.add(
                    time.monotonic() + seconds(spec.timeout), lambda: ctx._cancel(DEADLINE_EXCEEDED) if ctx else None
                )
            if self._force.is_set():
                ctx._cancel(WORKER_SHUTDOWN)

            started = time.monotonic()
            error: Optional[BaseException] = None
            out: Any = None
            try:
                out = spec.fn(wf.instance, ctx) if wf.cls is not None else spec.fn(ctx)
                if inspect.isawaitable(out):
                    out = _run_awaitable(out)
            except BaseException as exc:  # a step's failure, whatever it is, fails the attempt
                error = exc
            elapsed = time.monotonic() - started
            if timer is not None:
                self._timers.cancel(timer)
            self._release(a)

            reason = ctx.cancel_reason
            if reason == CANCELLED_BY_ENGINE:
                ctx.logger.info("herald: step-run cancelled by the engine, result dropped (%.3fs)", elapsed)
                self._count("dropped")
                return
            if reason == WORKER_SHUTDOWN and error is not None:
                ctx.logger.warning(
                    "herald: step interrupted by worker shutdown, result dropped; "
                    "the engine will retry it when its lease expires"
                )
                return
            if error is not None:
                retryable = not _non_retryable(error)
                if retryable:
                    ctx.logger.warning(
                        "herald: step failed (attempt %d of %d): %s",
                        ctx.attempt,
                        ctx.max_attempts,
                        _message(error),
                        exc_info=(type(error), error, error.__traceback__),
                    )
                else:
                    ctx.logger.warning("herald: step failed, not retryable: %s", _message(error))
                self._fail(a, ctx, _message(error), retryable)
                return
            try:
                data = _encode_output(out, str(a.get("lease_id")))
            except (TypeError, ValueError) as exc:
                ctx.logger.error("herald: step returned an invalid output: %s", exc)
                self._fail(a, ctx, str(exc), False)
                return
            ctx.logger.debug("herald: step succeeded (%.3fs)", elapsed)
            self._report(a, ctx, "complete", data)
        except Exception:  # pragma: no cover - a bug in the worker itself
            self.logger.error("herald: running a step failed:\n%s", traceback.format_exc())
        finally:
            if timer is not None:
                self._timers.cancel(timer)
            with self._cond:
                self._free += 1
                self._running -= 1
                self._cond.notify_all()

    def _release(self, a: Mapping[str, Any]) -> None:
        with self._lock:
            h = self._held.get(str(a.get("step_run_id")))
            if h is not None and h.lease_id == a.get("lease_id"):
                del self._held[str(a.get("step_run_id"))]

    def _count(self, what: str) -> None:
        with self._lock:
            self._stats[what] += 1

    def _fail(self, a: Mapping[str, Any], ctx: Context, message: str, retryable: bool) -> None:
        message = message or "step failed"
        raw = message.encode("utf-8", "replace")
        if len(raw) > MAX_ERROR_MESSAGE:
            message = raw[:MAX_ERROR_MESSAGE].decode("utf-8", "ignore") + "…"
        data = encode_json({"lease_id": a.get("lease_id"), "error": message, "retryable": retryable})
        self._report(a, ctx, "fail", data)

    def _report(self, a: Mapping[str, Any], ctx: Context, action: str, data: bytes) -> None:
        """Sends a complete or fail report, retrying a few times on network errors and
        temporary engine errors, within 30 s. A 409 (the lease is no longer ours) drops
        the result."""
        path = "/workers/%s/step-runs/%s/%s" % (
            urllib.parse.quote(str(a.get("_worker_id")), safe=""),
            urllib.parse.quote(str(a.get("step_run_id")), safe=""),
            action,
        )
        deadline = time.monotonic() + REPORT_TIMEOUT
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                self.client._t.call("POST", path, data=data, timeout=max(remaining, 0.1), replayable=True)
                self._count("completed" if action == "complete" else "failed")
                return
            except HeraldError as err:
                if err.status == 409:
                    ctx.logger.debug("herald: result refused, the lease is no longer held; dropped (%s)", err)
                    self._count("dropped")
                    return
                if not (err.temporary or err.status >= 500):
                    ctx.logger.error("herald: reporting step result (%s) failed: %s", action, err)
                    return
                wait = err.retry_after or backoff(attempt, 0.1, 2.0)
                if attempt >= REPORT_RETRIES or time.monotonic() + wait >= deadline:
                    ctx.logger.error(
                        "herald: reporting step result (%s) failed, giving up; the engine will retry "
                        "the step when its lease expires: %s",
                        action,
                        err,
                    )
                    return
                ctx.logger.debug("herald: reporting step result (%s) failed, retrying in %.2fs: %s", action, wait, err)
                time.sleep(wait)
                attempt += 1

    # -- heartbeats -----------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        wait = -1.0
        while True:
            with self._lock:
                interval = self._heartbeat_interval
            if wait < 0:
                wait = interval
            if self._hb_stop.wait(wait):
                return
            wait = interval if self._heartbeat(interval) else interval / 4

    def _heartbeat(self, interval: float) -> bool:
        """Extends the held leases and cancels the step-runs the engine says are no
        longer ours. Leases claimed under an earlier worker id (before the worker
        registered again) are sent under that id. Reports whether every call worked."""
        with self._lock:
            groups: Dict[str, List[Dict[str, str]]] = {self._id: []}
            for srid, h in self._held.items():
                groups.setdefault(h.worker_id, []).append({"step_run_id": srid, "lease_id": h.lease_id})
        ok = True
        for wid, leases in groups.items():
            try:
                res = self.client._t.call(
                    "POST",
                    "/workers/%s/heartbeat" % urllib.parse.quote(wid, safe=""),
                    body={"step_runs": leases},
                    timeout=max(interval / 2, 0.05),
                    replayable=True,
                )
            except HeraldError as err:
                if not self._hb_stop.is_set():
                    self.logger.warning("herald: heartbeat failed (worker %s, %d leases): %s", wid, len(leases), err)
                ok = False
                continue
            for srid in (res or {}).get("cancelled") or []:
                self._cancel_held(wid, str(srid))
        return ok

    def _cancel_held(self, worker_id: str, step_run_id: str) -> None:
        with self._lock:
            h = self._held.get(step_run_id)
            if h is None or h.worker_id != worker_id:
                return
            del self._held[step_run_id]
        h.ctx._cancel(CANCELLED_BY_ENGINE)

    # -- shutdown ---------------------------------------------------------------------------------

    def _drain(self) -> None:
        with self._cond:
            n = self._running
        if n:
            self.logger.info(
                "herald: worker stopping, waiting up to %gs for %d running steps", self.shutdown_timeout, n
            )
        deadline = time.monotonic() + max(self.shutdown_timeout, 0)
        with self._cond:
            while self._running and not self._force.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
            if not self._running:
                return
            self.logger.warning("herald: cancelling %d running steps", self._running)
            for h in list(self._held.values()):
                h.ctx._cancel(WORKER_SHUTDOWN)
            abandon = time.monotonic() + ABANDON_TIMEOUT
            while self._running:
                left = abandon - time.monotonic()
                if left <= 0:
                    self.logger.warning(
                        "herald: steps did not return after cancellation, abandoning them; their leases "
                        "will expire and the engine will retry them"
                    )
                    return
                self._cond.wait(left)


def _reply_duration(v: Any) -> float:
    if isinstance(v, str) and v:
        try:
            return parse_go_duration(v)
        except ValueError:
            return 0.0
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v / 1e9
    return 0.0


def _run_awaitable(aw: Any) -> Any:
    async def wrap() -> Any:
        return await aw

    return asyncio.run(wrap())


def _non_retryable(exc: BaseException) -> bool:
    seen = set()
    e: Optional[BaseException] = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, NonRetryableError):
            return True
        seen.add(id(e))
        e = e.__cause__
    return False


def _message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, NonRetryableError) and text:
        return text
    name = type(exc).__name__
    return "%s: %s" % (name, text) if text else name


def _encode_output(out: Any, lease_id: str) -> bytes:
    """Encodes a complete report: the step's output must be a JSON object (a mapping, a
    dataclass instance, or None for {})."""
    if out is None:
        value: Dict[str, Any] = {}
    elif isinstance(out, Mapping):
        value = dict(out)
    elif dataclasses.is_dataclass(out) and not isinstance(out, type):
        value = dataclasses.asdict(out)
    else:
        raise TypeError(
            "step output must be a JSON object (a dict, a dataclass instance or None), got %s" % type(out).__name__
        )
    try:
        return encode_json({"lease_id": lease_id, "output": value})
    except (TypeError, ValueError) as exc:
        raise TypeError("step output cannot be encoded as JSON: %s" % exc) from exc
