/**
 * Graceful shutdown: SIGTERM stops polling and lets running steps finish (up to the
 * shutdown timeout), then the process exits on its own. Past the timeout, or at a
 * second signal, the steps' signals abort with reason "shutdown", their results are
 * dropped, and the engine runs them again once their leases expire.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Worker, Workflow } from "../src/index.js";
import { ChildWorker, Engine, Records, unique } from "./engine.js";

let engine: Engine;
before(async () => {
  // Long enough that a loaded machine still sees the dropped attempt's lease held after
  // the child exits (the first test reads it), short enough that it soon expires.
  engine = await Engine.start({ leaseDuration: "6s" });
});
after(async () => {
  await engine.close();
});

test("SIGTERM drains: the running step finishes and is reported, then the worker exits", async (t) => {
  const client = engine.client();
  const name = unique("drain");
  const key = unique("drain.key");
  const child = new ChildWorker(engine, name, key, { CHILD_SHUTDOWN_TIMEOUT: "60s" });
  t.after(() => child.signal("SIGKILL"));
  await child.next((e) => e.event === "ready", "ready");
  const res = await client.push(key, {});
  const started = await child.next((e) => e.event === "started", "the step to start");

  child.signal("SIGTERM");
  await child.logged(/SIGTERM received, draining/);
  await child.logged(/worker stopping, waiting for running steps/);
  child.release(started.stepRunId!);
  assert.equal(await child.exited, 0);
  assert.ok(child.events.some((e) => e.event === "stopped"));

  const run = await client.getRun(res.runs[0]!.runId);
  assert.equal(run.status, "succeeded");
  assert.equal(run.steps[0]!.attempt, 1);
  assert.equal((run.steps[0]!.output as { by: string }).by, "child");
});

test("past the shutdown timeout the step is aborted, its result dropped, and it runs again elsewhere", async (t) => {
  const client = engine.client();
  const name = unique("drain-timeout");
  const key = unique("drain-timeout.key");
  const child = new ChildWorker(engine, name, key, { CHILD_SHUTDOWN_TIMEOUT: "300ms" });
  t.after(() => child.signal("SIGKILL"));
  await child.next((e) => e.event === "ready", "ready");
  const res = await client.push(key, {});
  const started = await child.next((e) => e.event === "started", "the step to start");

  child.signal("SIGTERM");
  const aborted = await child.next((e) => e.event === "aborted", "the step's signal to abort");
  assert.equal(aborted.reason, "shutdown");
  assert.equal(await child.exited, 0);
  await child.logged(/step interrupted by worker shutdown, result dropped/);
  const held = await client.getRun(res.runs[0]!.runId);
  assert.equal(held.steps[0]!.status, "running", "the dropped attempt holds its lease until it expires");

  const wf = new Workflow({ name, triggers: [key] });
  wf.step({ name: "work", timeout: "5m", run: (ctx) => ({ by: "next", attempt: ctx.attempt }) });
  const next = new Worker({ client, workflows: [wf], logger: new Records(), handleSignals: false, pollWait: "5s" });
  await next.start();
  t.after(() => next.stop());
  const run = await client.waitRun(res.runs[0]!.runId, { timeout: 30_000 });
  assert.equal(run.status, "succeeded");
  assert.equal(run.steps[0]!.id, started.stepRunId);
  assert.deepEqual(run.steps[0]!.output, { by: "next", attempt: 1 }, "a lost lease does not consume a retry");
  assert.equal(run.steps[0]!.workerId, next.id);
});

test("a second SIGTERM aborts the running steps at once", async (t) => {
  const client = engine.client();
  const name = unique("drain-force");
  const key = unique("drain-force.key");
  const child = new ChildWorker(engine, name, key, { CHILD_SHUTDOWN_TIMEOUT: "10m" });
  t.after(() => child.signal("SIGKILL"));
  await child.next((e) => e.event === "ready", "ready");
  await client.push(key, {});
  await child.next((e) => e.event === "started", "the step to start");
  child.signal("SIGTERM");
  await child.logged(/worker stopping, waiting for running steps/);
  child.signal("SIGTERM");
  const aborted = await child.next((e) => e.event === "aborted", "the step's signal to abort");
  assert.equal(aborted.reason, "shutdown");
  assert.equal(await child.exited, 0);
});
