"""A worker process for the SIGTERM test: one workflow (named by the first argument)
whose step works for 1.5 s. Run with HERALD_URL and HERALD_TOKEN set."""

import logging
import sys

import herald

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]

worker = herald.Worker(name="slow-worker", slots=2, poll_wait=5)


@worker.workflow(name=sys.argv[1])
class Slow:
    @worker.step(timeout="1m")
    def work(self, ctx: herald.Context) -> dict:
        ctx.logger.info("work started")
        cancelled = ctx.cancelled.wait(1.5)  # the work: 1.5 s, unless cancelled
        return {"slept": True, "cancelled": cancelled}


worker.run()
