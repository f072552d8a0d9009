"""The client against a real engine: pushes, bulk pushes, delayed events, idempotency,
runs, manual runs, configuration and the error mapping."""

from __future__ import annotations

import datetime as dt
import os
import socket
import tempfile
import threading
import unittest
import uuid

from support import Engine, FaultProxy, error_reply, eventually

import herald

ENGINE: Engine


def setUpModule() -> None:
    global ENGINE
    ENGINE = Engine().start()


def tearDownModule() -> None:
    ENGINE.close()


def unique(prefix: str) -> str:
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def put_workflow(client: herald.Client, name: str, triggers: list) -> None:
    client.workflows.put({"name": name, "triggers": triggers, "steps": [{"name": "only"}]})


class PushTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = ENGINE.client()
        self.addCleanup(self.client.close)

    def test_push_returns_the_event_and_the_runs_it_started(self) -> None:
        key = unique("user") + ":created"
        put_workflow(self.client, unique("wf-a"), [key])
        put_workflow(self.client, unique("wf-b"), [key])
        res = self.client.event.push(key, {"user_id": "u_1"}, additional_metadata={"source": "signup", "n": 3})
        self.assertIsInstance(res, herald.PushResult)
        self.assertFalse(res.duplicate)
        self.assertEqual(res.event.key, key)
        self.assertEqual(res.event.payload, {"user_id": "u_1"})
        self.assertEqual(res.event.additional_metadata, {"source": "signup", "n": 3})
        self.assertEqual(res.event.status, "delivered")
        self.assertEqual(res.event.source, "api")
        self.assertIsInstance(res.event.created_at, dt.datetime)
        self.assertEqual(len(res.runs), 2)
        self.assertEqual({t.run_id for t in res.event.triggers}, {r.run_id for r in res.runs})
        # The raw reply is kept, and get shows the event with its triggers and runs.
        self.assertEqual(res.to_dict()["event"]["id"], res.event.id)
        got = self.client.event.get(res.event.id)
        self.assertEqual(got.id, res.event.id)
        self.assertEqual(sorted(r.id for r in got.runs), sorted(r.run_id for r in res.runs))
        self.assertEqual(len(got.triggers), 2)
        run = self.client.runs.get(res.runs[0].run_id)
        self.assertEqual(run.event_id, res.event.id)
        self.assertEqual(run.input, {"user_id": "u_1"})
        self.assertEqual([s.name for s in run.steps], ["only"])

    def test_bulk_push_with_metadata(self) -> None:
        prefix = unique("bulk")
        put_workflow(self.client, unique("wf-bulk"), [prefix + ":*"])
        events: list = [
            {"key": prefix + ":event1", "payload": {"message": "one"}, "additional_metadata": {"source": "test", "user_id": "user123"}},
            {"key": prefix + ":event2", "payload": {"message": "two"}, "additional_metadata": {"source": "test", "user_id": "user456"}},
            {"key": prefix + ":event3", "payload": {"message": "three"}, "additional_metadata": {"source": "test", "user_id": "user789"}},
        ]
        results = self.client.event.bulk_push(events)
        self.assertEqual([r.event.key for r in results], [e["key"] for e in events])
        for r, e in zip(results, events):
            self.assertEqual(r.event.payload, e["payload"])
            self.assertEqual(r.event.additional_metadata, e["additional_metadata"])
            self.assertEqual(len(r.runs), 1)
        # The metadata is searchable: the runs of one user's event.
        runs = list(self.client.runs.list(metadata={"user_id": "user456"}, key_prefix=prefix))
        self.assertEqual([r.id for r in runs], [results[1].runs[0].run_id])
        stored = list(self.client.event.list(key_prefix=prefix + ":", metadata={"source": "test"}))
        self.assertEqual(sorted(e.id for e in stored), sorted(r.event.id for r in results))

    def test_bulk_push_is_all_or_nothing(self) -> None:
        prefix = unique("bulkbad")
        with self.assertRaises(herald.HeraldError) as cm:
            self.client.event.bulk_push([{"key": prefix + ":ok"}, {"key": prefix + " bad key"}])
        self.assertEqual(cm.exception.status, 400)
        self.assertEqual(cm.exception.code, "invalid_argument")
        self.assertEqual(cm.exception.field, "events[1].key")
        self.assertEqual(list(self.client.event.list(key_prefix=prefix)), [])
        with self.assertRaises(ValueError):
            self.client.event.bulk_push([{"key": prefix + ":x"} for _ in range(1001)])
        with self.assertRaises(ValueError):
            self.client.event.bulk_push([])
        with self.assertRaises(TypeError):
            self.client.event.bulk_push([{"key": prefix + ":x", "paylod": {}}])  # type: ignore[list-item]

    def test_delayed_push_cancel_and_delivery(self) -> None:
        key = unique("reminder") + ":due"
        wf = unique("wf-delay")
        put_workflow(self.client, wf, [key])
        later = self.client.event.push(key, {"n": 1}, delay="1h")
        self.assertEqual(later.event.status, "scheduled")
        self.assertEqual(later.runs, [])
        self.assertIsNotNone(later.event.deliver_at)
        cancelled = self.client.event.cancel(later.event.id)
        self.assertEqual(cancelled.status, "cancelled")
        with self.assertRaises(herald.HeraldError) as cm:
            self.client.event.cancel(later.event.id)
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "conflict"))

        at = self.client.event.push(key, {"n": 2}, deliver_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2))
        self.assertEqual(at.event.status, "scheduled")
        assert at.event.deliver_at is not None
        self.assertGreater(at.event.deliver_at, dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=110))

        soon = self.client.event.push(key, {"n": 3}, delay=dt.timedelta(milliseconds=300))
        self.assertEqual(soon.event.status, "scheduled")
        delivered = eventually(
            lambda: (lambda e: e if e.status == "delivered" else None)(self.client.event.get(soon.event.id)),
            "the delayed event's delivery",
        )
        self.assertEqual([r.workflow for r in delivered.runs], [wf])
        # The cancelled event never triggered.
        self.assertEqual(self.client.event.get(later.event.id).runs, [])

    def test_idempotent_push(self) -> None:
        key = unique("order") + ":paid"
        put_workflow(self.client, unique("wf-idem"), [key])
        ikey = unique("order-42-paid")
        first = self.client.event.push(key, {"amount": 1}, idempotency_key=ikey)
        again = self.client.event.push(key, {"amount": 2}, idempotency_key=ikey)
        self.assertFalse(first.duplicate)
        self.assertTrue(again.duplicate)
        self.assertEqual(again.event.id, first.event.id)
        self.assertEqual(again.event.payload, {"amount": 1})
        self.assertEqual([r.run_id for r in again.runs], [r.run_id for r in first.runs])
        self.assertEqual(len(list(self.client.runs.list(key=key))), 1)
        bulk = self.client.event.bulk_push([{"key": key, "idempotency_key": ikey}, {"key": key, "idempotency_key": ikey + "-b"}])
        self.assertEqual([b.duplicate for b in bulk], [True, False])
        self.assertEqual(bulk[0].event.id, first.event.id)

    def test_scope_reaches_the_event(self) -> None:
        key = unique("scoped") + ":x"
        res = self.client.event.push(key, scope="acme")
        self.assertEqual(self.client.event.get(res.event.id).scope, "acme")


class RunsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = ENGINE.client()
        self.addCleanup(self.client.close)

    def test_list_iterates_over_cursor_pages(self) -> None:
        key = unique("paged") + ":x"
        wf = unique("wf-paged")
        put_workflow(self.client, wf, [key])
        pushed = self.client.event.bulk_push([{"key": key, "payload": {"i": i}} for i in range(7)])
        ids = [p.runs[0].run_id for p in pushed]
        seen_pages = []
        original = self.client._pages

        def spy(path: str, query: dict):  # counts the page requests
            seen_pages.append(dict(query))
            return original(path, query)

        self.client._pages = spy  # type: ignore[assignment]
        listed = list(self.client.runs.list(workflow=wf, page_size=3))
        self.assertEqual([r.id for r in listed], list(reversed(ids)))  # newest first
        self.assertTrue(all(isinstance(r, herald.RunSummary) for r in listed))
        self.assertEqual(seen_pages, [{"workflow": wf, "limit": 3}])
        # Lazily: taking two items reads one page only.
        it = self.client.runs.list(workflow=wf, page_size=2)
        self.assertEqual([next(it).id, next(it).id], list(reversed(ids))[:2])

    def test_manual_run_wait_and_cancel(self) -> None:
        wf = unique("wf-manual")
        put_workflow(self.client, wf, [])
        ref = self.client.workflows.run(wf, {"x": 1})
        self.assertIsInstance(ref, herald.RunRef)
        self.assertEqual(ref.workflow, wf)
        run = self.client.runs.get(ref.run_id)
        self.assertEqual(run.input, {"x": 1})
        self.assertFalse(run.done)
        cancelled = self.client.runs.cancel(ref.run_id)
        self.assertEqual(cancelled.status, "cancelled")
        self.assertTrue(cancelled.done)
        with self.assertRaises(herald.HeraldError) as cm:
            self.client.runs.cancel(ref.run_id)
        self.assertEqual(cm.exception.status, 409)
        with self.assertRaises(TimeoutError):
            self.client.workflows.run(wf, {}, wait=True, timeout=0.2)  # nothing runs its steps

    def test_workflow_management(self) -> None:
        wf = unique("wf-manage")
        put_workflow(self.client, wf, ["manage:x"])
        self.assertIn(wf, [w.name for w in self.client.workflows.list()])
        self.assertFalse(self.client.workflows.disable(wf).active)
        self.assertTrue(self.client.workflows.enable(wf).active)
        info = self.client.workflows.get(wf)
        self.assertEqual((info.name, info.version, info.triggers), (wf, 1, ["manage:x"]))


class ErrorsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = ENGINE.client()
        self.addCleanup(self.client.close)

    def test_engine_errors_map_to_herald_error(self) -> None:
        with self.assertRaises(herald.HeraldError) as cm:
            self.client.event.push("bad key!", {})
        e = cm.exception
        self.assertEqual((e.status, e.code, e.field, e.retry_after), (400, "invalid_argument", "key", None))
        self.assertIn("key", e.message)
        self.assertIn("HTTP 400 invalid_argument", str(e))

        with self.assertRaises(herald.HeraldError) as cm:
            self.client.event.push("ok:key", {"a": "\u0000"})
        self.assertEqual((cm.exception.status, cm.exception.field), (400, "payload"))

        with self.assertRaises(herald.HeraldError) as cm:
            self.client.runs.get("01a209c3-e275-76b3-aaea-0e0627e85943")
        self.assertEqual((cm.exception.status, cm.exception.code), (404, "not_found"))

        bad = herald.Client(ENGINE.url, "hrld_wrong")
        self.addCleanup(bad.close)
        with self.assertRaises(herald.HeraldError) as cm:
            bad.event.push("any:key")
        self.assertEqual((cm.exception.status, cm.exception.code), (401, "unauthenticated"))

        with self.assertRaises(TypeError):
            self.client.event.push("any:key", ["not", "an", "object"])  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            self.client.event.push("any:key", {"x": float("nan")})

    def test_unreachable_engine(self) -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        c = herald.Client("http://127.0.0.1:%d" % port, "t")
        with self.assertRaises(herald.HeraldConnectionError) as cm:
            c.event.push("a:b")
        self.assertIsInstance(cm.exception, herald.HeraldError)
        self.assertEqual((cm.exception.status, cm.exception.code), (0, "unreachable"))
        with self.assertRaises(ValueError):
            herald.Client("ftp://example.com", "t")

    def test_429_and_503_are_retried_honouring_retry_after(self) -> None:
        key = unique("busy") + ":x"
        refusals = [error_reply(503, "unavailable", "the store cannot commit", "0.2"),
                    error_reply(429, "overloaded", "the ingest queue is full", "0.3")]
        lock = threading.Lock()
        times = []

        def rule(method: str, path: str):
            if path.endswith("/events"):
                with lock:
                    times.append(__import__("time").monotonic())
                    if refusals:
                        return refusals.pop(0)
            return None

        proxy = FaultProxy(ENGINE.url, rule)
        self.addCleanup(proxy.close)
        c = ENGINE.client(proxy.url)
        self.addCleanup(c.close)
        res = c.event.push(key, {"n": 1})
        self.assertEqual(res.event.key, key)
        self.assertEqual(len(times), 3)
        # The waits the engine asked for were honoured.
        self.assertGreaterEqual(times[1] - times[0], 0.2)
        self.assertGreaterEqual(times[2] - times[1], 0.3)
        # Exactly one event was stored.
        self.assertEqual(len(list(self.client.event.list(key=key))), 1)

        # Past the limit, the last refusal is raised with its Retry-After.
        refusals.extend([error_reply(503, "unavailable", "down", "0.1")] * 3)
        limited = ENGINE.client(proxy.url, max_retries=2)
        self.addCleanup(limited.close)
        with self.assertRaises(herald.HeraldError) as cm:
            limited.event.push(key, {"n": 2})
        e = cm.exception
        self.assertEqual((e.status, e.code, e.retry_after), (503, "unavailable", 0.1))
        self.assertTrue(e.temporary)
        self.assertEqual(len(list(self.client.event.list(key=key))), 1)

    def test_retry_after_as_http_date(self) -> None:
        when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
        e = herald.HeraldError.from_reply(
            429, {"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")}, b"{}"
        )
        assert e.retry_after is not None
        self.assertTrue(28 <= e.retry_after <= 31, e.retry_after)
        plain = herald.HeraldError.from_reply(502, {}, b"<html>bad gateway</html>")
        self.assertEqual((plain.status, plain.code, plain.message), (502, "", "<html>bad gateway</html>"))


class ConfigTest(unittest.TestCase):
    def setUp(self) -> None:
        saved = {k: os.environ.get(k) for k in ("HERALD_URL", "HERALD_TOKEN", "HERALD_DATA_DIR")}

        def restore() -> None:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

        self.addCleanup(restore)
        for k in saved:
            os.environ.pop(k, None)

    def test_url_and_token_from_the_environment(self) -> None:
        os.environ["HERALD_URL"] = ENGINE.url
        os.environ["HERALD_TOKEN"] = ENGINE.token
        with herald.Client() as c:
            self.assertEqual(c.url, ENGINE.url)
            self.assertIsInstance(c.workflows.list(), list)

    def test_token_from_the_local_engine_token_file(self) -> None:
        os.environ["HERALD_URL"] = ENGINE.url
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, ".herald"))
            with open(os.path.join(d, ".herald", "token"), "w") as f:
                f.write(ENGINE.token + "\n")
            os.chdir(d)
            try:
                with herald.Client.from_env() as c:
                    c.workflows.list()
            finally:
                os.chdir(cwd)
            with self.assertRaises(herald.HeraldError) as cm:
                herald.Client()  # from another directory, no token
            self.assertEqual(cm.exception.code, "no_token")
        os.environ["HERALD_DATA_DIR"] = ENGINE.data_dir
        with herald.Client() as c:
            c.workflows.list()


if __name__ == "__main__":
    unittest.main()
