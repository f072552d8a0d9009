/**
 * Lease loss: a worker that stalls (its process frozen with SIGSTOP) stops heartbeating;
 * its lease expires, the engine hands the step to another worker, and when the stalled
 * worker wakes up its heartbeat learns the step-run is no longer its own: the step's
 * AbortSignal fires with reason "cancelled" and its result is dropped.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Worker, Workflow } from "../src/index.js";
import { ChildWorker, Engine, eventually, Records, unique } from "./engine.js";

let engine: Engine;
before(async () => {
  engine = await Engine.start({ leaseDuration: "2s", sweepInterval: "50ms" });
});
after(async () => {
  await engine.close();
});

test("a stalled worker loses its lease: the step runs elsewhere and the stalled one is aborted", async (t) => {
  const client = engine.client();
  const name = unique("lease");
  const key = unique("lease.key");
  // One slot: while its step runs, the stalled worker has no long-poll open that the
  // engine could hand the step to again.
  const stalled = new ChildWorker(engine, name, key, { CHILD_SLOTS: "1" });
  t.after(async () => {
    stalled.signal("SIGCONT");
    stalled.signal("SIGKILL");
    await stalled.exited;
  });
  await stalled.next((e) => e.event === "ready", "ready");

  const res = await client.push(key, {});
  const runId = res.runs[0]!.runId;
  const first = await stalled.next((e) => e.event === "started", "the step to start");
  assert.equal(first.attempt, 1);
  stalled.signal("SIGSTOP"); // no more heartbeats

  // A second worker for the same workflow; the step can reach it only once the lease expired.
  const wf = new Workflow({ name, triggers: [key] });
  wf.step({ name: "work", timeout: "5m", run: (ctx) => ({ by: "rescuer", attempt: ctx.attempt }) });
  const rescuer = new Worker({ client, workflows: [wf], logger: new Records(), handleSignals: false, pollWait: "5s" });
  await rescuer.start();
  t.after(() => rescuer.stop());

  const run = await client.waitRun(runId, { timeout: 30_000 });
  assert.equal(run.status, "succeeded");
  const step = run.steps[0]!;
  assert.equal(step.id, first.stepRunId);
  // A lost lease queues the step again without consuming a retry (docs/architecture.md).
  assert.equal(step.attempt, 1);
  assert.equal(step.workerId, rescuer.id);
  assert.deepEqual(step.output, { by: "rescuer", attempt: 1 });

  stalled.signal("SIGCONT");
  const aborted = await stalled.next((e) => e.event === "aborted", "the stalled step's signal to abort");
  assert.equal(aborted.stepRunId, first.stepRunId);
  assert.equal(aborted.reason, "cancelled");
  await stalled.logged(/step-run cancelled by the engine, result dropped/);
  const after = await client.getRun(runId);
  assert.deepEqual(after.steps[0]!.output, { by: "rescuer", attempt: 1 }, "the stalled worker's result was dropped");
  assert.equal(after.steps[0]!.workerId, rescuer.id);
  await eventually("nothing else to run", () => rescuer.running === 0);
});
