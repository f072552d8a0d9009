/**
 * The engine restarting under a running worker: the worker keeps polling through the
 * outage (reconnecting with backoff), a step that was running when the engine died
 * completes on its first attempt once the engine is back, and new events are served.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Worker, Workflow } from "../src/index.js";
import { Deferred, Engine, eventually, Records, unique } from "./engine.js";

let engine: Engine;
before(async () => {
  // Leases long enough to outlive the restart, so that the running step keeps its lease.
  engine = await Engine.start({ leaseDuration: "15s" });
});
after(async () => {
  await engine.close();
});

test("the worker survives an engine restart: the running step completes and new work is served", async (t) => {
  const client = engine.client();
  const key = unique("restart");
  const started = new Deferred<string>();
  const release = new Deferred();
  const wf = new Workflow<{ n: number }>({ name: unique("restart"), triggers: [key] });
  wf.step({
    name: "work",
    run: async (ctx) => {
      if (ctx.input.n === 1) {
        started.resolve(ctx.stepRunId);
        await release.promise;
      }
      return { n: ctx.input.n, attempt: ctx.attempt };
    },
  });
  const log = new Records();
  const worker = new Worker({ client, workflows: [wf], logger: log, handleSignals: false, pollWait: "2s" });
  await worker.start();
  t.after(() => worker.stop());
  const workerId = worker.id;

  const one = await client.push(key, { n: 1 });
  await started.promise;
  await engine.kill(); // a crash, with the step running
  await eventually("the worker to notice the outage", () => log.has("herald: poll failed"));
  await engine.restart();
  release.resolve(); // the step finishes after the restart; its completion reaches the new process

  const run1 = await client.waitRun(one.runs[0]!.runId, { timeout: 60_000 });
  assert.equal(run1.status, "succeeded", run1.error);
  assert.deepEqual(run1.steps[0]!.output, { n: 1, attempt: 1 });
  assert.equal(run1.steps[0]!.attempt, 1, "the step kept its lease through the restart");

  const two = await client.push(key, { n: 2 });
  const run2 = await client.waitRun(two.runs[0]!.runId, { timeout: 60_000 });
  assert.equal(run2.status, "succeeded");
  assert.equal(run2.steps[0]!.workerId, workerId, "the same worker, polling again");
  assert.equal(worker.id, workerId);
});
