/**
 * The worker against a real engine: DAG runs with parents' outputs, retries,
 * NonRetryableError, chaining with lineage, cancellation and deadlines through the
 * step's AbortSignal, slots, invalid outputs, and the quickstart workflows.
 */
import assert from "node:assert/strict";
import { after, before, describe, test, type TestContext } from "node:test";

import { NonRetryableError, StepAbortedError, Worker, Workflow, type Client, type StepContext } from "../src/index.js";
import { provisionAccount, welcomeUser, type User } from "../examples/quickstart.js";
import { Deferred, Engine, eventually, Records, unique } from "./engine.js";

let engine: Engine;
let client: Client;
before(async () => {
  engine = await Engine.start({ leaseDuration: "3s" });
  client = engine.client();
});
after(async () => {
  await engine.close();
});

/** startWorker starts a worker for the workflows and stops it when the test ends. */
async function startWorker(t: TestContext, workflows: Workflow<any>[], opts: { slots?: number } = {}): Promise<{ worker: Worker; log: Records }> {
  const log = new Records();
  const worker = new Worker({ client, workflows, logger: log, handleSignals: false, pollWait: "5s", shutdownTimeout: "5s", ...opts });
  await worker.start();
  t.after(() => worker.stop());
  return { worker, log };
}

async function waitRun(id: string) {
  return client.waitRun(id, { timeout: 30_000 });
}

describe("worker", () => {
  test("a DAG run gives each step its parents' outputs, typed input and ids", async (t) => {
    const key = unique("dag");
    interface Order {
      order_id: string;
      amount: number;
    }
    const seen: Record<string, { attempt: number; runId: string; stepRunId: string; eventId: string | undefined; parents: string[]; input: Order }> = {};
    const record = (ctx: StepContext<Order>) => {
      seen[ctx.step] = { attempt: ctx.attempt, runId: ctx.runId, stepRunId: ctx.stepRunId, eventId: ctx.eventId, parents: Object.keys(ctx.parents).sort(), input: ctx.input };
    };
    const wf = new Workflow<Order>({ name: unique("dag"), triggers: [key] });
    const price = wf.step({
      name: "price",
      run: (ctx) => {
        record(ctx);
        return { total: ctx.input.amount * 2 };
      },
    });
    const tax = wf.step({
      name: "tax",
      parents: [price],
      run: (ctx) => {
        record(ctx);
        return { tax: ctx.parent(price).total / 10 };
      },
    });
    const label = wf.step({
      name: "label",
      parents: ["price"],
      run: async (ctx) => {
        record(ctx);
        return { label: `order ${ctx.input.order_id}` };
      },
    });
    wf.step({
      name: "invoice",
      parents: [tax, label],
      run: (ctx) => {
        record(ctx);
        return { line: `${ctx.parent(label).label}: ${ctx.parent(tax).tax}` };
      },
    });
    await startWorker(t, [wf]);

    const res = await client.push<Order>(key, { order_id: "o-1", amount: 21 });
    assert.equal(res.runs.length, 1);
    const run = await waitRun(res.runs[0]!.runId);
    assert.equal(run.status, "succeeded", run.error);
    const out = Object.fromEntries(run.steps.map((s) => [s.name, s.output]));
    assert.deepEqual(out, { price: { total: 42 }, tax: { tax: 4.2 }, label: { label: "order o-1" }, invoice: { line: "order o-1: 4.2" } });
    assert.deepEqual(seen.price!.parents, []);
    assert.deepEqual(seen.tax!.parents, ["price"]);
    assert.deepEqual(seen.invoice!.parents, ["label", "tax"]);
    for (const s of run.steps) {
      assert.equal(seen[s.name]!.stepRunId, s.id);
      assert.equal(seen[s.name]!.runId, run.id);
      assert.equal(seen[s.name]!.eventId, res.event.id);
      assert.equal(seen[s.name]!.attempt, 1);
      assert.deepEqual(seen[s.name]!.input, { order_id: "o-1", amount: 21 });
    }
  });

  test("ctx.parent refuses a step that is not a parent", async (t) => {
    const wf = new Workflow({ name: unique("notparent") });
    const a = wf.step({ name: "a", run: () => ({ a: 1 }) });
    wf.step({ name: "b", run: (ctx) => ctx.parent(a) });
    await startWorker(t, [wf]);
    const ref = await client.runWorkflow(wf.name, {});
    const run = await waitRun(ref.runId);
    assert.equal(run.status, "failed");
    assert.match(run.steps.find((s) => s.name === "b")!.error ?? "", /has no parent "a"/);
  });

  test("a failing step is retried with backoff and then succeeds", async (t) => {
    const attempts: number[] = [];
    const wf = new Workflow({ name: unique("retry") });
    wf.step({
      name: "flaky",
      retry: { maxAttempts: 4, initialBackoff: "50ms", maxBackoff: "100ms" },
      run: (ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
        return { ok: ctx.attempt };
      },
    });
    await startWorker(t, [wf]);
    const run = await client.runWorkflow(wf.name, { x: 1 }, { wait: true, timeout: 30_000 });
    assert.equal(run.status, "succeeded", run.error);
    assert.deepEqual(attempts, [1, 2, 3]);
    const step = run.steps[0]!;
    assert.equal(step.attempt, 3);
    assert.equal(step.maxAttempts, 4);
    assert.deepEqual(step.output, { ok: 3 });
  });

  test("NonRetryableError (also as a cause) fails the step and its run at once", async (t) => {
    const wf = new Workflow({ name: unique("nonretryable") });
    wf.step({
      name: "reject",
      retry: { maxAttempts: 5, initialBackoff: "50ms" },
      run: (ctx) => {
        if (ctx.input.wrapped) throw new Error("outer", { cause: new NonRetryableError("bad input, wrapped") });
        throw new NonRetryableError("bad input");
      },
    });
    const plain = new Workflow({ name: unique("exhausted") });
    plain.step({ name: "always-fails", retry: { maxAttempts: 2, initialBackoff: "50ms" }, run: () => Promise.reject(new TypeError("nope")) });
    await startWorker(t, [wf, plain]);

    for (const [input, message] of [[{}, "bad input"], [{ wrapped: true }, "outer"]] as const) {
      const run = await client.runWorkflow(wf.name, input, { wait: true, timeout: 30_000 });
      assert.equal(run.status, "failed");
      assert.equal(run.steps[0]!.attempt, 1, "no retry after a NonRetryableError");
      assert.equal(run.steps[0]!.error, message);
    }
    const run = await client.runWorkflow(plain.name, {}, { wait: true, timeout: 30_000 });
    assert.equal(run.status, "failed");
    assert.equal(run.steps[0]!.attempt, 2, "an ordinary error uses every attempt");
    assert.equal(run.steps[0]!.error, "TypeError: nope");
  });

  test("a step's push records its lineage and starts the next workflow (chaining)", async (t) => {
    const first = unique("chain.first");
    const second = unique("chain.second");
    const upstream = new Workflow({ name: unique("upstream"), triggers: [first] });
    upstream.step({
      name: "announce",
      run: async (ctx) => {
        const pushed = await ctx.push(second, { from: ctx.runId });
        // Trigger.dev's shape, from a step, with lineage too.
        const sent = await ctx.sendEvent({ name: `${second}.audit`, payload: { n: 1 } });
        return { pushed: pushed.event.id, sent: sent.event.id };
      },
    });
    const downstream = new Workflow<{ from: string }>({ name: unique("downstream"), triggers: [second] });
    downstream.step({ name: "receive", run: (ctx) => ({ got: ctx.input.from }) });
    await startWorker(t, [upstream, downstream]);

    const res = await client.push(first, {});
    const run = await waitRun(res.runs[0]!.runId);
    assert.equal(run.status, "succeeded", run.error);
    const step = run.steps[0]!;
    const out = step.output as { pushed: string; sent: string };
    for (const id of [out.pushed, out.sent]) {
      const ev = await client.getEvent(id);
      assert.equal(ev.source, "run");
      assert.equal(ev.parentRunId, run.id);
      assert.equal(ev.parentStepRunId, step.id);
      assert.equal(ev.parentStep, "announce");
    }
    const chained = await client.getEvent(out.pushed);
    assert.equal(chained.runs?.length, 1);
    const down = await waitRun(chained.runs![0]!.id);
    assert.equal(down.workflow, downstream.name);
    assert.deepEqual(down.steps[0]!.output, { got: run.id });
  });

  test("cancelling a run aborts the running step's signal and drops its result", async (t) => {
    const started = new Deferred<string>();
    const aborted = new Deferred<unknown>();
    const wf = new Workflow({ name: unique("cancel") });
    wf.step({
      name: "long",
      timeout: "60s",
      run: async (ctx) => {
        started.resolve(ctx.runId);
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        aborted.resolve(ctx.signal.reason);
        return { finished: true }; // dropped: the run was cancelled
      },
    });
    const { log } = await startWorker(t, [wf]);
    const ref = await client.runWorkflow(wf.name, {});
    assert.equal(await started.promise, ref.runId);
    await client.cancelRun(ref.runId);
    const reason = await aborted.promise;
    assert.ok(reason instanceof StepAbortedError);
    assert.equal(reason.reason, "cancelled");
    await eventually("the result dropped", () => log.has("herald: step-run cancelled by the engine, result dropped"));
    const run = await client.getRun(ref.runId);
    assert.equal(run.status, "cancelled");
    assert.equal(run.steps[0]!.status, "cancelled");
    assert.equal(run.steps[0]!.output, undefined);
  });

  test("the step's signal aborts at its deadline and the attempt fails", async (t) => {
    let reason: unknown;
    const wf = new Workflow({ name: unique("deadline") });
    wf.step({
      name: "slow",
      timeout: "1s",
      retry: { maxAttempts: 1 },
      run: async (ctx) => {
        assert.ok(ctx.deadline instanceof Date);
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        reason = ctx.signal.reason;
        throw ctx.signal.reason;
      },
    });
    await startWorker(t, [wf]);
    const run = await client.runWorkflow(wf.name, {}, { wait: true, timeout: 30_000 });
    assert.equal(run.status, "failed");
    assert.ok(reason instanceof StepAbortedError);
    assert.equal(reason.reason, "deadline");
  });

  test("the worker never runs more steps at once than its slots", async (t) => {
    const key = unique("slots");
    let running = 0;
    let peak = 0;
    const release = new Deferred();
    const wf = new Workflow({ name: unique("slots"), triggers: [key] });
    wf.step({
      name: "hold",
      run: async () => {
        running++;
        peak = Math.max(peak, running);
        await release.promise;
        running--;
        return {};
      },
    });
    const { worker } = await startWorker(t, [wf], { slots: 2 });
    const res = await client.pushBulk(Array.from({ length: 5 }, (_, i) => ({ key, payload: { i } })));
    await eventually("two steps running", () => worker.running === 2);
    // The engine has handed out two and keeps three queued while both slots are busy.
    const runs = await Promise.all(res.map((r) => client.getRun(r.runs[0]!.runId)));
    assert.equal(runs.filter((r) => r.steps[0]!.status === "running").length, 2);
    assert.equal(runs.filter((r) => r.steps[0]!.status === "queued").length, 3);
    release.resolve();
    for (const r of res) assert.equal((await waitRun(r.runs[0]!.runId)).status, "succeeded");
    assert.equal(peak, 2);
  });

  test("an output that is not a JSON object fails the step without retry", async (t) => {
    const wf = new Workflow({ name: unique("badoutput") });
    wf.step({ name: "array", retry: { maxAttempts: 3 }, run: () => [1, 2] as unknown as object });
    const ok = new Workflow({ name: unique("nooutput") });
    ok.step({ name: "nothing", run: () => undefined });
    await startWorker(t, [wf, ok]);
    const run = await client.runWorkflow(wf.name, {}, { wait: true, timeout: 30_000 });
    assert.equal(run.status, "failed");
    assert.equal(run.steps[0]!.attempt, 1);
    assert.match(run.steps[0]!.error ?? "", /step output must be a JSON object/);
    const refused = new Workflow({ name: unique("unstorable") });
    refused.step({ name: "nul", retry: { maxAttempts: 3 }, run: () => ({ text: "a\u0000b" }) });
    await startWorker(t, [refused]);
    const nul = await client.runWorkflow(refused.name, {}, { wait: true, timeout: 30_000 });
    assert.equal(nul.status, "failed", "an output the engine refuses fails the step at once, not at lease expiry");
    assert.equal(nul.steps[0]!.attempt, 1);
    assert.match(nul.steps[0]!.error ?? "", /the engine refused the step's output: .*/);
    const empty = await client.runWorkflow(ok.name, {}, { wait: true, timeout: 30_000 });
    assert.equal(empty.status, "succeeded");
    assert.deepEqual(empty.steps[0]!.output, {});
  });

  test("the quickstart workflows run, chain, and refuse a payload without user_id or email at once", async (t) => {
    // The quickstart's workflows listen to user:created; this engine serves them alone.
    await startWorker(t, [welcomeUser(), provisionAccount()]);
    const res = await client.push<User>("user:created", { user_id: "u_1", email: "ada@example.com", name: "Ada" });
    assert.deepEqual(res.runs.map((r) => r.workflow).sort(), ["provision-account", "welcome-user"]);
    const runs = await Promise.all(res.runs.map((r) => waitRun(r.runId)));
    const welcome = runs.find((r) => r.workflow === "welcome-user")!;
    const provision = runs.find((r) => r.workflow === "provision-account")!;
    assert.equal(welcome.status, "succeeded", welcome.error);
    assert.equal(provision.status, "succeeded", provision.error);
    assert.deepEqual(welcome.steps.map((s) => s.name), ["send-welcome-email", "add-to-crm"]);
    assert.deepEqual(provision.steps.map((s) => s.name), ["create-account", "announce-account"]);
    const email = welcome.steps[0]!;
    assert.deepEqual(email.output, { message_id: `msg_${email.id}`, sent_to: "ada@example.com" });
    assert.deepEqual(welcome.steps[1]!.output, { contact_id: "crm_u_1", welcome_message_id: `msg_${email.id}` });
    assert.deepEqual(provision.steps[0]!.output, { account_id: "acct_u_1", plan: "trial" });
    const announced = await client.getEvent((provision.steps[1]!.output as { event_id: string }).event_id);
    assert.equal(announced.key, "account:provisioned");
    assert.deepEqual(announced.payload, { account_id: "acct_u_1", plan: "trial" });
    assert.equal(announced.parentRunId, provision.id);
    assert.equal(announced.parentStep, "announce-account");

    const bad = await client.push("user:created", { user_id: "u_2" });
    for (const r of bad.runs) {
      const run = await waitRun(r.runId);
      assert.equal(run.status, "failed");
      assert.equal(run.steps[0]!.attempt, 1);
      assert.equal(run.steps[0]!.error, "payload needs user_id and email");
    }
  });

  test("a pattern trigger and a CEL trigger expression start runs; a false expression is recorded as skipped", async (t) => {
    // Distinct key prefixes per test run: the engine is shared by the file's tests.
    const ns = unique("orders");
    const seen: Array<{ workflow: string; eventId: string | undefined }> = [];
    const anyOrder = new Workflow({ name: unique("any-order"), triggers: [`${ns}:*`] });
    anyOrder.step({ name: "note", run: (ctx) => ({ order: ctx.input.order_id }) });
    interface Order {
      order_id: string;
      amount: number;
    }
    const bigOrder = new Workflow<Order>({ name: unique("big-order"), triggers: [{ key: `${ns}:placed`, expression: "input.amount > 100" }] });
    bigOrder.step({
      name: "review",
      run: (ctx) => {
        seen.push({ workflow: ctx.workflow, eventId: ctx.eventId });
        return { reviewed: ctx.input.order_id };
      },
    });
    await startWorker(t, [anyOrder, bigOrder]);

    // A key under the pattern, and an expression that holds: both start, both run.
    const big = await client.push<Order>(`${ns}:placed`, { order_id: "o-big", amount: 500 });
    assert.deepEqual(big.runs.map((r) => r.workflow).sort(), [anyOrder.name, bigOrder.name].sort());
    for (const r of big.runs) assert.equal((await waitRun(r.runId)).status, "succeeded");
    const bigInfo = await client.getEvent(big.event.id);
    assert.deepEqual(
      bigInfo.triggers.map((d) => [d.workflow, d.skipped, typeof d.runId]).sort(),
      [[anyOrder.name, undefined, "string"], [bigOrder.name, undefined, "string"]].sort(),
    );
    assert.deepEqual(seen, [{ workflow: bigOrder.name, eventId: big.event.id }]);

    // The pattern matches any key under it; the expression's key is not this one.
    const shipped = await client.push(`${ns}:shipped`, { order_id: "o-big" });
    assert.deepEqual(shipped.runs.map((r) => r.workflow), [anyOrder.name]);

    // The key matches but the expression is false: no run, and the event says why.
    const small = await client.push<Order>(`${ns}:placed`, { order_id: "o-small", amount: 5 });
    assert.deepEqual(small.runs.map((r) => r.workflow), [anyOrder.name]);
    const smallInfo = await client.getEvent(small.event.id);
    const skipped = smallInfo.triggers.find((d) => d.workflow === bigOrder.name);
    assert.deepEqual(skipped, { workflow: bigOrder.name, version: skipped?.version, skipped: "expression_false" });
    assert.equal(smallInfo.runs?.some((r) => r.workflow === bigOrder.name), false);
    assert.equal((smallInfo.triggers.find((d) => d.workflow === anyOrder.name)?.runId), small.runs[0]!.runId);
    for (const r of [...shipped.runs, ...small.runs]) assert.equal((await waitRun(r.runId)).status, "succeeded");
    assert.equal(seen.length, 1, "the skipped event started no review step");
  });

  test("register refuses a workflow registered twice or with a missing parent", () => {
    const wf = new Workflow({ name: "twice" });
    wf.step({ name: "a", run: () => ({}) });
    assert.throws(() => new Worker({ client, workflows: [wf, wf], handleSignals: false }), /registered twice/);
    const orphan = new Workflow({ name: "orphan" });
    orphan.step({ name: "b", parents: ["missing"], run: () => ({}) });
    assert.throws(() => new Worker({ client, workflows: [orphan], handleSignals: false }), /parent "missing" is not a step/);
    assert.throws(() => new Worker({ client, slots: 0 }), /slots 0 out of range/);
  });

  test("start fails with the engine's message when a definition is refused", async () => {
    const wf = new Workflow({ name: unique("badtrigger"), triggers: ["user:*:created"] });
    wf.step({ name: "a", run: () => ({}) });
    const worker = new Worker({ client, workflows: [wf], logger: new Records(), handleSignals: false });
    await assert.rejects(worker.start(), (err: any) => err.status === 400 && err.field === "triggers[0]");
  });
});
