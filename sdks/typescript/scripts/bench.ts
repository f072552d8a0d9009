/**
 * `npm run bench`: pushes/s and completed steps/s of the TypeScript client and worker,
 * next to the Go SDK's measured the same way (bench/sdkload), each scenario on a fresh
 * `herald serve` built from this repository (SQLite, synchronous=FULL, the server's
 * default) on this machine.
 *
 *   - push: `concurrency` producers call client.push in a closed loop (after a warm-up
 *     of 4 × concurrency pushes); one workflow matches the key.
 *   - complete: a worker with `slots` slots runs a one-step workflow whose step does
 *     nothing; once it is polling, `events` events are pushed in bulk (1,000 per
 *     request, 4 requests at once) and the completions the engine accepted are counted
 *     until the last.
 *
 * Flags: --events N (default 5000), --concurrency C (64), --slots S (100), --no-go (skip
 * the Go SDK), --repeat R (1; the median is reported). Numbers are only meaningful on a
 * quiet machine.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { consoleLogger, Worker, Workflow } from "../src/index.js";
import { Engine, packageDir, repoDir } from "../test/engine.js";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "64" },
    slots: { type: "string", default: "100" },
    repeat: { type: "string", default: "1" },
    "no-go": { type: "boolean", default: false },
  },
});
const events = Number(values.events);
const concurrency = Number(values.concurrency);
const slots = Number(values.slots);
const repeat = Number(values.repeat);

interface Figures {
  perSecond: number;
  p50?: number;
  p99?: number;
}

function oneStep(key: string): Workflow {
  const wf = new Workflow({ name: "sdk-bench", triggers: [key] });
  wf.step({ name: "work", run: () => undefined });
  return wf;
}

/** closedLoop runs send n times on `producers` concurrent loops and returns each call's latency (ms). */
async function closedLoop(producers: number, n: number, send: (i: number) => Promise<unknown>): Promise<number[]> {
  const lats = new Array<number>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: producers }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const t = performance.now();
        await send(i);
        lats[i] = performance.now() - t;
      }
    }),
  );
  return lats;
}

async function tsPush(engine: Engine): Promise<Figures> {
  const client = engine.client();
  const key = "sdk.bench.push";
  await client.putWorkflow(oneStep(key));
  const send = (i: number) => client.push(key, { i });
  await closedLoop(concurrency, 4 * concurrency, send);
  const start = performance.now();
  const lats = await closedLoop(concurrency, events, send);
  const secs = (performance.now() - start) / 1000;
  lats.sort((a, b) => a - b);
  const pct = (q: number) => lats[Math.min(lats.length - 1, Math.floor(q * lats.length))]!;
  return { perSecond: events / secs, p50: pct(0.5), p99: pct(0.99) };
}

async function tsComplete(engine: Engine): Promise<Figures> {
  const key = "sdk.bench.complete";
  let accepted = 0;
  let last = 0;
  let waiter: (() => void) | undefined;
  let want = 1;
  // Count the completions the engine accepted, at the worker's fetch.
  const counting: typeof fetch = async (input, init) => {
    const resp = await fetch(input, init);
    if (resp.status === 200 && String(input).endsWith("/complete")) {
      accepted++;
      last = performance.now();
      if (accepted >= want) waiter?.();
    }
    return resp;
  };
  const reached = (n: number) =>
    new Promise<void>((resolve, reject) => {
      want = n;
      if (accepted >= n) return resolve();
      const t = setTimeout(() => reject(new Error(`only ${accepted - 1} of ${n - 1} steps completed in time`)), Math.max(60_000, n));
      waiter = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const client = engine.client();
  const worker = new Worker({
    client: engine.client({ fetch: counting }),
    workflows: [oneStep(key)],
    slots,
    handleSignals: false,
    logger: consoleLogger({ level: "warn" }),
  });
  await worker.start();
  try {
    await client.push(key, {});
    await reached(1);
    const start = performance.now();
    const batches = Math.ceil(events / 1000);
    await closedLoop(4, batches, (b) => client.pushBulk(Array.from({ length: Math.min(1000, events - b * 1000) }, (_, i) => ({ key, payload: { i: b * 1000 + i } }))));
    await reached(events + 1);
    return { perSecond: events / ((last - start) / 1000) };
  } finally {
    await worker.stop();
  }
}

let sdkload: string | undefined;
function goSdkload(): string {
  if (sdkload) return sdkload;
  const out = join(packageDir, "node_modules", ".cache", "herald", "sdkload");
  mkdirSync(join(packageDir, "node_modules", ".cache", "herald"), { recursive: true });
  const r = spawnSync("go", ["build", "-o", out, "./bench/sdkload"], { cwd: repoDir, stdio: "inherit" });
  if (r.status !== 0) throw new Error("go build ./bench/sdkload failed");
  sdkload = out;
  return out;
}

function goRun(engine: Engine, scenario: "push" | "complete"): Figures {
  const r = spawnSync(
    goSdkload(),
    ["-url", engine.url, "-token", engine.token, "-scenario", scenario, "-events", String(events), "-concurrency", String(concurrency), "-slots", String(slots)],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`sdkload ${scenario}: ${r.stderr}`);
  const res = JSON.parse(r.stdout) as { per_second: number; p50_ms?: number; p99_ms?: number };
  return { perSecond: res.per_second, p50: res.p50_ms, p99: res.p99_ms };
}

async function onFreshEngine<T>(fn: (e: Engine) => Promise<T> | T): Promise<T> {
  const engine = await Engine.start({ synchronous: "FULL", leaseDuration: "30s", sweepInterval: "1s" });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

function median(fs: Figures[]): Figures {
  const mid = <K extends keyof Figures>(k: K) => {
    const v = fs.map((f) => f[k]).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)] : undefined;
  };
  return { perSecond: mid("perSecond")!, p50: mid("p50"), p99: mid("p99") };
}

const rows: Array<[string, Figures, Figures | undefined]> = [];
for (const scenario of ["push", "complete"] as const) {
  const ts: Figures[] = [];
  const go: Figures[] = [];
  for (let i = 0; i < repeat; i++) {
    ts.push(await onFreshEngine((e) => (scenario === "push" ? tsPush(e) : tsComplete(e))));
    if (!values["no-go"]) go.push(await onFreshEngine((e) => goRun(e, scenario)));
  }
  rows.push([scenario, median(ts), go.length ? median(go) : undefined]);
}

const fmt = (n: number | undefined, d = 0) => (n === undefined ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }));
console.log(`Herald SDKs on this machine (node ${process.versions.node}); ${events} events, ${concurrency} producers, ${slots} worker slots, median of ${repeat}`);
console.log("");
console.log("| figure | TypeScript SDK | Go SDK |");
console.log("|---|--:|--:|");
for (const [scenario, ts, go] of rows) {
  if (scenario === "push") {
    console.log(`| single-event pushes/s | ${fmt(ts.perSecond)} | ${fmt(go?.perSecond)} |`);
    console.log(`| push reply p50 / p99 (ms) | ${fmt(ts.p50, 2)} / ${fmt(ts.p99, 2)} | ${fmt(go?.p50, 2)} / ${fmt(go?.p99, 2)} |`);
  } else {
    console.log(`| completed steps/s (one-step runs) | ${fmt(ts.perSecond)} | ${fmt(go?.perSecond)} |`);
  }
}
