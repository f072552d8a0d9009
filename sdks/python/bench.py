"""Measures the Python SDK against a real engine: single pushes per second through
``client.event.push`` and completed steps per second through a ``herald.Worker``.

    python3 sdks/python/bench.py [--scenario all|push|complete] [--events N]
        [--concurrency N] [--slots N] [--sqlite-synchronous FULL|NORMAL] [--compare-go]

Each scenario starts ``herald serve`` (HERALD_BIN, or built from this repository with
``go build``) on a fresh SQLite store in a temporary directory, with the same one-step
workflow and event bodies as ``go run ./bench``:

- push: ``--events`` single pushes by ``--concurrency`` threads in a closed loop, sharing
  one Client (and its keep-alive connections), after a warm-up;
- complete: ``--events`` events bulk-pushed (1,000 per request, 4 requests at a time)
  while one Python worker with ``--slots`` slots runs the steps; the rate is completed
  steps (accepted by the engine) per second, from the first push to the last completion.

``--compare-go`` then runs ``go run ./bench`` with the same scenarios and figures, so
the two tables can be read side by side (the Go bench runs its engine in-process and
pushes with a raw HTTP client; its complete scenario uses the Go SDK's worker).

The generator, the worker and the engine share the machine's cores: figures are
only meaningful on a quiet machine. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

SDK_DIR = Path(__file__).resolve().parent
REPO_DIR = SDK_DIR.parents[1]
sys.path.insert(0, str(SDK_DIR))
sys.path.insert(0, str(SDK_DIR / "tests"))

import herald  # noqa: E402
from support import Engine  # noqa: E402

Row = Tuple[str, str, float, str, str]  # scenario, metric, value, unit, note


def log(msg: str) -> None:
    print("bench: " + msg, file=sys.stderr, flush=True)


def percentile(values: List[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def closed_loop(producers: int, n: int, send: Callable[[int], None]) -> Tuple[float, List[float]]:
    """Runs producers threads that call send(i) for i = 0 .. n-1 taken from a shared
    counter; returns the elapsed seconds and each call's latency."""
    lock = threading.Lock()
    counter = [0]
    lats: List[List[float]] = [[] for _ in range(producers)]
    errors: List[BaseException] = []

    def run(mine: List[float]) -> None:
        while True:
            with lock:
                i = counter[0]
                if i >= n or errors:
                    return
                counter[0] += 1
            t0 = time.perf_counter()
            try:
                send(i)
            except BaseException as exc:
                errors.append(exc)
                return
            mine.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=run, args=(lats[p],)) for p in range(producers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed, [x for m in lats for x in m]


def bench_workflow(client: herald.Client, key: str) -> None:
    client.workflows.put({"name": "bench", "triggers": [key], "steps": [{"name": "work"}]})


def run_push(args: argparse.Namespace) -> List[Row]:
    key = "bench.push"
    engine = Engine(lease="30s", sweep="1s", synchronous=args.sqlite_synchronous).start()
    try:
        client = engine.client()
        bench_workflow(client, key)
        send = lambda i: client.event.push(key, {"i": i})  # noqa: E731
        closed_loop(args.concurrency, 4 * args.concurrency, send)  # warm-up: open the connections
        log("push: %d events, %d threads" % (args.events, args.concurrency))
        elapsed, lats = closed_loop(args.concurrency, args.events, send)
        rate = args.events / elapsed
        log("push: done in %.2fs, %.0f ev/s" % (elapsed, rate))
        return [
            ("push", "single-event pushes/s (Python client)", rate, "ev/s",
             "%d events, %d threads, %.2fs" % (args.events, args.concurrency, elapsed)),
            ("push", "push reply p50 / p99", percentile(lats, 0.5) * 1000, "ms",
             "p99 %.2f ms" % (percentile(lats, 0.99) * 1000)),
        ]
    finally:
        engine.close()


def run_complete(args: argparse.Namespace) -> List[Row]:
    key = "bench.complete"
    engine = Engine(lease="30s", sweep="1s", synchronous=args.sqlite_synchronous).start()
    worker: Optional[herald.Worker] = None
    thread: Optional[threading.Thread] = None
    try:
        client = engine.client()
        quiet = logging.getLogger("herald.bench")
        quiet.setLevel(logging.WARNING)
        worker = herald.Worker(engine.client(), name="bench", slots=args.slots, logger=quiet, handle_signals=False)
        wf = worker.workflow(name="bench", on_events=[key])

        @wf.step(name="work")
        def work(ctx: herald.Context) -> None:
            return None

        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        if not worker.wait_registered(30):
            raise RuntimeError("the worker did not register")
        # Warm-up: one run completes, so that the worker is polling.
        client.workflows.run("bench", {}, wait=True, timeout=30)
        base = worker.stats()["completed"]
        size = 1000
        batches = [
            [{"key": key, "payload": {"i": i}} for i in range(first, min(first + size, args.events))]
            for first in range(0, args.events, size)
        ]
        total = sum(len(b) for b in batches)
        log("complete: %d events in %d bulk pushes, worker with %d slots" % (total, len(batches), args.slots))
        start = time.perf_counter()
        closed_loop(4, len(batches), lambda i: client.event.bulk_push(batches[i]))  # type: ignore[arg-type]
        pushed = time.perf_counter() - start
        deadline = time.monotonic() + max(60.0, total / 50)
        while worker.stats()["completed"] - base < total:
            if time.monotonic() > deadline:
                raise RuntimeError("only %d of %d steps completed" % (worker.stats()["completed"] - base, total))
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        rate = total / elapsed
        log("complete: done in %.2fs (pushed in %.2fs), %.0f steps/s" % (elapsed, pushed, rate))
        return [
            ("complete", "completed steps/s (Python worker)", rate, "steps/s",
             "%d one-step runs, %d slots, %.2fs" % (total, args.slots, elapsed)),
        ]
    finally:
        if worker is not None:
            worker.stop()
        if thread is not None:
            thread.join(30)
        engine.close()


def load_average() -> str:
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "?"


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--scenario", choices=("all", "push", "complete"), default="all")
    p.add_argument("--events", type=int, default=0, help="events per scenario (0: push 5000, complete 5000)")
    p.add_argument("--concurrency", type=int, default=64, help="pushing threads of the push scenario")
    p.add_argument("--slots", type=int, default=100, help="slots of the worker (complete scenario)")
    p.add_argument("--sqlite-synchronous", choices=("FULL", "NORMAL"), default="FULL")
    p.add_argument("--compare-go", action="store_true", help="then run go run ./bench with the same scenarios")
    args = p.parse_args(argv)
    if args.events < 0 or args.concurrency < 1 or not 1 <= args.slots <= 1000:
        p.error("--events must be >= 0, --concurrency >= 1, --slots 1-1000")
    if args.events == 0:
        args.events = 5000
    before = load_average()
    rows: List[Row] = []
    scenarios = ("push", "complete") if args.scenario == "all" else (args.scenario,)
    for name in scenarios:
        rows += run_push(args) if name == "push" else run_complete(args)
    print("Herald Python SDK benchmark — Python %s (%s), %d CPUs, SQLite synchronous=%s, %s, load average before %s, after %s\n"
          % (platform.python_version(), platform.python_implementation(), os.cpu_count() or 0,
             args.sqlite_synchronous, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), before, load_average()))
    print("| scenario | metric | value | unit | note |")
    print("|---|---|--:|---|---|")
    for scenario, metric, value, unit, note in rows:
        print("| %s | %s | %s | %s | %s |" % (scenario, metric, "{:,.2f}".format(value) if value < 100 else "{:,.0f}".format(value), unit, note))
    sys.stdout.flush()
    if args.compare_go:
        for name in scenarios:
            cmd = ["go", "run", "./bench", "--scenario", name, "--events", str(args.events),
                   "--sqlite-synchronous", args.sqlite_synchronous]
            cmd += ["--concurrency", str(args.concurrency)] if name == "push" else ["--slots", str(args.slots)]
            log("running " + " ".join(cmd))
            print()
            sys.stdout.flush()
            proc = subprocess.run(cmd, cwd=str(REPO_DIR))
            if proc.returncode != 0:
                return proc.returncode
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
