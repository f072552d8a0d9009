"""The engine's replies as typed objects. Each keeps the JSON it came from in ``raw``
(``to_dict()`` returns a copy), so fields added by later engines stay reachable."""

from __future__ import annotations

import copy
import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = [
    "TERMINAL_STATUSES",
    "PushResult",
    "Event",
    "TriggerDecision",
    "RunRef",
    "RunSummary",
    "Run",
    "StepRun",
    "WorkflowInfo",
    "parse_time",
]

#: Run statuses that mean the run has ended.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})?$"
)


def parse_time(value: Any) -> Optional[_dt.datetime]:
    """Parses an RFC 3339 timestamp of the API (``2026-11-23T18:37:00.123456789Z``)
    into an aware datetime (fractions beyond microseconds are cut); None stays None."""
    if not isinstance(value, str) or not value:
        return None
    m = _TIME.match(value)
    if not m:
        raise ValueError("herald: not an RFC 3339 time: %r" % value)
    date, clock, frac, zone = m.groups()
    text = date + "T" + clock
    if frac:
        text += "." + (frac + "000000")[:6]
    if not zone or zone in ("Z", "z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    return _dt.datetime.fromisoformat(text + zone)


def _obj(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(d: Dict[str, Any], key: str) -> str:
    v = d.get(key)
    return v if isinstance(v, str) else ""


def _opt(d: Dict[str, Any], key: str) -> Optional[str]:
    v = d.get(key)
    return v if isinstance(v, str) and v else None


def _int(d: Dict[str, Any], key: str) -> int:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


@dataclass
class _Model:
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> Dict[str, Any]:
        """Returns a copy of the JSON object the engine answered."""
        return copy.deepcopy(self.raw)


@dataclass
class RunRef(_Model):
    """Names a run started by an event or by ``client.workflows.run``."""

    workflow: str = ""
    version: int = 0
    run_id: str = ""

    @classmethod
    def from_json(cls, d: Any) -> "RunRef":
        d = _obj(d)
        return cls(raw=d, workflow=_str(d, "workflow"), version=_int(d, "version"), run_id=_str(d, "run_id"))


@dataclass
class TriggerDecision(_Model):
    """What happened for one workflow whose trigger matched an event: a run started
    (``run_id``) or it was skipped (``skipped``: ``disabled``, ``scope_mismatch``,
    ``expression_false`` or ``expression_error`` with ``error``)."""

    workflow: str = ""
    version: int = 0
    run_id: Optional[str] = None
    skipped: Optional[str] = None
    error: Optional[str] = None
    filter_id: Optional[str] = None

    @classmethod
    def from_json(cls, d: Any) -> "TriggerDecision":
        d = _obj(d)
        return cls(
            raw=d,
            workflow=_str(d, "workflow"),
            version=_int(d, "version"),
            run_id=_opt(d, "run_id"),
            skipped=_opt(d, "skipped"),
            error=_opt(d, "error"),
            filter_id=_opt(d, "filter_id"),
        )


@dataclass
class RunSummary(_Model):
    """A run without its steps, as ``client.runs.list`` yields it."""

    id: str = ""
    workflow: str = ""
    version: int = 0
    status: str = ""
    event_id: Optional[str] = None
    input: Dict[str, Any] = field(default_factory=dict)
    error: str = ""
    created_at: Optional[_dt.datetime] = None
    started_at: Optional[_dt.datetime] = None
    finished_at: Optional[_dt.datetime] = None

    @property
    def done(self) -> bool:
        """Whether the run has ended: succeeded, failed or cancelled."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def _fields(cls, d: Dict[str, Any]) -> Dict[str, Any]:
        return dict(
            raw=d,
            id=_str(d, "id"),
            workflow=_str(d, "workflow"),
            version=_int(d, "version"),
            status=_str(d, "status"),
            event_id=_opt(d, "event_id"),
            input=_obj(d.get("input")),
            error=_str(d, "error"),
            created_at=parse_time(d.get("created_at")),
            started_at=parse_time(d.get("started_at")),
            finished_at=parse_time(d.get("finished_at")),
        )

    @classmethod
    def from_json(cls, d: Any) -> "RunSummary":
        return cls(**cls._fields(_obj(d)))


@dataclass
class StepRun(_Model):
    """The execution state of one step of a run."""

    id: str = ""
    name: str = ""
    parents: List[str] = field(default_factory=list)
    status: str = ""
    attempt: int = 0
    max_attempts: int = 0
    worker_id: Optional[str] = None
    output: Optional[Dict[str, Any]] = None
    error: str = ""
    queued_at: Optional[_dt.datetime] = None
    started_at: Optional[_dt.datetime] = None
    finished_at: Optional[_dt.datetime] = None

    @classmethod
    def from_json(cls, d: Any) -> "StepRun":
        d = _obj(d)
        out = d.get("output")
        return cls(
            raw=d,
            id=_str(d, "id"),
            name=_str(d, "name"),
            parents=[p for p in d.get("parents") or [] if isinstance(p, str)],
            status=_str(d, "status"),
            attempt=_int(d, "attempt"),
            max_attempts=_int(d, "max_attempts"),
            worker_id=_opt(d, "worker_id"),
            output=out if isinstance(out, dict) else None,
            error=_str(d, "error"),
            queued_at=parse_time(d.get("queued_at")),
            started_at=parse_time(d.get("started_at")),
            finished_at=parse_time(d.get("finished_at")),
        )


@dataclass
class Run(RunSummary):
    """A run with its steps, as ``client.runs.get`` returns it."""

    steps: List[StepRun] = field(default_factory=list)

    def step(self, name: str) -> Optional[StepRun]:
        """Returns the step-run of the named step, or None."""
        for s in self.steps:
            if s.name == name:
                return s
        return None

    @classmethod
    def from_json(cls, d: Any) -> "Run":
        d = _obj(d)
        return cls(steps=[StepRun.from_json(s) for s in d.get("steps") or []], **cls._fields(d))


@dataclass
class Event(_Model):
    """A stored event. ``status`` is ``delivered``, or for a delayed event
    ``scheduled`` (with ``deliver_at``), ``cancelled`` or ``failed``. ``triggers``
    records the decision taken for every workflow whose trigger matched; ``runs`` is
    set by ``client.event.get`` only. ``parent_run_id``, ``parent_step_run_id`` and
    ``parent_step`` are the lineage of an event a step pushed (``source`` ``run``)."""

    id: str = ""
    key: str = ""
    payload: Dict[str, Any] = field(default_factory=dict)
    additional_metadata: Dict[str, Any] = field(default_factory=dict)
    source: str = ""
    status: str = ""
    scope: Optional[str] = None
    created_at: Optional[_dt.datetime] = None
    deliver_at: Optional[_dt.datetime] = None
    delivery_error: Optional[str] = None
    parent_run_id: Optional[str] = None
    parent_step_run_id: Optional[str] = None
    parent_step: Optional[str] = None
    webhook: Optional[str] = None
    replay_of: Optional[str] = None
    triggers: List[TriggerDecision] = field(default_factory=list)
    runs: List[RunSummary] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: Any) -> "Event":
        d = _obj(d)
        return cls(
            raw=d,
            id=_str(d, "id"),
            key=_str(d, "key"),
            payload=_obj(d.get("payload")),
            additional_metadata=_obj(d.get("additional_metadata")),
            source=_str(d, "source"),
            status=_str(d, "status"),
            scope=_opt(d, "scope"),
            created_at=parse_time(d.get("created_at")),
            deliver_at=parse_time(d.get("deliver_at")),
            delivery_error=_opt(d, "delivery_error"),
            parent_run_id=_opt(d, "parent_run_id"),
            parent_step_run_id=_opt(d, "parent_step_run_id"),
            parent_step=_opt(d, "parent_step"),
            webhook=_opt(d, "webhook"),
            replay_of=_opt(d, "replay_of"),
            triggers=[TriggerDecision.from_json(t) for t in d.get("triggers") or []],
            runs=[RunSummary.from_json(r) for r in d.get("runs") or []],
        )


@dataclass
class PushResult(_Model):
    """The engine's answer to a push: the stored event and the runs it started.
    ``duplicate`` is true when the push repeated a live idempotency key: the event and
    runs are then the original's, and nothing new was stored or triggered."""

    event: Event = field(default_factory=Event)
    runs: List[RunRef] = field(default_factory=list)
    duplicate: bool = False

    @classmethod
    def from_json(cls, d: Any) -> "PushResult":
        d = _obj(d)
        return cls(
            raw=d,
            event=Event.from_json(d.get("event")),
            runs=[RunRef.from_json(r) for r in d.get("runs") or []],
            duplicate=d.get("duplicate") is True,
        )


@dataclass
class WorkflowInfo(_Model):
    """A stored workflow: its current definition and state."""

    name: str = ""
    description: str = ""
    active: bool = True
    version: int = 0
    triggers: List[Any] = field(default_factory=list)
    steps: List[Dict[str, Any]] = field(default_factory=list)
    created_at: Optional[_dt.datetime] = None
    updated_at: Optional[_dt.datetime] = None

    @classmethod
    def from_json(cls, d: Any) -> "WorkflowInfo":
        d = _obj(d)
        return cls(
            raw=d,
            name=_str(d, "name"),
            description=_str(d, "description"),
            active=d.get("active") is not False,
            version=_int(d, "version"),
            triggers=list(d.get("triggers") or []),
            steps=[s for s in d.get("steps") or [] if isinstance(s, dict)],
            created_at=parse_time(d.get("created_at")),
            updated_at=parse_time(d.get("updated_at")),
        )
