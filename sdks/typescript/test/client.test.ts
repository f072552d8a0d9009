/**
 * The client against a real engine: push, bulk, delay and cancel, idempotency,
 * Trigger.dev's sendEvent shapes, reads and listings, configuration, the error
 * mapping, and the retries of 429 and 503.
 */
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readFileSync } from "node:fs";

import {
  Client,
  formatGoDuration,
  HeraldError,
  parseGoDuration,
  parseRetryAfter,
  sendEvent,
  toMilliseconds,
  VERSION,
  Workflow,
} from "../src/index.js";
import { Engine, eventually, packageDir, unique } from "./engine.js";

let engine: Engine;
let client: Client;
before(async () => {
  engine = await Engine.start();
  client = engine.client();
});
after(async () => {
  await engine.close();
});

/** workflowFor stores a one-step workflow triggered by key (no worker: its runs stay queued). */
async function workflowFor(key: string, name = unique("wf")): Promise<string> {
  const wf = new Workflow({ name, triggers: [key] });
  wf.step({ name: "s", run: () => ({}) });
  await client.putWorkflow(wf);
  return name;
}

interface UserCreated {
  userId: string;
  email: string;
}

describe("push", () => {
  test("push stores the event and returns the runs it started, typed", async () => {
    const key = unique("user.created");
    const wf = await workflowFor(key);
    const res = await client.push<UserCreated>(key, { userId: "u1", email: "a@b.c" }, { metadata: { source: "signup", tier: 3 }, scope: "acme" });
    assert.equal(res.duplicate, false);
    assert.equal(res.event.key, key);
    assert.equal(res.event.payload.userId, "u1"); // typed
    assert.deepEqual(res.event.metadata, { source: "signup", tier: 3 });
    assert.equal(res.event.scope, "acme");
    assert.equal(res.event.status, "delivered");
    assert.equal(res.event.source, "api");
    assert.ok(res.event.createdAt instanceof Date && !Number.isNaN(res.event.createdAt.getTime()));
    assert.equal(res.runs.length, 1);
    assert.equal(res.runs[0]!.workflow, wf);
    assert.deepEqual(res.event.triggers, [{ workflow: wf, version: 1, runId: res.runs[0]!.runId }]);

    const ev = await client.getEvent<UserCreated>(res.event.id);
    assert.equal(ev.payload.email, "a@b.c");
    assert.equal(ev.runs?.length, 1);
    assert.equal(ev.runs![0]!.id, res.runs[0]!.runId);
    assert.equal(ev.runs![0]!.status, "queued");
    const run = await client.getRun<UserCreated>(res.runs[0]!.runId);
    assert.equal(run.eventId, res.event.id);
    assert.deepEqual(run.input, { userId: "u1", email: "a@b.c" });
    assert.equal(run.steps[0]!.name, "s");
  });

  test("getEvent shows a disabled workflow as skipped", async () => {
    const key = unique("skip");
    const on = await workflowFor(key);
    const off = await workflowFor(key);
    await client.disableWorkflow(off);
    const res = await client.push(key, {});
    const ev = await client.getEvent(res.event.id);
    const byName = Object.fromEntries(ev.triggers.map((t) => [t.workflow, t]));
    assert.equal(byName[off]!.skipped, "disabled");
    assert.equal(byName[off]!.runId, undefined);
    assert.equal(byName[on]!.runId, res.runs[0]!.runId);
    assert.equal(ev.runs?.length, 1);
    await client.enableWorkflow(off);
    assert.equal((await client.push(key, {})).runs.length, 2);
  });

  test("pushBulk stores up to 1,000 events, all or nothing", async () => {
    const key = unique("bulk");
    await workflowFor(key);
    const res = await client.pushBulk(Array.from({ length: 1000 }, (_, i) => ({ key, payload: { i } })));
    assert.equal(res.length, 1000);
    assert.deepEqual(res.map((r) => (r.event.payload as { i: number }).i), Array.from({ length: 1000 }, (_, i) => i));
    assert.ok(res.every((r) => r.runs.length === 1 && !r.duplicate));

    const bad = unique("bulkbad");
    await assert.rejects(
      client.pushBulk([{ key: bad, payload: {} }, { key: "no spaces allowed", payload: {} }]),
      (err: unknown) => err instanceof HeraldError && err.status === 400 && err.code === "invalid_argument" && err.field === "events[1].key",
    );
    assert.equal((await client.listEvents({ key: bad }).toArray()).length, 0, "nothing stored");
    await assert.rejects(client.pushBulk([]), (err: unknown) => err instanceof HeraldError && err.field === "events");
    await assert.rejects(client.pushBulk(Array.from({ length: 1001 }, () => ({ key }))), (err: unknown) => err instanceof HeraldError && err.field === "events");
    await assert.rejects(
      client.pushBulk([{ key }, { key, delay: 5, deliverAt: new Date() }]),
      (err: unknown) => err instanceof HeraldError && err.status === 0 && err.field === "events[1].delay",
    );
  });

  test("a delayed event is scheduled, and cancelled before its delivery", async () => {
    const key = unique("reminder");
    await workflowFor(key);
    const before = Date.now();
    const res = await client.push(key, { n: 1 }, { delay: { hours: 24 } });
    assert.equal(res.event.status, "scheduled");
    assert.deepEqual(res.runs, []);
    const due = res.event.deliverAt!.getTime() - before;
    assert.ok(due > 24 * 3600_000 - 60_000 && due < 24 * 3600_000 + 60_000, `deliverAt ${res.event.deliverAt?.toISOString()}`);

    const cancelled = await client.cancelEvent(res.event.id);
    assert.equal(cancelled.status, "cancelled");
    await assert.rejects(client.cancelEvent(res.event.id), (err: unknown) => err instanceof HeraldError && err.status === 409 && err.code === "conflict");
    const listed = await client.listEvents({ key, status: "cancelled" }).toArray();
    assert.deepEqual(listed.map((e) => e.id), [res.event.id]);
  });

  test("a delayed event is delivered when due, with the same id, and starts its runs", async () => {
    const key = unique("soon");
    const wf = await workflowFor(key);
    const res = await client.push(key, {}, { deliverAt: new Date(Date.now() + 500) });
    assert.equal(res.event.status, "scheduled");
    const ev = await eventually("delivery", async () => {
      const e = await client.getEvent(res.event.id);
      return e.status === "delivered" && e;
    });
    assert.equal(ev.runs?.length, 1);
    assert.equal(ev.runs![0]!.workflow, wf);
    const viaDelay = await client.push(key, {}, { delay: "300ms" });
    assert.equal(viaDelay.event.status, "scheduled");
    await eventually("delivery of the delay", async () => (await client.getEvent(viaDelay.event.id)).status === "delivered");
  });

  test("a repeated idempotency key returns the original event and runs", async () => {
    const key = unique("paid");
    await workflowFor(key);
    const idem = unique("order-42-paid");
    const first = await client.push(key, { amount: 1 }, { idempotencyKey: idem });
    const again = await client.push(key, { amount: 2 }, { idempotencyKey: idem });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.event.id, first.event.id);
    assert.deepEqual(again.event.payload, { amount: 1 });
    assert.deepEqual(again.runs, first.runs);
    assert.equal((await client.listEvents({ key }).toArray()).length, 1);
    const bulk = await client.pushBulk([{ key, idempotencyKey: idem }, { key, idempotencyKey: unique("other") }]);
    assert.deepEqual(bulk.map((r) => r.duplicate), [true, false]);
    assert.equal(bulk[0]!.event.id, first.event.id);
  });

  test("sendEvent takes Trigger.dev's two shapes", async () => {
    const name = unique("user.created");
    await workflowFor(name);
    const a = await client.sendEvent<UserCreated>(name, { userId: "123456", email: "user@example.com" });
    assert.equal(a.event.key, name);
    assert.equal(a.runs.length, 1);
    const b = await client.sendEvent({ name, payload: { userId: "123" }, delay: { hours: 24 } });
    assert.equal(b.event.status, "scheduled");
    assert.ok(Math.abs(b.event.deliverAt!.getTime() - Date.now() - 24 * 3600_000) < 60_000);
    const c = await client.sendEvent({ name, payload: {} }, { deliverAfter: 60 });
    assert.equal(c.event.status, "scheduled");
    const id = unique("evt");
    const d1 = await client.sendEvent({ name, payload: { n: 1 }, id });
    const d2 = await client.sendEvent({ name, payload: { n: 2 }, id });
    assert.equal(d2.duplicate, true);
    assert.equal(d2.event.id, d1.event.id);

    // The plain function, configured from the environment.
    const saved = { url: process.env.HERALD_URL, token: process.env.HERALD_TOKEN };
    process.env.HERALD_URL = engine.url;
    process.env.HERALD_TOKEN = engine.token;
    try {
      const e = await sendEvent(name, { via: "function" });
      assert.deepEqual((await client.getEvent(e.event.id)).payload, { via: "function" });
    } finally {
      restoreEnv("HERALD_URL", saved.url);
      restoreEnv("HERALD_TOKEN", saved.token);
    }
  });
});

describe("listings", () => {
  test("listEvents and listRuns iterate over every cursor page, newest first", async () => {
    const prefix = unique("page");
    const wf = await workflowFor(`${prefix}:*`);
    const pushed: string[] = [];
    for (let i = 0; i < 5; i++) pushed.push((await client.push(`${prefix}:${i}`, { i }, { metadata: { batch: prefix } })).event.id);

    const pages = [];
    for await (const page of client.listEvents({ keyPrefix: `${prefix}:`, limit: 2 }).pages()) pages.push(page);
    assert.deepEqual(pages.map((p) => p.items.length), [2, 2, 1]);
    assert.equal(pages[2]!.nextCursor, undefined);
    const ids = [];
    for await (const ev of client.listEvents({ metadata: { batch: prefix }, limit: 2 })) ids.push(ev.id);
    assert.deepEqual(ids, [...pushed].reverse());
    assert.deepEqual((await client.listEvents({ keyPrefix: `${prefix}:`, limit: 2 }).toArray(3)).length, 3);
    // Resume from a cursor.
    const rest = await client.listEvents({ keyPrefix: `${prefix}:`, limit: 2, cursor: pages[0]!.nextCursor! }).toArray();
    assert.deepEqual(rest.map((e) => e.id), [...pushed].reverse().slice(2));

    const runs = await client.listRuns({ workflow: wf, limit: 2 }).toArray();
    assert.equal(runs.length, 5);
    assert.ok(runs.every((r) => r.workflow === wf && r.status === "queued" && r.eventId));
    assert.equal((await client.listRuns({ workflow: wf, key: `${prefix}:3` }).toArray()).length, 1);
  });
});

describe("configuration", () => {
  test("the token comes from the options, HERALD_TOKEN, or <HERALD_DATA_DIR>/token", async () => {
    const dir = mkdtempSync(join(tmpdir(), "herald-ts-cfg-"));
    writeFileSync(join(dir, "token"), `${engine.token}\n`);
    const key = unique("cfg");
    const viaFile = new Client({ env: { HERALD_URL: engine.url, HERALD_DATA_DIR: dir } });
    assert.equal(viaFile.url, engine.url);
    assert.equal((await viaFile.push(key, {})).event.key, key);
    const viaEnv = new Client({ env: { HERALD_URL: `${engine.url}/`, HERALD_TOKEN: engine.token, HERALD_DATA_DIR: "/nonexistent" } });
    assert.equal(viaEnv.url, engine.url);
    assert.equal((await viaEnv.push(key, {})).event.key, key);

    // ./.herald/token in the working directory, as a local engine writes it.
    const cwd = mkdtempSync(join(tmpdir(), "herald-ts-cwd-"));
    mkdirSync(join(cwd, ".herald"));
    writeFileSync(join(cwd, ".herald", "token"), engine.token);
    const prev = process.cwd();
    process.chdir(cwd);
    try {
      const local = new Client({ env: { HERALD_URL: engine.url } });
      assert.equal((await local.push(key, {})).event.key, key);
    } finally {
      process.chdir(prev);
    }

    assert.throws(
      () => new Client({ env: { HERALD_DATA_DIR: join(dir, "missing") } }),
      (err: unknown) => err instanceof HeraldError && err.code === "invalid_config" && /set HERALD_TOKEN/.test(err.message),
    );
    assert.throws(() => new Client({ url: "ftp://x", token: "t" }), (err: unknown) => err instanceof HeraldError && err.code === "invalid_config");
    assert.equal(new Client({ token: "t", env: {} }).url, "http://127.0.0.1:7420");
  });

  test("VERSION matches package.json", () => {
    const pkg = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { version: string };
    assert.equal(VERSION, pkg.version);
  });

  test("durations are written as the Go SDK writes them", () => {
    assert.equal(formatGoDuration(30_000), "30s");
    assert.equal(formatGoDuration(90_000), "1m30s");
    assert.equal(formatGoDuration(60_000), "1m");
    assert.equal(formatGoDuration(86_400_000), "24h");
    assert.equal(formatGoDuration(5_400_000), "1h30m");
    assert.equal(formatGoDuration(3_661_000), "1h1m1s");
    assert.equal(formatGoDuration(1_500), "1.5s");
    assert.equal(formatGoDuration(250), "250ms");
    assert.equal(formatGoDuration(0.5), "500µs");
    assert.equal(formatGoDuration(0), "0s");
    assert.equal(parseGoDuration("1h30m"), 5_400_000);
    assert.equal(parseGoDuration("1.5s"), 1_500);
    assert.equal(parseGoDuration("300ms"), 300);
    assert.equal(toMilliseconds({ hours: 24 }), 86_400_000);
    assert.equal(toMilliseconds({ minutes: 1, seconds: 30 }), 90_000);
    assert.throws(() => parseGoDuration("10"), /invalid duration/);
    assert.throws(() => toMilliseconds({ weeks: 1 } as never), /unknown unit "weeks"/);
  });

  test("Retry-After is read as seconds or an HTTP date", () => {
    assert.equal(parseRetryAfter("2"), 2);
    assert.equal(parseRetryAfter("0.5"), 0.5);
    assert.equal(parseRetryAfter("0"), undefined);
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(parseRetryAfter(null), undefined);
    const now = Date.parse("2026-01-01T00:00:00Z");
    assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:03 GMT", now), 3);
  });
});

describe("errors", () => {
  test("engine errors are HeraldErrors with status, code and field", async () => {
    const isErr = (status: number, code: string, field?: string) => (err: unknown) => {
      assert.ok(err instanceof HeraldError, String(err));
      assert.equal(err.status, status);
      assert.equal(err.code, code);
      assert.equal(err.field, field);
      return true;
    };
    await assert.rejects(client.push("bad key", {}), isErr(400, "invalid_argument", "key"));
    await assert.rejects(client.push("k", {}, { metadata: { nested: {} as never } }), isErr(400, "invalid_argument", "additional_metadata.nested"));
    await assert.rejects(client.push("k", {}, { delay: "9000h" }), isErr(400, "invalid_argument", "delay"));
    await assert.rejects(new Client({ url: engine.url, token: "hrld_wrong", env: {} }).push("k", {}), isErr(401, "unauthenticated"));
    await assert.rejects(client.getRun("01900000-0000-7000-8000-000000000000"), isErr(404, "not_found"));
    await assert.rejects(client.getEvent("01900000-0000-7000-8000-000000000000"), isErr(404, "not_found"));
    await assert.rejects(client.push("big", { blob: "x".repeat(1_100_000) }), isErr(413, "payload_too_large"));

    // A payload schema: a payload that does not conform is refused with 422 and the failing field.
    const key = unique("order.paid");
    const put = await fetch(`${engine.url}/api/v1/event-schemas/${key}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${engine.token}`, "content-type": "application/json" },
      body: JSON.stringify({ schema: { type: "object", properties: { amount: { type: "number" } }, required: ["amount"] } }),
    });
    assert.equal(put.status, 201);
    await assert.rejects(client.push(key, { amount: "12" }), isErr(422, "schema_violation", "payload/amount"));

    // Refused before sending: the engine could not tell these apart.
    await assert.rejects(client.push("k", [1, 2] as never), isErr(0, "invalid_argument", "payload"));
    await assert.rejects(client.push("k", {}, { delay: 1000, deliverAt: new Date() }), isErr(0, "invalid_argument", "delay"));
    await assert.rejects(client.runWorkflow("x", "s" as never), isErr(0, "invalid_argument", "input"));

    // No engine at all.
    const closed = await freePort();
    await assert.rejects(new Client({ url: `http://127.0.0.1:${closed}`, token: "t", env: {} }).push("k", {}), (err: unknown) => {
      assert.ok(err instanceof HeraldError);
      assert.equal(err.status, 0);
      assert.equal(err.code, "unreachable");
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });

    // A caller's AbortSignal aborts the request with its own reason.
    const ac = new AbortController();
    ac.abort(new Error("caller gave up"));
    await assert.rejects(client.getRun("x", { signal: ac.signal }), /caller gave up/);
  });

  test("429 and 503 are retried after Retry-After, up to maxRetries, and the event is stored once", async () => {
    const key = unique("retry");
    // The engine cannot be made to answer 429 on demand, so a proxy in front of it
    // answers the first requests itself and forwards the rest to the real engine.
    const proxy = await FaultProxy.start(engine.url, [
      { status: 429, retryAfter: "1", code: "overloaded" },
      { status: 503, retryAfter: "1", code: "unavailable" },
    ]);
    try {
      const c = new Client({ url: proxy.url, token: engine.token, env: {} });
      const res = await c.push(key, { once: true });
      assert.equal(proxy.times.length, 3);
      for (let i = 1; i < proxy.times.length; i++) {
        assert.ok(proxy.times[i]! - proxy.times[i - 1]! >= 950, `retry ${i} came ${proxy.times[i]! - proxy.times[i - 1]!}ms after the refusal that asked for 1s`);
      }
      const stored = await client.listEvents({ key }).toArray();
      assert.deepEqual(stored.map((e) => e.id), [res.event.id]);
    } finally {
      await proxy.close();
    }

    const always = await FaultProxy.start(engine.url, Array.from({ length: 10 }, () => ({ status: 503, retryAfter: "0.05", code: "unavailable" })));
    try {
      const c = new Client({ url: always.url, token: engine.token, env: {}, maxRetries: 2 });
      await assert.rejects(c.push(key, {}), (err: unknown) => {
        assert.ok(err instanceof HeraldError);
        assert.equal(err.status, 503);
        assert.equal(err.code, "unavailable");
        assert.equal(err.retryAfter, 0.05);
        assert.ok(err.temporary);
        return true;
      });
      assert.equal(always.times.length, 3, "one request and two retries");
      const none = new Client({ url: always.url, token: engine.token, env: {}, maxRetries: 0 });
      await assert.rejects(none.push(key, {}), (err: unknown) => err instanceof HeraldError && err.status === 503);
      assert.equal(always.times.length, 4);
    } finally {
      await always.close();
    }
  });
});

function restoreEnv(name: string, v: string | undefined): void {
  if (v === undefined) delete process.env[name];
  else process.env[name] = v;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * FaultProxy forwards requests to the engine, except that it answers the first ones
 * with the given refusals (status, Retry-After and the engine's error body). It records
 * when each request arrived.
 */
class FaultProxy {
  readonly times: number[] = [];
  url = "";
  #server: Server | undefined;

  static async start(target: string, faults: Array<{ status: number; retryAfter?: string; code: string }>): Promise<FaultProxy> {
    const p = new FaultProxy();
    const t = new URL(target);
    p.#server = createServer((req, res) => {
      p.times.push(Date.now());
      const fault = faults.shift();
      if (fault) {
        req.resume();
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (fault.retryAfter) headers["retry-after"] = fault.retryAfter;
        res.writeHead(fault.status, headers);
        res.end(JSON.stringify({ error: { code: fault.code, message: "injected by the test proxy" } }));
        return;
      }
      const up = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on("error", () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => p.#server!.listen(0, "127.0.0.1", r));
    p.url = `http://127.0.0.1:${(p.#server.address() as AddressInfo).port}`;
    return p;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((r) => this.#server?.close(r));
  }
}
