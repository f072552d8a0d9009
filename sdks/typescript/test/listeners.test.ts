/**
 * Long-lived abort signals do not gather listeners. A worker reports every result under
 * one signal of its own (aborted at shutdown), and a caller may pass one signal to many
 * calls; fetch leaves a listener on the signal it is given until the request is
 * garbage-collected, so each request gets a signal of its own, linked to the long-lived
 * one for that request only. Node then never warns of a possible leak
 * (MaxListenersExceededWarning), however many calls were made.
 *
 * Node warns once a signal holds more listeners than its limit, and fetch raises the
 * limit of a signal it is given to 1,500: the worker's leak showed only after thousands
 * of steps, and only if the garbage collector had not run. So the worker's test checks
 * the cause, which does not depend on the collector: fetch is never given one signal
 * twice.
 */
import assert from "node:assert/strict";
import { getEventListeners, setMaxListeners } from "node:events";
import { after, before, test } from "node:test";

import { Worker, Workflow, type Client } from "../src/index.js";
import { Deferred, Engine, eventually, Records, unique } from "./engine.js";

let engine: Engine;
let client: Client;
const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
/** Signals fetch was given, and how many times one was given again. */
const given = new WeakSet<AbortSignal>();
let reused = 0;
const watchedFetch: typeof fetch = (input, init) => {
  const s = init?.signal;
  if (s) {
    if (given.has(s)) reused++;
    given.add(s);
  }
  return fetch(input, init);
};

before(async () => {
  process.on("warning", onWarning);
  engine = await Engine.start();
  client = engine.client({ fetch: watchedFetch });
});
after(async () => {
  process.off("warning", onWarning);
  await engine.close();
});

/** leakWarnings are the MaxListenersExceededWarnings emitted so far. */
function leakWarnings(): string[] {
  return warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message);
}

/** A turn of the event loop, for warnings emitted on the next tick to arrive. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test("a worker reporting hundreds of results never gathers listeners on its signals", async (t) => {
  const n = 200;
  const key = unique("many");
  let ran = 0;
  const allRan = new Deferred();
  const wf = new Workflow({ name: unique("many"), triggers: [key] });
  wf.step({
    name: "count",
    run: (ctx) => {
      if (++ran === n) allRan.resolve();
      return { i: ctx.input.i };
    },
  });
  // 20 slots: reports in flight at once under the worker's one signal.
  const worker = new Worker({ client, workflows: [wf], logger: new Records(), handleSignals: false, slots: 20, pollWait: "5s" });
  await worker.start();
  t.after(() => worker.stop());

  const pushed = await client.pushBulk(Array.from({ length: n }, (_, i) => ({ key, payload: { i } })));
  assert.equal(pushed.length, n);
  await allRan.promise;
  // Every result reported: each report is a request under the worker's one signal.
  await eventually("every run to succeed", async () => {
    let done = 0;
    for await (const r of client.listRuns({ workflow: wf.name, status: "succeeded", limit: 500 })) if (r) done++;
    return done === n;
  });
  await settle();
  assert.deepEqual(leakWarnings(), []);
  assert.equal(reused, 0, "fetch was given the same signal for more than one request");
});

test("a caller's signal reused for many calls, one after another or at once, keeps no listener once each call is over", async () => {
  const shared = new AbortController();
  // A limit of our own (fetch raises only the default one): a leak warns within 6 calls.
  setMaxListeners(5, shared.signal);
  const res = await client.push(unique("shared"), {}, { signal: shared.signal });
  for (let i = 0; i < 20; i++) {
    await client.getEvent(res.event.id, { signal: shared.signal });
    assert.equal(getEventListeners(shared.signal, "abort").length, 0, `listeners left on the caller's signal after call ${i + 1}`);
  }

  // Many calls in flight at once under one signal (at Node's limit of 10 listeners) are
  // no leak, and warn no more than fetch given the signal itself would.
  const wide = new AbortController();
  await Promise.all(Array.from({ length: 30 }, () => client.getEvent(res.event.id, { signal: wide.signal })));
  assert.equal(getEventListeners(wide.signal, "abort").length, 0);
  await settle();
  assert.deepEqual(leakWarnings(), []);
});
