"""Test support: a real Herald engine (``herald serve`` built from this repository, or
HERALD_BIN) on a temporary data directory, a worker running in a thread, polling with a
deadline, and a fault-injecting proxy in front of the engine.

Nothing here imitates the engine: every request reaches a real one.
"""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

SDK_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = SDK_DIR.parents[1]
if str(SDK_DIR) not in sys.path:
    sys.path.insert(0, str(SDK_DIR))

import herald  # noqa: E402  (after the path is set)

#: How long a test waits for something the engine or a worker does.
TIMEOUT = 30.0

_bin_lock = threading.Lock()
_bin_path: Optional[str] = None
_bin_dir: Optional[str] = None


def herald_bin() -> str:
    """Returns the herald binary: HERALD_BIN, else one built once per process from
    this repository with ``go build``. Fails (never skips) when neither works."""
    global _bin_path, _bin_dir
    with _bin_lock:
        if _bin_path:
            return _bin_path
        env = os.environ.get("HERALD_BIN")
        if env:
            if not os.access(env, os.X_OK):
                raise RuntimeError("HERALD_BIN=%s is not an executable" % env)
            _bin_path = env
            return env
        go = shutil.which("go")
        if go is None:
            raise RuntimeError("the Python SDK tests need a herald binary: install Go or set HERALD_BIN")
        _bin_dir = tempfile.mkdtemp(prefix="herald-py-bin-")
        out = os.path.join(_bin_dir, "herald")
        proc = subprocess.run(
            [go, "build", "-o", out, "./cmd/herald"], cwd=str(REPO_DIR), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError("go build ./cmd/herald failed:\n" + proc.stdout + proc.stderr)
        _bin_path = out
        return out


def eventually(cond: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """Polls cond every 10 ms until it returns something true, and returns that; fails
    after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(0.01)


class Engine:
    """A ``herald serve`` process on a temporary SQLite data directory. Leases last
    2 s and the sweeper runs every 50 ms, so that lease-loss tests are quick."""

    def __init__(
        self, lease: str = "2s", sweep: str = "50ms", synchronous: str = "NORMAL", args: Tuple[str, ...] = ()
    ) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="herald-py-engine-")
        self.lease = lease
        self.sweep = sweep
        self.synchronous = synchronous
        self.args = args
        self.port = 0
        self.url = ""
        self.token = ""
        self.proc: Optional["subprocess.Popen[str]"] = None
        self._reader: threading.Thread = threading.Thread()
        self.log_path = os.path.join(self.data_dir, "engine.log")

    def start(self) -> "Engine":
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [
                herald_bin(),
                "serve",
                "--addr",
                "127.0.0.1:%d" % self.port,
                "--data-dir",
                self.data_dir,
                "--lease-duration",
                self.lease,
                "--sweep-interval",
                self.sweep,
                "--sqlite-synchronous",
                self.synchronous,
                "--log-level",
                "warn",
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
        )
        log.close()
        found: List[str] = []
        ready = threading.Event()
        proc = self.proc

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "herald is listening on " in line and not found:
                    found.append(line.split("herald is listening on ", 1)[1].split()[0])
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not ready.wait(TIMEOUT) or not found:
            self.stop()
            raise RuntimeError("herald serve did not start:\n" + self.log_tail())
        self.url = found[0]
        self.port = urllib.parse.urlsplit(self.url).port or 0
        with open(os.path.join(self.data_dir, "token")) as f:
            self.token = f.read().strip()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(TIMEOUT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def restart(self, sig: int = signal.SIGTERM) -> None:
        """Stops the engine and starts it again on the same port and data directory."""
        self.stop(sig)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def client(self, url: Optional[str] = None, **kw: Any) -> herald.Client:
        return herald.Client(url or self.url, self.token, **kw)


def quiet_logger(name: str) -> logging.Logger:
    """A logger for a test's worker: DEBUG lines go to the test log when
    HERALD_TEST_LOG is set, else only warnings reach stderr."""
    log = logging.getLogger("herald.test." + name)
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        log.addHandler(h)
        log.propagate = False
    log.setLevel(logging.DEBUG if os.environ.get("HERALD_TEST_LOG") else logging.ERROR)
    return log


class RunningWorker:
    """A Worker running in a background thread until stop()."""

    def __init__(self, worker: herald.Worker) -> None:
        self.worker = worker
        self.error: Optional[BaseException] = None
        #: The worker's stats when run() returned.
        self.stats_at_return: Dict[str, int] = {}
        self.thread = threading.Thread(target=self._run, name="test-worker", daemon=True)
        self.thread.start()
        if not worker.wait_registered(TIMEOUT):
            raise AssertionError("the worker did not register: %r" % self.error)

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as exc:  # reported by stop()
            self.error = exc
            self.worker._registered.set()
        finally:
            self.stats_at_return = self.worker.stats()

    def stop(self, force: bool = False) -> None:
        self.worker.stop(force=force)
        self.thread.join(TIMEOUT)
        if self.thread.is_alive():
            raise AssertionError("Worker.run did not return %gs after stop()" % TIMEOUT)
        if self.error is not None:
            raise AssertionError("Worker.run failed: %r" % self.error)


def new_worker(client: herald.Client, name: str, **kw: Any) -> herald.Worker:
    kw.setdefault("poll_wait", 5.0)
    kw.setdefault("handle_signals", False)
    kw.setdefault("logger", quiet_logger(name))
    return herald.Worker(client, name=name, **kw)


# A rule decides what the proxy does with a request: None forwards it to the engine; a
# (status, headers, body) tuple is answered instead.
Rule = Callable[[str, str], Optional[Tuple[int, Dict[str, str], bytes]]]


class FaultProxy:
    """An HTTP proxy in front of a real engine that answers some requests itself (a
    503 with Retry-After, say) as a rule decides, and forwards the rest. It counts
    the requests it saw by path."""

    def __init__(self, target: str, rule: Rule) -> None:
        self.target = urllib.parse.urlsplit(target)
        self.rule = rule
        self.seen: Dict[str, int] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = urllib.parse.urlsplit(self.path).path
                with proxy.lock:
                    proxy.seen[path] = proxy.seen.get(path, 0) + 1
                answer = proxy.rule(self.command, path)
                if answer is None:
                    conn = http.client.HTTPConnection(proxy.target.hostname or "127.0.0.1", proxy.target.port, timeout=120)
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    try:
                        conn.request(self.command, self.path, body=body, headers=headers)
                        resp = conn.getresponse()
                        status, data = resp.status, resp.read()
                        rh = {k: v for k, v in resp.getheaders() if k.lower() not in ("connection", "transfer-encoding", "content-length")}
                    except OSError as exc:
                        status, data, rh = 502, str(exc).encode(), {}
                    finally:
                        conn.close()
                else:
                    status, rh, data = answer
                try:
                    self.send_response(status)
                    for k, v in rh.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a heartbeat that timed out)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, suffix: str) -> int:
        with self.lock:
            return sum(n for p, n in self.seen.items() if p.endswith(suffix))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def error_reply(status: int, code: str, message: str, retry_after: Optional[str] = None) -> Tuple[int, Dict[str, str], bytes]:
    """An error reply shaped as the engine's (docs/api.md)."""
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return status, headers, json.dumps({"error": {"code": code, "message": message}}).encode()


class LogRecorder(logging.Handler):
    """Keeps the messages logged to a logger, so that a test can wait for one."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logging.DEBUG)
        self.messages: List[str] = []
        logger.addHandler(self)
        if logger.level > logging.INFO or logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def seen(self, text: str) -> bool:
        return any(text in m for m in list(self.messages))
