/**
 * A real Herald engine for the tests: `herald serve` built from this repository (or
 * HERALD_BIN), on a temporary data directory and a loopback port, with short leases and
 * sweeps so that lease tests are quick. No part of the engine is mocked.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { Client, consoleLogger, type ClientOptions, type Logger } from "../src/index.js";

/** The package's directory (dist/test/engine.js → ../..). */
export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The repository's root, where `go build ./cmd/herald` runs. */
export const repoDir = resolve(packageDir, "..", "..");

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/**
 * heraldBin returns the engine binary: HERALD_BIN, or one built now from this
 * repository (go build ./cmd/herald) into node_modules/.cache. It throws when neither
 * works: the tests fail rather than skip.
 */
export function heraldBin(): string {
  const env = process.env.HERALD_BIN;
  if (env) {
    if (!existsSync(env)) throw new Error(`HERALD_BIN=${env} does not exist`);
    return env;
  }
  const out = join(packageDir, "node_modules", ".cache", "herald", "herald");
  mkdirSync(dirname(out), { recursive: true });
  const r = spawnSync("go", ["build", "-o", out, "./cmd/herald"], { cwd: repoDir, stdio: ["ignore", "inherit", "inherit"] });
  if (r.error || r.status !== 0) {
    throw new Error(`building the engine (go build ./cmd/herald in ${repoDir}) failed: ${r.error?.message ?? `exit ${r.status}`}; install Go or set HERALD_BIN`);
  }
  process.env.HERALD_BIN = out;
  return out;
}

/** Options of an engine under test. */
export interface EngineOptions {
  /** --lease-duration. Default: 3s. */
  leaseDuration?: string;
  /** --sweep-interval. Default: 50ms. */
  sweepInterval?: string;
  /** --sqlite-synchronous. Default: NORMAL (tests); the bench uses the server's default, FULL. */
  synchronous?: "FULL" | "NORMAL";
  /** --log-level. Default: warn. */
  logLevel?: string;
  /** More flags. */
  args?: string[];
}

/** Engine is a running `herald serve`. */
export class Engine {
  url = "";
  token = "";
  readonly dataDir: string;
  #addr = "127.0.0.1:0";
  #proc: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  #stderr = "";
  readonly #opts: EngineOptions;

  private constructor(opts: EngineOptions) {
    this.#opts = opts;
    this.dataDir = mkdtempSync(join(tmpdir(), "herald-ts-test-"));
  }

  /** start starts an engine on a fresh data directory. */
  static async start(opts: EngineOptions = {}): Promise<Engine> {
    const e = new Engine(opts);
    await e.#spawn();
    e.token = readFileSync(join(e.dataDir, "token"), "utf8").trim();
    return e;
  }

  async #spawn(): Promise<void> {
    const bin = heraldBin();
    const args = [
      "serve",
      "--data-dir",
      this.dataDir,
      "--addr",
      this.#addr,
      "--lease-duration",
      this.#opts.leaseDuration ?? "3s",
      "--sweep-interval",
      this.#opts.sweepInterval ?? "50ms",
      "--sqlite-synchronous",
      this.#opts.synchronous ?? "NORMAL",
      "--log-level",
      this.#opts.logLevel ?? "warn",
      ...(this.#opts.args ?? []),
    ];
    // The engine reads HERALD_* variables as flags: give it none of ours.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("HERALD_") && v !== undefined) env[k] = v;
    const proc = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    children.add(proc);
    this.#proc = proc;
    this.#stderr = "";
    proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.#stderr = (this.#stderr + d).slice(-20_000);
    });
    this.#exited = new Promise((resolve) => {
      proc.on("exit", (code) => {
        children.delete(proc);
        resolve(code);
      });
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`herald serve did not start within 60s; stderr:\n${this.#stderr}`)), 60_000);
      proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const m = /herald is listening on (\S+) /.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      proc.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`herald serve exited with ${code} before listening; stderr:\n${this.#stderr}`));
      });
    });
    this.url = url;
    this.#addr = new URL(url).host; // a restart listens on the same port
  }

  /** client returns a client of this engine (with the admin token of its default tenant). */
  client(opts: ClientOptions = {}): Client {
    return new Client({ url: this.url, token: this.token, env: {}, ...opts });
  }

  /** stop stops the engine with SIGTERM (a clean shutdown) and waits for it. */
  async stop(): Promise<void> {
    this.#proc?.kill("SIGTERM");
    await this.#exited;
  }

  /** kill stops the engine with SIGKILL (a crash) and waits for it. */
  async kill(): Promise<void> {
    this.#proc?.kill("SIGKILL");
    await this.#exited;
  }

  /** restart starts the engine again on the same data directory and port. */
  async restart(): Promise<void> {
    await this.#spawn();
  }

  /** close stops the engine and removes its data directory. */
  async close(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** stderr is the tail of the engine's log. */
  get stderr(): string {
    return this.#stderr;
  }
}

/**
 * eventually polls cond until it returns a truthy value (which it returns) or the
 * deadline passes (then it throws, naming what was awaited and the last value seen).
 */
export async function eventually<T>(what: string, cond: () => Promise<T> | T, timeoutMs = 30_000): Promise<Exclude<T, false | null | undefined | 0 | "">> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let interval = 10;
  for (;;) {
    try {
      last = await cond();
      if (last) return last as Exclude<T, false | null | undefined | 0 | "">;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last: ${last instanceof Error ? last.stack : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, interval));
    interval = Math.min(interval * 2, 100);
  }
}

/** Records is a Logger that keeps every record, for assertions (and prints warnings and errors when HERALD_TEST_LOG is set). */
export class Records implements Logger {
  readonly lines: Array<{ level: string; message: string; attrs: Record<string, unknown> }> = [];
  readonly #echo: Logger | undefined = process.env.HERALD_TEST_LOG ? consoleLogger({ level: "debug" }) : undefined;
  debug(message: string, attrs: Record<string, unknown> = {}): void {
    this.lines.push({ level: "debug", message, attrs });
    this.#echo?.debug(message, attrs);
  }
  info(message: string, attrs: Record<string, unknown> = {}): void {
    this.lines.push({ level: "info", message, attrs });
    this.#echo?.info(message, attrs);
  }
  warn(message: string, attrs: Record<string, unknown> = {}): void {
    this.lines.push({ level: "warn", message, attrs });
    this.#echo?.warn(message, attrs);
  }
  error(message: string, attrs: Record<string, unknown> = {}): void {
    this.lines.push({ level: "error", message, attrs });
    this.#echo?.error(message, attrs);
  }
  has(message: string | RegExp): boolean {
    return this.lines.some((l) => (typeof message === "string" ? l.message === message : message.test(l.message)));
  }
}

/** unique returns a name no other test uses. */
let counter = 0;
export function unique(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}`;
}

/** Deferred is a promise with its resolve function, for a step to wait on the test. */
export class Deferred<T = void> {
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  readonly promise: Promise<T>;
  constructor() {
    this.promise = new Promise<T>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
}

/** A line the child worker (fixtures/child-worker.ts) printed. */
export interface ChildEvent {
  event: "ready" | "started" | "aborted" | "returned" | "stopped";
  workerId?: string;
  stepRunId?: string;
  attempt?: number;
  reason?: string;
}

/** ChildWorker is a worker process (fixtures/child-worker.ts) the test can signal, freeze and release. */
export class ChildWorker {
  readonly events: ChildEvent[] = [];
  stderr = "";
  readonly exited: Promise<number | null>;
  readonly #proc: ChildProcess;
  #waiters: Array<() => void> = [];

  constructor(engine: Engine, workflow: string, key: string, env: Record<string, string> = {}) {
    const script = join(packageDir, "dist", "test", "fixtures", "child-worker.js");
    this.#proc = spawn(process.execPath, [script], {
      env: { ...process.env, HERALD_URL: engine.url, HERALD_TOKEN: engine.token, CHILD_WORKFLOW: workflow, CHILD_KEY: key, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    children.add(this.#proc);
    let buf = "";
    this.#proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) this.events.push(JSON.parse(line) as ChildEvent);
      }
      this.#wake();
    });
    this.#proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      this.#wake();
    });
    this.exited = new Promise((resolve) => {
      this.#proc.on("exit", (code) => {
        children.delete(this.#proc);
        this.#wake();
        resolve(code);
      });
    });
  }

  #wake(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w();
  }

  /** next waits (up to timeoutMs) for an event matching pred and returns it. */
  async next(pred: (e: ChildEvent) => boolean, what: string, timeoutMs = 30_000): Promise<ChildEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      if (this.#proc.exitCode !== null || this.#proc.signalCode !== null) throw new Error(`child worker exited while waiting for ${what}; stderr:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} from the child worker; stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** logged waits until the child's log has a line matching re. */
  async logged(re: RegExp, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.stderr)) {
      if (this.#proc.exitCode !== null) throw new Error(`child worker exited before logging ${re}; stderr:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re} in the child's log:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  release(stepRunId: string): void {
    this.#proc.stdin!.write(`release ${stepRunId}\n`);
  }

  signal(sig: NodeJS.Signals): void {
    this.#proc.kill(sig);
  }
}
