/**
 * The worker: stores its workflows' definitions in the engine, registers itself,
 * long-polls for ready steps, runs up to `slots` of them at once, heartbeats their
 * leases and reports each result with its lease (docs/worker-protocol.md). It mirrors
 * the Go SDK's worker (worker.go): the same heartbeat interval and retry, lease
 * handling, backoff and shutdown drain.
 */
import { hostname } from "node:os";

import { backoff, call, Client, sleep } from "./client.js";
import { StepContext, type Assignment } from "./context.js";
import { formatGoDuration, parseGoDuration, toMilliseconds, type Duration } from "./duration.js";
import { HeraldError, isNonRetryable, StepAbortedError } from "./errors.js";
import { consoleLogger, withAttrs, type Logger } from "./logger.js";
import type { JsonObject } from "./types.js";
import type { StepSpec, Workflow } from "./workflow.js";

/** Options of a Worker. Every field has a default. */
export interface WorkerOptions {
  /** The client to talk to the engine through. Default: new Client() (HERALD_URL, HERALD_TOKEN or ./.herald/token). */
  client?: Client;
  /** Identifies the worker in the engine's records. Default: "<hostname>-<pid>". */
  name?: string;
  /** How many steps run at once, 1–1000; the worker never claims more. Default: 10. */
  slots?: number;
  /** How long one long-poll waits for work before it is sent again, up to 60s. Default: 20s. */
  pollWait?: Duration;
  /**
   * How long stop() (or SIGTERM) lets running steps finish before aborting their
   * signals. Negative: abort at once. Default: 20s.
   */
  shutdownTimeout?: Duration;
  /** Receives the worker's logs. Default: consoleLogger() (info and above, to stderr). */
  logger?: Logger;
  /** Stop (drain) on SIGTERM and SIGINT while running; a second signal aborts the running steps at once. Default: true. */
  handleSignals?: boolean;
  /** Workflows to run; more may be added with register() before start(). */
  workflows?: Workflow<any>[];
}

const defaultSlots = 10;
const maxSlots = 1000;
const defaultPollWait = 20_000;
const maxPollWait = 60_000;
const maxPollBatch = 100;
const defaultShutdownTimeout = 20_000;
/** How long stop waits for steps to return once their signals are aborted. */
const abandonTimeout = 5_000;
/** Used when the engine's register reply has no heartbeat interval. */
const defaultHeartbeat = 10_000;
/** Bounds the reporting of one result, retries included. */
const reportTimeout = 30_000;
/** Bounds the error text reported for a failed step (the engine keeps 8 KiB). */
const maxErrorMessage = 8 << 10;

/** A step-run the worker holds a lease on. */
interface Held {
  workerId: string;
  leaseId: string;
  /** When the attempt's timeout ends (ms since the epoch), if known. */
  deadline: number | undefined;
  controller: AbortController;
}

/**
 * Worker runs the steps of its workflows.
 *
 * ```ts
 * const worker = new Worker({ workflows: [welcomeUser], slots: 20 });
 * await worker.run(); // until SIGTERM / SIGINT, then drains
 * ```
 */
export class Worker {
  readonly #client: Client;
  readonly #name: string;
  readonly #slots: number;
  readonly #pollWait: number;
  readonly #shutdownTimeout: number;
  readonly #log: Logger;
  readonly #handleSignals: boolean;
  readonly #workflows: Workflow<any>[] = [];
  readonly #steps = new Map<string, Map<string, StepSpec>>();

  #started = false;
  #stopping = false;
  #id: string | undefined;
  #heartbeatInterval = defaultHeartbeat;
  readonly #held = new Map<string, Held>();
  readonly #inflight = new Set<Promise<void>>();
  #busy = 0;
  #slotFreed: (() => void) | undefined;
  #pollAbort = new AbortController();
  readonly #heartbeatAbort = new AbortController();
  readonly #reportAbort = new AbortController();
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #pollLoop: Promise<void> | undefined;
  #stopPromise: Promise<void> | undefined;
  #fatal: unknown;
  #force: (() => void) | undefined;
  #signalHandler: ((sig: NodeJS.Signals) => void) | undefined;
  #finished!: Promise<void>;
  #resolveFinished!: () => void;

  constructor(options: WorkerOptions = {}) {
    this.#client = options.client ?? new Client();
    this.#name = options.name || `${hostname() || "worker"}-${process.pid}`;
    const slots = options.slots ?? defaultSlots;
    if (!Number.isInteger(slots) || slots < 1 || slots > maxSlots) throw new TypeError(`Worker: slots ${slots} out of range (1–${maxSlots})`);
    this.#slots = slots;
    const pw = options.pollWait === undefined ? defaultPollWait : toMilliseconds(options.pollWait, "Worker: pollWait");
    if (!(pw > 0 && pw <= maxPollWait)) throw new TypeError(`Worker: pollWait ${pw}ms out of range (0–60s)`);
    this.#pollWait = pw;
    this.#shutdownTimeout = options.shutdownTimeout === undefined ? defaultShutdownTimeout : toMilliseconds(options.shutdownTimeout, "Worker: shutdownTimeout");
    this.#log = options.logger ?? consoleLogger();
    this.#handleSignals = options.handleSignals ?? true;
    this.#finished = new Promise((resolve) => {
      this.#resolveFinished = resolve;
    });
    if (options.workflows) this.register(...options.workflows);
  }

  /** register adds workflows to run; it must be called before start(). It throws on a workflow registered twice or invalid. */
  register(...workflows: Workflow<any>[]): this {
    if (this.#started) throw new Error("Worker: register called after start");
    const added = new Set<string>();
    for (const wf of workflows) {
      wf.validate();
      if (this.#steps.has(wf.name) || added.has(wf.name)) throw new TypeError(`Worker: workflow ${JSON.stringify(wf.name)} registered twice`);
      added.add(wf.name);
    }
    for (const wf of workflows) {
      this.#workflows.push(wf);
      this.#steps.set(wf.name, new Map(wf.steps.map((s) => [s.name, s])));
    }
    return this;
  }

  /** The id the engine gave this worker, once started. */
  get id(): string | undefined {
    return this.#id;
  }

  /** How many steps are running now. */
  get running(): number {
    return this.#busy;
  }

  /**
   * start stores the workflows' definitions (a changed one becomes a new version),
   * registers the worker and starts polling; it resolves once polling has begun. It
   * rejects when a definition or the registration is refused, or the engine cannot be
   * reached. A Worker starts once.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error("Worker: already started");
    this.#started = true;
    if (this.#workflows.length === 0) throw new Error("Worker: no workflows: register some before start");
    try {
      await this.#putWorkflows();
      await this.#register();
    } catch (err) {
      this.#stopping = true;
      this.#resolveFinished();
      throw err;
    }
    if (this.#stopping) {
      // stop() was called while starting.
      this.#resolveFinished();
      return;
    }
    if (this.#handleSignals) this.#installSignals();
    this.#scheduleHeartbeat(this.#heartbeatInterval);
    this.#pollLoop = this.#poll();
  }

  /**
   * run starts the worker (unless start() did) and resolves when it has stopped (stop(), or SIGTERM / SIGINT
   * with handleSignals). It rejects when start fails or the engine refuses the token.
   */
  async run(): Promise<void> {
    if (!this.#started) await this.start();
    await this.#finished;
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  /**
   * stop stops polling, lets running steps finish for up to shutdownTimeout, then aborts
   * their signals (their results are dropped; the engine runs them again when their
   * leases expire) and waits up to 5s more for them to return. It resolves when the
   * worker has stopped.
   */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#drain();
    return this.#stopPromise;
  }

  // -------------------------------------------------------------------------

  async #putWorkflows(): Promise<void> {
    for (const wf of this.#workflows) {
      const res = await this.#client.putWorkflow(wf);
      this.#log.info("herald: workflow stored", { workflow: wf.name, version: res.workflow.version, new_version: res.createdVersion });
    }
  }

  async #register(): Promise<void> {
    const res = await this.#client[call]<{ id?: string; lease_duration?: string; heartbeat_interval?: string }>({
      method: "POST",
      path: "/workers",
      body: { name: this.#name, workflows: this.#workflows.map((w) => w.name), slots: this.#slots },
    });
    if (!res?.id) throw new HeraldError({ status: 0, code: "malformed_reply", message: `registering worker ${this.#name}: reply has no id` });
    let hb = res.heartbeat_interval ? safeDuration(res.heartbeat_interval) : 0;
    if (!(hb > 0)) {
      hb = defaultHeartbeat;
      const ld = res.lease_duration ? safeDuration(res.lease_duration) : 0;
      if (ld > 0 && ld / 3 < hb) hb = Math.max(Math.round(ld / 3), 100);
    }
    this.#id = res.id;
    this.#heartbeatInterval = Math.max(Math.round(hb), 1);
    this.#log.info("herald: worker registered", {
      worker_id: res.id,
      name: this.#name,
      workflows: this.#workflows.map((w) => w.name).join(","),
      slots: this.#slots,
      heartbeat_interval: `${hb}ms`,
    });
  }

  /** #poll claims and starts steps until the worker stops. */
  async #poll(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      while (this.#busy >= this.#slots && !this.#stopping) {
        await new Promise<void>((resolve) => {
          this.#slotFreed = resolve;
        });
      }
      if (this.#stopping) break;
      const n = Math.min(this.#slots - this.#busy, maxPollBatch);
      let assignments: Assignment[];
      try {
        assignments = await this.#claim(n);
      } catch (err) {
        if (this.#stopping) break;
        if (err instanceof HeraldError && (err.status === 401 || err.status === 403)) {
          this.#log.error("herald: poll refused, stopping the worker", { err: err.message });
          this.#fatal = err;
          void this.stop();
          break;
        }
        if (err instanceof HeraldError && err.status === 404) {
          this.#log.warn("herald: the engine no longer knows this worker, registering again", { worker_id: this.#id });
          try {
            await this.#putWorkflows();
            await this.#register();
            failures = 0;
            continue;
          } catch (rerr) {
            this.#log.warn("herald: registering again failed", { err: errorText(rerr) });
          }
        }
        let wait = backoff(failures, 200, 10_000);
        if (err instanceof HeraldError && err.retryAfter !== undefined) wait = Math.min(err.retryAfter * 1000, 60_000);
        failures++;
        this.#log.warn("herald: poll failed", { err: errorText(err), retry_in: `${Math.round(wait)}ms` });
        try {
          await sleep(wait, this.#pollAbort.signal);
        } catch {
          break; // stopping
        }
        continue;
      }
      failures = 0;
      for (const a of assignments) this.#start(a);
    }
  }

  async #claim(max: number): Promise<Assignment[]> {
    const workerId = this.#id!;
    const signal = AbortSignal.any([this.#pollAbort.signal, AbortSignal.timeout(Math.round(this.#pollWait) + 30_000)]);
    const res = await this.#client[call]<{ assignments?: Record<string, unknown>[] }>({
      method: "POST",
      path: `/workers/${encodeURIComponent(workerId)}/poll`,
      body: { max, wait: formatGoDuration(this.#pollWait) },
      signal,
      retries: 0,
    });
    return (res?.assignments ?? []).map((w) => decodeAssignment(w, workerId));
  }

  #start(a: Assignment): void {
    this.#busy++;
    const p = this.#execute(a)
      .catch((err: unknown) => this.#log.error("herald: executing a step failed unexpectedly", { err: errorText(err), step_run_id: a.stepRunId }))
      .finally(() => {
        this.#busy--;
        this.#inflight.delete(p);
        const wake = this.#slotFreed;
        this.#slotFreed = undefined;
        wake?.();
      });
    this.#inflight.add(p);
  }

  async #execute(a: Assignment): Promise<void> {
    const log = withAttrs(this.#log, { workflow: a.workflow, step: a.step, run_id: a.runId, step_run_id: a.stepRunId, attempt: a.attempt });
    const step = this.#steps.get(a.workflow)?.get(a.step);
    if (!step) {
      log.error("herald: assigned a step this worker does not have");
      await this.#fail(a, log, `worker ${JSON.stringify(this.#name)} has no step ${JSON.stringify(a.step)} in workflow ${JSON.stringify(a.workflow)}`, true);
      return;
    }
    const controller = new AbortController();
    let timeoutMs: number | undefined;
    if (a.deadline) timeoutMs = a.deadline.getTime() - Date.now();
    else if (step.timeout !== undefined) timeoutMs = toMilliseconds(step.timeout);
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(new StepAbortedError("deadline")), Math.max(0, timeoutMs));
    // The same step-run handed out again means the earlier lease on it is lost.
    this.#held.get(a.stepRunId)?.controller.abort(new StepAbortedError("cancelled"));
    this.#held.set(a.stepRunId, { workerId: a.workerId, leaseId: a.leaseId, deadline: a.deadline?.getTime(), controller });

    const ctx = new StepContext<JsonObject>(a, this.#client, log, controller.signal);
    log.debug("herald: step started");
    const started = Date.now();
    let output: unknown;
    let error: unknown;
    let threw = false;
    try {
      output = await step.run(ctx);
    } catch (err) {
      threw = true;
      error = err;
    } finally {
      clearTimeout(timer);
      const h = this.#held.get(a.stepRunId);
      if (h && h.leaseId === a.leaseId) this.#held.delete(a.stepRunId);
    }
    const elapsed = `${Date.now() - started}ms`;
    const reason = controller.signal.aborted ? (controller.signal.reason as StepAbortedError).reason : undefined;
    if (reason === "cancelled") {
      log.info("herald: step-run cancelled by the engine, result dropped", { duration: elapsed });
      return;
    }
    if (reason === "shutdown" && threw) {
      log.warn("herald: step interrupted by worker shutdown, result dropped; the engine will retry it when its lease expires", { duration: elapsed });
      return;
    }
    if (threw) {
      const retryable = !isNonRetryable(error);
      log.warn("herald: step failed", { err: errorText(error), retryable, max_attempts: a.maxAttempts, duration: elapsed });
      if (error instanceof Error && error.stack && !(error.name === "NonRetryableError")) log.debug("herald: step error stack", { stack: error.stack });
      await this.#fail(a, log, errorText(error), retryable);
      return;
    }
    let encoded: string;
    try {
      encoded = encodeOutput(output);
    } catch (err) {
      log.error("herald: step returned an invalid output", { err: errorText(err) });
      await this.#fail(a, log, errorText(err), false);
      return;
    }
    log.debug("herald: step succeeded", { duration: elapsed });
    const refused = await this.#report(a, log, "complete", `{"lease_id":${JSON.stringify(a.leaseId)},"output":${encoded}}`);
    if (refused && (refused.status === 400 || refused.status === 413)) {
      // An output the engine cannot store (too large, or text PostgreSQL refuses); the
      // lease is still ours. Running the step again would give the same output: fail it.
      await this.#fail(a, log, `the engine refused the step's output: ${refused.message}`, false);
    }
  }

  async #fail(a: Assignment, log: Logger, message: string, retryable: boolean): Promise<void> {
    let msg = message || "step failed";
    if (Buffer.byteLength(msg) > maxErrorMessage) msg = `${Buffer.from(msg).subarray(0, maxErrorMessage).toString("utf8").replace(/\uFFFD$/, "")}…`;
    await this.#report(a, log, "fail", JSON.stringify({ lease_id: a.leaseId, error: msg, retryable }));
  }

  /**
   * #report sends a complete or fail report, retrying network errors and 429/5xx with
   * backoff for up to 30s (through an engine restart). A 409 (the lease is no longer
   * ours) drops the result. It returns the engine's refusal of another kind (4xx).
   */
  async #report(a: Assignment, log: Logger, action: "complete" | "fail", body: string): Promise<HeraldError | undefined> {
    const deadline = Date.now() + reportTimeout;
    const path = `/workers/${encodeURIComponent(a.workerId)}/step-runs/${encodeURIComponent(a.stepRunId)}/${action}`;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#client[call]({ method: "POST", path, rawBody: body, retries: 0, signal: this.#reportAbort.signal });
        return;
      } catch (err) {
        if (this.#reportAbort.signal.aborted) {
          log.error("herald: reporting step result abandoned at shutdown", { action });
          return;
        }
        let wait = backoff(attempt, 100, 2_000);
        if (err instanceof HeraldError && err.status > 0) {
          if (err.status === 409) {
            log.info("herald: result refused, the lease is no longer held; dropped", { action, err: err.message });
            return;
          }
          if (!(err.temporary || err.status >= 500)) {
            log.error("herald: reporting step result failed", { action, err: err.message });
            return err;
          }
          if (err.retryAfter !== undefined) wait = Math.min(err.retryAfter * 1000, reportTimeout);
        }
        if (Date.now() + wait > deadline) {
          log.error("herald: reporting step result failed, giving up; the engine will retry the step when its lease expires", { action, err: errorText(err) });
          return;
        }
        log.debug("herald: reporting step result failed, retrying", { action, err: errorText(err), retry_in: `${Math.round(wait)}ms` });
        try {
          await sleep(wait, this.#reportAbort.signal);
        } catch {
          log.error("herald: reporting step result abandoned at shutdown", { action });
          return;
        }
      }
    }
  }

  #scheduleHeartbeat(wait: number): void {
    if (this.#heartbeatAbort.signal.aborted) return;
    this.#heartbeatTimer = setTimeout(async () => {
      const interval = this.#heartbeatInterval;
      const ok = await this.#heartbeat(interval);
      this.#scheduleHeartbeat(ok ? this.#heartbeatInterval : Math.round(this.#heartbeatInterval / 4));
    }, wait);
  }

  /**
   * #heartbeat extends the held leases and aborts the step-runs the engine says are no
   * longer ours. Leases claimed under an earlier worker id (before registering again)
   * are sent under that id. Each call may take half the interval. It reports whether
   * every call succeeded; a failed one is tried again after a quarter of the interval,
   * since a heartbeat after the lease ended no longer revives it.
   */
  async #heartbeat(interval: number): Promise<boolean> {
    const groups = new Map<string, Array<{ step_run_id: string; lease_id: string }>>();
    if (this.#id) groups.set(this.#id, []);
    for (const [id, h] of this.#held) {
      let g = groups.get(h.workerId);
      if (!g) groups.set(h.workerId, (g = []));
      g.push({ step_run_id: id, lease_id: h.leaseId });
    }
    let ok = true;
    for (const [wid, leases] of groups) {
      try {
        const res = await this.#client[call]<{ cancelled?: string[] }>({
          method: "POST",
          path: `/workers/${encodeURIComponent(wid)}/heartbeat`,
          body: { step_runs: leases },
          signal: AbortSignal.any([this.#heartbeatAbort.signal, AbortSignal.timeout(Math.max(Math.round(interval / 2), 50))]),
          retries: 0,
        });
        for (const id of res?.cancelled ?? []) this.#cancelStep(wid, id);
      } catch (err) {
        if (this.#heartbeatAbort.signal.aborted) return true;
        this.#log.warn("herald: heartbeat failed", { worker_id: wid, leases: leases.length, err: errorText(err) });
        ok = false;
      }
    }
    return ok;
  }

  #cancelStep(workerId: string, stepRunId: string): void {
    const h = this.#held.get(stepRunId);
    if (!h || h.workerId !== workerId) return;
    this.#held.delete(stepRunId);
    // Past its deadline the engine ended the attempt as a timeout: say so.
    const timedOut = h.deadline !== undefined && Date.now() >= h.deadline;
    h.controller.abort(new StepAbortedError(timedOut ? "deadline" : "cancelled"));
  }

  async #drain(): Promise<void> {
    this.#stopping = true;
    if (!this.#started || !this.#pollLoop) {
      this.#resolveFinished();
      return this.#finished;
    }
    this.#pollAbort.abort(new Error("worker stopping"));
    const wake = this.#slotFreed;
    this.#slotFreed = undefined;
    wake?.();
    await this.#pollLoop;

    const allDone = () => Promise.all([...this.#inflight]).then(() => true);
    if (this.#inflight.size > 0) {
      this.#log.info("herald: worker stopping, waiting for running steps", { running: this.#inflight.size, timeout: `${this.#shutdownTimeout}ms` });
      const forced = new Promise<boolean>((resolve) => {
        this.#force = () => resolve(false);
      });
      const done = await raceTimeout([allDone(), forced], Math.max(this.#shutdownTimeout, 0));
      if (!done) {
        this.#log.warn("herald: shutdown timeout reached, aborting running steps", { running: this.#held.size });
        for (const h of this.#held.values()) h.controller.abort(new StepAbortedError("shutdown"));
        const returned = await raceTimeout([allDone()], abandonTimeout);
        if (!returned) {
          this.#log.warn("herald: steps did not return after their signals aborted, abandoning them; their leases will expire and the engine will retry them");
          this.#reportAbort.abort(new Error("worker stopped"));
        }
      }
    }
    this.#heartbeatAbort.abort(new Error("worker stopped"));
    clearTimeout(this.#heartbeatTimer);
    this.#removeSignals();
    this.#log.info("herald: worker stopped", { worker_id: this.#id });
    this.#resolveFinished();
  }

  #installSignals(): void {
    let count = 0;
    this.#signalHandler = (sig) => {
      count++;
      if (count === 1) {
        this.#log.info(`herald: ${sig} received, draining (again to abort running steps)`);
        void this.stop();
      } else {
        this.#log.warn(`herald: ${sig} received again, aborting running steps`);
        this.#force?.();
      }
    };
    process.on("SIGTERM", this.#signalHandler);
    process.on("SIGINT", this.#signalHandler);
  }

  #removeSignals(): void {
    if (!this.#signalHandler) return;
    process.off("SIGTERM", this.#signalHandler);
    process.off("SIGINT", this.#signalHandler);
    this.#signalHandler = undefined;
  }
}

function decodeAssignment(w: Record<string, unknown>, workerId: string): Assignment {
  const obj = (v: unknown): JsonObject => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : {});
  const parents: Record<string, JsonObject> = {};
  for (const [k, v] of Object.entries(obj(w.parents))) parents[k] = obj(v);
  return {
    stepRunId: String(w.step_run_id),
    leaseId: String(w.lease_id),
    runId: String(w.run_id),
    workflow: String(w.workflow),
    version: Number(w.version),
    step: String(w.step),
    attempt: Number(w.attempt),
    maxAttempts: Number(w.max_attempts),
    input: obj(w.input),
    parents,
    eventId: typeof w.event_id === "string" && w.event_id ? w.event_id : undefined,
    deadline: typeof w.deadline === "string" && w.deadline && !w.deadline.startsWith("0001-") ? new Date(w.deadline) : undefined,
    workerId,
  };
}

/**
 * encodeOutput encodes a step's result as the JSON object the engine stores: undefined
 * or null give {}; anything that does not encode to an object is an error.
 */
export function encodeOutput(v: unknown): string {
  if (v === undefined || v === null) return "{}";
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch (err) {
    throw new TypeError(`step output cannot be encoded as JSON: ${errorText(err)}`);
  }
  if (text === undefined || text === "null") return "{}";
  if (text.startsWith("{")) return text;
  const kind = text.startsWith("[") ? "an array" : text.startsWith('"') ? "a string" : text === "true" || text === "false" ? "a boolean" : "a number";
  throw new TypeError(`step output must be a JSON object (an object, or nothing for {}), got ${kind}`);
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    return err.name === "Error" || err.name === "NonRetryableError" || err.name === "HeraldError" ? err.message : `${err.name}: ${err.message}`;
  }
  return typeof err === "string" ? err : safeStringify(err);
}

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function safeDuration(s: string): number {
  try {
    return parseGoDuration(s);
  } catch {
    return 0;
  }
}

/** raceTimeout resolves with the first of ps, or false after ms; its timer never outlives it. */
async function raceTimeout(ps: Promise<boolean>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([...ps, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
