"""Herald for Python: push events and run workflow steps.

The client pushes events and inspects what they started::

    import herald

    client = herald.Client()  # HERALD_URL, HERALD_TOKEN or ./.herald/token
    res = client.event.push("user:created", {"user_id": "u_1"}, additional_metadata={"source": "signup"})
    print(res.event.id, [r.run_id for r in res.runs])

A worker runs the steps of workflows declared with decorators::

    worker = herald.Worker(client, slots=10)

    @worker.workflow(name="welcome-user", on_events=["user:created"])
    class WelcomeUser:
        @worker.step(retries=3, timeout="30s")
        def send_email(self, ctx: herald.Context) -> dict:
            user = ctx.workflow_input()
            return {"sent_to": user["email"]}

    worker.run()  # until SIGTERM / SIGINT, then drains

The package uses the standard library only.
"""

__version__ = "0.1.0"

from .client import DEFAULT_URL, BulkEvent, Client, EventClient, RunsClient, WorkflowsClient, resolve_token
from .errors import HeraldConnectionError, HeraldError, NonRetryableError
from .models import (
    TERMINAL_STATUSES,
    Event,
    PushResult,
    Run,
    RunRef,
    RunSummary,
    StepRun,
    TriggerDecision,
    WorkflowInfo,
)
from .worker import (
    CANCELLED_BY_ENGINE,
    DEADLINE_EXCEEDED,
    WORKER_SHUTDOWN,
    Context,
    StepSpec,
    Worker,
    Workflow,
    step,
    workflow,
)

__all__ = [
    "__version__",
    "DEFAULT_URL",
    "BulkEvent",
    "Client",
    "EventClient",
    "RunsClient",
    "WorkflowsClient",
    "resolve_token",
    "HeraldError",
    "HeraldConnectionError",
    "NonRetryableError",
    "TERMINAL_STATUSES",
    "Event",
    "PushResult",
    "Run",
    "RunRef",
    "RunSummary",
    "StepRun",
    "TriggerDecision",
    "WorkflowInfo",
    "CANCELLED_BY_ENGINE",
    "DEADLINE_EXCEEDED",
    "WORKER_SHUTDOWN",
    "Context",
    "StepSpec",
    "Worker",
    "Workflow",
    "step",
    "workflow",
]
