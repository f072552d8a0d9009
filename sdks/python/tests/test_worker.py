"""The worker against a real engine: DAG runs with parents' outputs, retries and
NonRetryableError, chaining with lineage, cancellation, lease loss when a step stalls,
deadlines, slots, an engine restart under a running worker, and graceful shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import unittest
import uuid
from typing import Any, Dict, List

from support import SDK_DIR, TIMEOUT, Engine, FaultProxy, LogRecorder, RunningWorker, error_reply, eventually, new_worker

import herald

ENGINE: Engine


def setUpModule() -> None:
    global ENGINE
    ENGINE = Engine().start()


def tearDownModule() -> None:
    ENGINE.close()


def unique(prefix: str) -> str:
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


class WorkerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = ENGINE.client()
        self.addCleanup(self.client.close)

    def start(self, worker: herald.Worker) -> RunningWorker:
        rw = RunningWorker(worker)
        self.addCleanup(rw.stop)
        return rw

    def wait_run(self, run_id: str, client: Any = None) -> herald.Run:
        return (client or self.client).runs.wait(run_id, timeout=TIMEOUT)

    # -- DAGs -------------------------------------------------------------------------

    def test_dag_run_passes_parents_outputs(self) -> None:
        key = unique("user") + ":created"
        name = unique("dag")
        w = new_worker(self.client, name)
        wf = w.workflow(name=name, on_events=[key], description="a diamond")
        seen: Dict[str, Any] = {}

        @wf.step(name="fetch", timeout="30s", retries=2)
        def fetch(ctx: herald.Context) -> Dict[str, Any]:
            seen["fetch"] = dict(
                run_id=ctx.run_id, step_run_id=ctx.step_run_id, attempt=ctx.attempt, max_attempts=ctx.max_attempts,
                workflow=ctx.workflow_name, version=ctx.workflow_version, step=ctx.step_name, event_id=ctx.event_id,
                deadline=ctx.deadline, cancelled=ctx.is_cancelled,
            )
            return {"user": ctx.workflow_input()["user_id"], "n": 1}

        @wf.step(parents=[fetch])
        def left(ctx: herald.Context) -> Dict[str, Any]:
            return {"n": ctx.step_output(fetch)["n"] + 10}

        @wf.step(parents=["fetch"])
        def right(ctx: herald.Context) -> Dict[str, Any]:
            return {"n": ctx.step_output("fetch")["n"] + 100}

        @wf.step(parents=[left, right])
        def join(ctx: herald.Context) -> Dict[str, Any]:
            with self.assertRaises(ValueError):
                ctx.step_output("fetch")  # not a parent of this step
            return {"sum": ctx.step_output(left)["n"] + ctx.step_output(right)["n"], "parents": sorted(ctx.parent_outputs())}

        self.start(w)
        res = self.client.event.push(key, {"user_id": "u_1"})
        self.assertEqual([r.workflow for r in res.runs], [name])
        run = self.wait_run(res.runs[0].run_id)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.step("join").output, {"sum": 112, "parents": ["left", "right"]})  # type: ignore[union-attr]
        self.assertEqual(run.step("fetch").output, {"user": "u_1", "n": 1})  # type: ignore[union-attr]
        f = seen["fetch"]
        self.assertEqual(f["run_id"], run.id)
        self.assertEqual(f["step_run_id"], run.step("fetch").id)  # type: ignore[union-attr]
        self.assertEqual((f["attempt"], f["max_attempts"], f["workflow"], f["version"], f["step"]), (1, 3, name, 1, "fetch"))
        self.assertEqual(f["event_id"], res.event.id)
        self.assertIsNotNone(f["deadline"])
        self.assertFalse(f["cancelled"])
        info = self.client.workflows.get(name)
        self.assertEqual(info.description, "a diamond")
        self.assertEqual(
            [(s["name"], s.get("parents") or []) for s in info.steps],
            [("fetch", []), ("left", ["fetch"]), ("right", ["fetch"]), ("join", ["left", "right"])],
        )
        self.assertEqual(info.steps[0]["timeout"], "30s")
        self.assertEqual(info.steps[0]["retry"]["max_attempts"], 3)

    def test_class_workflow_with_decorators(self) -> None:
        key = unique("signup") + ":done"
        w = new_worker(self.client, "class-form")

        @dataclasses.dataclass
        class Greeting:
            text: str

        @w.workflow(on_events=[key])
        class Greeter:
            """Greets a user.

            More text that is not the description."""

            def __init__(self) -> None:
                self.prefix = "hello"

            @w.step()
            def greet(self, ctx: herald.Context) -> Greeting:
                return Greeting("%s %s" % (self.prefix, ctx.workflow_input()["name"]))

            @w.step(parents=[greet])
            async def shout(self, ctx: herald.Context) -> Dict[str, Any]:
                await asyncio.sleep(0)
                return {"text": ctx.step_output(Greeter.greet)["text"].upper()}

        self.start(w)
        res = self.client.event.push(key, {"name": "ada"})
        self.assertEqual([r.workflow for r in res.runs], ["Greeter"])
        run = self.wait_run(res.runs[0].run_id)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.step("greet").output, {"text": "hello ada"})  # type: ignore[union-attr]
        self.assertEqual(run.step("shout").output, {"text": "HELLO ADA"})  # type: ignore[union-attr]
        self.assertEqual(self.client.workflows.get("Greeter").description, "Greets a user.")

    def test_invalid_workflows_are_refused_at_start(self) -> None:
        w = new_worker(self.client, "invalid")
        wf = w.workflow(name="cyclic")

        @wf.step(parents=["b"])
        def a(ctx: herald.Context) -> None:
            return None

        @wf.step(parents=[a])
        def b(ctx: herald.Context) -> None:
            return None

        with self.assertRaisesRegex(ValueError, "cycle"):
            w.run()
        w2 = new_worker(self.client, "dup")
        w2.workflow(name="same")
        with self.assertRaisesRegex(ValueError, "registered twice"):
            w2.workflow(name="same")
        with self.assertRaisesRegex(ValueError, "registered twice"):

            @w2.workflow()
            class same:  # noqa: N801 - named as the workflow it collides with
                @herald.step
                def s(self, ctx: herald.Context) -> None:
                    return None

        w3 = new_worker(self.client, "unnamed")
        unnamed = w3.workflow(on_events=["x:y"])

        @unnamed.step()
        def lone(ctx: herald.Context) -> None:
            return None

        with self.assertRaisesRegex(ValueError, "invalid workflow name"):
            w3.run()

    # -- failures -----------------------------------------------------------------------

    def test_retries_then_success(self) -> None:
        name = unique("flaky")
        w = new_worker(self.client, name)
        wf = w.workflow(name=name)
        attempts: List[int] = []

        @wf.step(retries=3, backoff=0.1, max_backoff="200ms")
        def flaky(ctx: herald.Context) -> Dict[str, Any]:
            attempts.append(ctx.attempt)
            if ctx.attempt < 3:
                raise RuntimeError("smtp: connection refused")
            return {"ok": True}

        self.start(w)
        run = self.client.workflows.run(name, {}, wait=True, timeout=TIMEOUT)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(attempts, [1, 2, 3])
        s = run.step("flaky")
        assert s is not None
        self.assertEqual((s.attempt, s.max_attempts, s.output), (3, 4, {"ok": True}))

    def test_non_retryable_error_fails_at_once(self) -> None:
        name = unique("final")
        w = new_worker(self.client, name)
        wf = w.workflow(name=name)
        calls: List[str] = []

        @wf.step(retries=5, backoff=0.1)
        def check(ctx: herald.Context) -> Dict[str, Any]:
            calls.append(ctx.workflow_input()["case"])
            case = ctx.workflow_input()["case"]
            if case == "plain":
                raise herald.NonRetryableError("payload needs user_id and email")
            if case == "chained":
                try:
                    raise herald.NonRetryableError("bad input")
                except herald.NonRetryableError as exc:
                    raise KeyError("user_id") from exc
            return ["not", "an", "object"]  # type: ignore[return-value]

        self.start(w)
        for case, want in (
            ("plain", "payload needs user_id and email"),
            ("chained", "KeyError: 'user_id'"),
            ("output", "step output must be a JSON object"),
        ):
            run = self.client.workflows.run(name, {"case": case}, wait=True, timeout=TIMEOUT)
            self.assertEqual(run.status, "failed", case)
            s = run.step("check")
            assert s is not None
            self.assertEqual(s.attempt, 1, case)
            self.assertIn(want, s.error)
        self.assertEqual(calls, ["plain", "chained", "output"])

    # -- chaining ------------------------------------------------------------------------

    def test_chaining_records_lineage(self) -> None:
        key = unique("account") + ":provisioned"
        parent, child = unique("parent"), unique("child")
        w = new_worker(self.client, parent)
        pw = w.workflow(name=parent)
        cw = w.workflow(name=child, on_events=[key])
        pushed: List[herald.PushResult] = []

        @pw.step(name="announce")
        def announce(ctx: herald.Context) -> Dict[str, Any]:
            res = ctx.push(key, {"account_id": "acct_1"}, additional_metadata={"by": "announce"})
            pushed.append(res)
            return {"event_id": res.event.id}

        @cw.step(name="receive")
        def receive(ctx: herald.Context) -> Dict[str, Any]:
            return {"got": ctx.workflow_input()["account_id"], "event": ctx.event_id}

        self.start(w)
        run = self.client.workflows.run(parent, {}, wait=True, timeout=TIMEOUT)
        self.assertEqual(run.status, "succeeded", run.error)
        ev = self.client.event.get(run.step("announce").output["event_id"])  # type: ignore[index,union-attr]
        self.assertEqual(ev.source, "run")
        self.assertEqual(ev.parent_run_id, run.id)
        self.assertEqual(ev.parent_step_run_id, run.step("announce").id)  # type: ignore[union-attr]
        self.assertEqual(ev.parent_step, "announce")
        self.assertEqual(ev.additional_metadata, {"by": "announce"})
        self.assertEqual([r.workflow for r in pushed[0].runs], [child])
        crun = self.wait_run(pushed[0].runs[0].run_id)
        self.assertEqual(crun.status, "succeeded", crun.error)
        self.assertEqual(crun.step("receive").output, {"got": "acct_1", "event": ev.id})  # type: ignore[union-attr]

    # -- cancellation and leases ----------------------------------------------------------

    def test_cancelling_the_run_sets_the_flag(self) -> None:
        name = unique("cancel")
        w = new_worker(self.client, name)
        wf = w.workflow(name=name)
        started = threading.Event()
        seen: Dict[str, Any] = {}

        @wf.step(timeout="1m")
        def long(ctx: herald.Context) -> Dict[str, Any]:
            started.set()
            seen["flag"] = ctx.cancelled.wait(TIMEOUT)
            seen["reason"] = ctx.cancel_reason
            seen["exit_flag"] = ctx.exit_flag
            return {"finished": True}

        self.start(w)
        ref = self.client.workflows.run(name, {})
        self.assertTrue(started.wait(TIMEOUT))
        self.client.runs.cancel(ref.run_id)
        eventually(lambda: "reason" in seen, "the step to see the cancellation")
        self.assertEqual((seen["flag"], seen["reason"], seen["exit_flag"]), (True, herald.CANCELLED_BY_ENGINE, True))
        eventually(lambda: w.stats()["dropped"] == 1 and w.stats()["running"] == 0, "the result to be dropped")
        run = self.client.runs.get(ref.run_id)
        self.assertEqual(run.status, "cancelled")
        self.assertIsNone(run.step("long").output)  # type: ignore[union-attr]

    def test_lease_loss_when_a_step_stalls(self) -> None:
        """A step stalls on a worker whose heartbeats do not get through: its lease
        expires, the step goes to another worker and succeeds there; when the first
        worker's heartbeat gets through again, the engine says the lease is lost and
        the stalled step's flag is set; its late result is dropped."""
        name = unique("stall")
        block = threading.Event()
        block.set()
        proxy = FaultProxy(
            ENGINE.url,
            lambda m, p: error_reply(503, "unavailable", "blocked by the test", "0.05")
            if p.endswith("/heartbeat") and block.is_set()
            else None,
        )
        self.addCleanup(proxy.close)
        via_proxy = ENGINE.client(proxy.url)
        self.addCleanup(via_proxy.close)
        runs: List[str] = []
        first: Dict[str, Any] = {}
        first_started = threading.Event()

        def declare(w: herald.Worker) -> None:
            wf = w.workflow(name=name)

            @wf.step(timeout="1m")
            def work(ctx: herald.Context) -> Dict[str, Any]:
                runs.append(w.name)
                if w.name == "stalling":
                    first_started.set()
                    first["flag"] = ctx.cancelled.wait(TIMEOUT)
                    first["reason"] = ctx.cancel_reason
                    return {"by": "stalling"}
                return {"by": w.name}

        a = new_worker(via_proxy, "stalling", slots=1)
        declare(a)
        self.start(a)
        ref = self.client.workflows.run(name, {})
        self.assertTrue(first_started.wait(TIMEOUT))
        b = new_worker(self.client, "healthy")
        declare(b)
        self.start(b)
        run = self.wait_run(ref.run_id)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.step("work").output, {"by": "healthy"})  # type: ignore[union-attr]
        self.assertEqual(run.step("work").attempt, 1)  # type: ignore[union-attr]  # a lost worker costs no attempt
        self.assertGreater(proxy.count("/heartbeat"), 0)
        block.clear()
        eventually(lambda: "reason" in first, "the stalled step to learn its lease is lost")
        self.assertEqual((first["flag"], first["reason"]), (True, herald.CANCELLED_BY_ENGINE))
        eventually(lambda: a.stats()["dropped"] == 1, "the stalled step's result to be dropped")
        self.assertEqual(a.stats()["completed"], 0)
        self.assertEqual(runs, ["stalling", "healthy"])
        self.assertEqual(self.client.runs.get(ref.run_id).step("work").output, {"by": "healthy"})  # type: ignore[union-attr]

    def test_a_step_handed_out_again_cancels_its_stalled_run(self) -> None:
        """With heartbeats failing, a stalled step's lease expires and the engine hands
        the step to the same worker again: the worker sets the stalled run's flag at
        once (its lease is gone), and the new run's result is the one kept."""
        name = unique("again")
        proxy = FaultProxy(
            ENGINE.url,
            lambda m, p: error_reply(503, "unavailable", "blocked by the test") if p.endswith("/heartbeat") else None,
        )
        self.addCleanup(proxy.close)
        via_proxy = ENGINE.client(proxy.url)
        self.addCleanup(via_proxy.close)
        w = new_worker(via_proxy, name, slots=2)
        wf = w.workflow(name=name)
        seen: List[Any] = []

        @wf.step(timeout="1m")
        def work(ctx: herald.Context) -> Dict[str, Any]:
            if not seen:
                seen.append("stalled")
                seen.append((ctx.cancelled.wait(TIMEOUT), ctx.cancel_reason))
                return {"by": "stalled"}
            seen.append("again")
            return {"by": "again"}

        self.start(w)
        run = self.client.workflows.run(name, {}, wait=True, timeout=TIMEOUT)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.step("work").output, {"by": "again"})  # type: ignore[union-attr]
        eventually(lambda: len(seen) == 3, "the stalled run to return")
        self.assertEqual(seen[0], "stalled")
        self.assertIn("again", seen)
        self.assertIn((True, herald.CANCELLED_BY_ENGINE), seen)
        eventually(lambda: w.stats()["dropped"] == 1, "the stalled run's result to be dropped")

    def test_the_deadline_sets_the_flag(self) -> None:
        """The flag is set at the attempt's deadline by the worker itself: heartbeats
        do not get through (so the engine cannot say the lease ended) and the worker has
        one slot (so it cannot be handed the next attempt meanwhile)."""
        name = unique("deadline")
        block = threading.Event()
        block.set()
        proxy = FaultProxy(
            ENGINE.url,
            lambda m, p: error_reply(503, "unavailable", "blocked by the test") if p.endswith("/heartbeat") and block.is_set() else None,
        )
        self.addCleanup(proxy.close)
        via_proxy = ENGINE.client(proxy.url)
        self.addCleanup(via_proxy.close)
        w = new_worker(via_proxy, name, slots=1)
        wf = w.workflow(name=name)
        reasons: List[Any] = []

        @wf.step(timeout=1, retries=1, backoff=0.1)
        def slow(ctx: herald.Context) -> Dict[str, Any]:
            if ctx.attempt == 1:
                ctx.cancelled.wait(TIMEOUT)
                reasons.append(ctx.cancel_reason)
                raise TimeoutError("gave up")
            return {"attempt": ctx.attempt}

        self.start(w)
        run = self.client.workflows.run(name, {}, wait=True, timeout=TIMEOUT)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.step("slow").output, {"attempt": 2})  # type: ignore[union-attr]
        self.assertEqual(reasons, [herald.DEADLINE_EXCEEDED])

    def test_never_more_steps_than_slots(self) -> None:
        name = unique("slots")
        w = new_worker(self.client, name, slots=2)
        wf = w.workflow(name=name)
        lock = threading.Lock()
        state = {"now": 0, "max": 0}

        @wf.step()
        def busy(ctx: herald.Context) -> None:
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            ctx.cancelled.wait(0.2)  # the work
            with lock:
                state["now"] -= 1

        w.client.workflows.put(wf.definition())
        refs = [self.client.workflows.run(name, {"i": i}) for i in range(6)]
        self.start(w)
        for ref in refs:
            self.assertEqual(self.wait_run(ref.run_id).status, "succeeded")
        self.assertEqual(state["max"], 2)
        self.assertEqual(w.stats(), {"completed": 6, "failed": 0, "dropped": 0, "running": 0})

    # -- shutdown ---------------------------------------------------------------------------

    def test_stop_lets_running_steps_finish(self) -> None:
        name = unique("drain")
        w = new_worker(self.client, name, slots=2)
        wf = w.workflow(name=name)
        started, release = threading.Event(), threading.Event()
        calls: List[str] = []

        @wf.step()
        def work(ctx: herald.Context) -> Dict[str, Any]:
            calls.append(ctx.run_id)
            started.set()
            release.wait(TIMEOUT)
            return {"cancelled": ctx.is_cancelled}

        log = LogRecorder(w.logger)
        rw = RunningWorker(w)
        ref = self.client.workflows.run(name, {})
        self.assertTrue(started.wait(TIMEOUT))
        w.stop()  # returns at once: no more polls (the one in flight is abandoned)
        later = self.client.workflows.run(name, {})  # pushed while the worker drains
        eventually(lambda: log.seen("waiting up to"), "the worker to wait for its running step")
        self.assertTrue(rw.thread.is_alive())  # run() has not returned: the step is running
        release.set()
        rw.stop()
        # run() returned once the step's result was accepted.
        self.assertEqual(rw.stats_at_return, {"completed": 1, "failed": 0, "dropped": 0, "running": 0})
        run = self.client.runs.get(ref.run_id)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.step("work").output, {"cancelled": False})  # type: ignore[union-attr]
        self.assertEqual(calls, [ref.run_id])  # the later run was not taken
        self.assertEqual(w.stats(), {"completed": 1, "failed": 0, "dropped": 0, "running": 0})
        self.client.runs.cancel(later.run_id)

    def test_shutdown_timeout_cancels_running_steps(self) -> None:
        name = unique("abandon")
        w = new_worker(self.client, name, shutdown_timeout=0.2)
        wf = w.workflow(name=name)
        started = threading.Event()
        reasons: List[Any] = []

        @wf.step(timeout="1m")
        def stuck(ctx: herald.Context) -> None:
            started.set()
            ctx.cancelled.wait(TIMEOUT)
            reasons.append(ctx.cancel_reason)
            raise RuntimeError("interrupted")

        rw = RunningWorker(w)
        ref = self.client.workflows.run(name, {})
        self.assertTrue(started.wait(TIMEOUT))
        rw.stop()
        self.assertEqual(reasons, [herald.WORKER_SHUTDOWN])
        # The interrupted attempt's failure was not reported: the step is still leased
        # (it goes to another worker when the lease expires) and costs no attempt.
        step = self.client.runs.get(ref.run_id).step("stuck")
        assert step is not None
        self.assertEqual(step.attempt, 1)
        self.assertNotIn("interrupted", step.error)
        self.assertEqual(w.stats()["failed"], 0)
        self.client.runs.cancel(ref.run_id)

    def test_sigterm_drains_a_worker_process(self) -> None:
        name = unique("sigterm")
        env = dict(os.environ, HERALD_URL=ENGINE.url, HERALD_TOKEN=ENGINE.token, PYTHONPATH=str(SDK_DIR))
        proc = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(__file__), "slow_worker.py"), name],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        eventually(lambda: any(w.name == name for w in self.client.workflows.list()), "the worker process to start")
        lines: List[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
        reader.start()
        ref = self.client.workflows.run(name, {})
        eventually(lambda: any("work started" in line for line in list(lines)), "the step to start in the worker process")
        proc.send_signal(signal.SIGTERM)
        proc.wait(TIMEOUT)
        reader.join(TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()
        out = "".join(lines)
        self.assertEqual(proc.returncode, 0, out)
        run = self.client.runs.get(ref.run_id)
        self.assertEqual(run.status, "succeeded", out)
        s = run.step("work")
        assert s is not None
        self.assertEqual((s.attempt, s.output), (1, {"slept": True, "cancelled": False}))
        self.assertIn("SIGTERM received", out)


class EngineRestartTest(unittest.TestCase):
    def test_worker_survives_an_engine_restart(self) -> None:
        engine = Engine().start()
        self.addCleanup(engine.close)
        client = engine.client()
        self.addCleanup(client.close)
        w = new_worker(client, "restart", poll_wait=2.0)
        wf = w.workflow(name="survivor", on_events=["restart:test"])
        started, release = threading.Event(), threading.Event()

        @wf.step(timeout="1m")
        def work(ctx: herald.Context) -> Dict[str, Any]:
            if ctx.workflow_input().get("hold"):
                started.set()
                release.wait(TIMEOUT)
            return {"n": ctx.workflow_input()["n"]}

        rw = RunningWorker(w)
        self.addCleanup(rw.stop)
        before = client.event.push("restart:test", {"n": 1})
        self.assertEqual(client.runs.wait(before.runs[0].run_id, TIMEOUT).status, "succeeded")
        held = client.event.push("restart:test", {"n": 2, "hold": True})
        self.assertTrue(started.wait(TIMEOUT))

        engine.restart(signal.SIGKILL)  # a crash, with a step running and a poll in flight
        release.set()
        after = client.event.push("restart:test", {"n": 3})
        for res, n in ((held, 2), (after, 3)):
            run = client.runs.wait(res.runs[0].run_id, TIMEOUT)
            self.assertEqual(run.status, "succeeded", run.error)
            self.assertEqual(run.step("work").output, {"n": n})  # type: ignore[union-attr]
        self.assertTrue(rw.thread.is_alive())
        self.assertIsNone(rw.error)


if __name__ == "__main__":
    unittest.main()
