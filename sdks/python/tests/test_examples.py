"""The examples, run as a user runs them: ``python3 sdks/python/examples/<name>.py`` from
the repository root with HERALD_URL and HERALD_TOKEN set, nothing installed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
from typing import Any, Dict, List

from support import REPO_DIR, TIMEOUT, Engine, eventually


ENGINE: Engine


def setUpModule() -> None:
    global ENGINE
    ENGINE = Engine().start()


def tearDownModule() -> None:
    ENGINE.close()


def example_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_") and k != "PYTHONPATH"}
    env.update(HERALD_URL=ENGINE.url, HERALD_TOKEN=ENGINE.token)
    return env


class Process:
    """A process whose combined output is collected line by line."""

    def __init__(self, args: List[str]) -> None:
        self.proc = subprocess.Popen(
            args, cwd=str(REPO_DIR), env=example_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: List[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.reader.join(TIMEOUT)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def push(key: str, payload: Dict[str, Any]) -> Dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "sdks/python/examples/push.py", key, json.dumps(payload)],
        cwd=str(REPO_DIR), env=example_env(), capture_output=True, text=True, timeout=TIMEOUT,
    )
    if proc.returncode != 0:
        raise AssertionError("push.py failed (%d): %s" % (proc.returncode, proc.stderr))
    reply = json.loads(proc.stdout)
    assert isinstance(reply, dict)
    return reply


class QuickstartTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = ENGINE.client()
        self.addCleanup(self.client.close)

    def definitions(self) -> Dict[str, Any]:
        out = {}
        for w in self.client.workflows.list():
            d = w.to_dict()
            out[w.name] = {k: d.get(k) for k in ("description", "version", "triggers", "steps")}
        return out

    def test_quickstart_registers_the_go_workflows_and_runs_them(self) -> None:
        # The Go example stores its two workflows first...
        go = shutil.which("go")
        if go is None:
            raise AssertionError("this test compares with the Go quickstart: it needs Go")
        bindir = tempfile.mkdtemp(prefix="herald-py-quickstart-")
        self.addCleanup(shutil.rmtree, bindir, True)
        build = subprocess.run([go, "build", "-o", os.path.join(bindir, "quickstart"), "./examples/quickstart"],
                               cwd=str(REPO_DIR), capture_output=True, text=True)
        self.assertEqual(build.returncode, 0, build.stderr)
        gow = Process([os.path.join(bindir, "quickstart")])
        try:
            eventually(lambda: {"welcome-user", "provision-account"} <= set(self.definitions()), "the Go quickstart's workflows")
        finally:
            self.assertEqual(gow.stop(), 0, gow.output())
        go_defs = self.definitions()

        # ...and the Python one stores the very same definitions: no new version.
        py = Process([sys.executable, "sdks/python/examples/quickstart.py"])
        self.addCleanup(py.stop)
        eventually(lambda: "worker registered" in py.output(), "the Python quickstart to register")
        self.assertEqual(self.definitions(), go_defs)
        self.assertEqual({n: d["version"] for n, d in go_defs.items()}, {"welcome-user": 1, "provision-account": 1})

        reply = push("user:created", {"user_id": "u_1", "email": "ada@example.com", "name": "Ada"})
        self.assertEqual(reply["event"]["key"], "user:created")
        self.assertFalse(reply["duplicate"])
        runs = {r["workflow"]: r["run_id"] for r in reply["runs"]}
        self.assertEqual(set(runs), {"welcome-user", "provision-account"})

        welcome = self.client.runs.wait(runs["welcome-user"], TIMEOUT)
        self.assertEqual(welcome.status, "succeeded", py.output())
        email = welcome.step("send-welcome-email")
        assert email is not None
        self.assertEqual(email.output, {"message_id": "msg_" + email.id, "sent_to": "ada@example.com"})
        self.assertEqual(welcome.step("add-to-crm").output,  # type: ignore[union-attr]
                         {"contact_id": "crm_u_1", "welcome_message_id": "msg_" + email.id})

        provision = self.client.runs.wait(runs["provision-account"], TIMEOUT)
        self.assertEqual(provision.status, "succeeded", py.output())
        self.assertEqual(provision.step("create-account").output, {"account_id": "acct_u_1", "plan": "trial"})  # type: ignore[union-attr]
        announced = self.client.event.get(provision.step("announce-account").output["event_id"])  # type: ignore[index,union-attr]
        self.assertEqual(announced.key, "account:provisioned")
        self.assertEqual(announced.payload, {"account_id": "acct_u_1", "plan": "trial"})
        self.assertEqual((announced.source, announced.parent_run_id, announced.parent_step),
                         ("run", provision.id, "announce-account"))

        # A payload without user_id or email fails at once, with attempts left.
        bad = push("user:created", {"user_id": "u_2"})
        for ref in bad["runs"]:
            run = self.client.runs.wait(ref["run_id"], TIMEOUT)
            self.assertEqual(run.status, "failed")
            first = run.steps[0] if run.steps[0].status == "failed" else run.steps[1]
            self.assertEqual(first.attempt, 1)
            self.assertIn("payload needs user_id and email", first.error)
        self.assertEqual(py.stop(), 0, py.output())
        self.assertIn("worker stopped", py.output())

    def test_push_errors(self) -> None:
        proc = subprocess.run(
            [sys.executable, "sdks/python/examples/push.py", "bad key!", "{}"],
            cwd=str(REPO_DIR), env=example_env(), capture_output=True, text=True, timeout=TIMEOUT,
        )
        self.assertEqual(proc.returncode, 1)
        self.assertIn("HTTP 400 invalid_argument", proc.stderr)
        self.assertEqual(proc.stdout, "")
        proc = subprocess.run(
            [sys.executable, "sdks/python/examples/push.py", "a:b", "{nope"],
            cwd=str(REPO_DIR), env=example_env(), capture_output=True, text=True, timeout=TIMEOUT,
        )
        self.assertEqual(proc.returncode, 2)
        self.assertIn("not valid JSON", proc.stderr)


if __name__ == "__main__":
    unittest.main()
