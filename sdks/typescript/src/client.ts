/**
 * The client: pushes events (one, in bulk, delayed, idempotent, Trigger.dev's
 * sendEvent shapes), reads events and runs, starts runs by hand. It speaks the engine's
 * HTTP API (docs/api.md) through Node's global fetch.
 */
import { EventEmitter, getMaxListeners, setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { goDuration, type Duration, toMilliseconds } from "./duration.js";
import { HeraldError, parseRetryAfter } from "./errors.js";
import type {
  EventInfo,
  EventStatus,
  JsonObject,
  MetadataValue,
  Page,
  PushResult,
  Run,
  RunRef,
  RunStatus,
  RunSummary,
  WorkflowInfo,
} from "./types.js";
import * as wire from "./wire.js";
import type { Wire } from "./wire.js";
import { VERSION } from "./version.js";

/** DEFAULT_URL is the address of a local engine, used when neither the options nor HERALD_URL give one. */
export const DEFAULT_URL = "http://127.0.0.1:7420";

/** Options of a Client. Every field has a default. */
export interface ClientOptions {
  /** Base address of the engine, without /api/v1. Default: HERALD_URL, else http://127.0.0.1:7420. */
  url?: string;
  /**
   * API token. Default: HERALD_TOKEN, else the file "token" in the local engine's data
   * directory (HERALD_DATA_DIR, default ./.herald), which `herald serve` writes on first start.
   */
  token?: string;
  /** How many times a request answered 429 or 503 is sent again, waiting as the engine asks. Default: 6. */
  maxRetries?: number;
  /** The fetch function to use. Default: the global fetch. */
  fetch?: typeof fetch;
  /** Where to read HERALD_URL, HERALD_TOKEN and HERALD_DATA_DIR. Default: process.env. */
  env?: Record<string, string | undefined>;
}

/** Options of a push. */
export interface PushOptions {
  /** Additional metadata: string, number or boolean values; searchable (listEvents({metadata})). */
  metadata?: Record<string, MetadataValue>;
  /**
   * Makes the push happen at most once per key within the engine's idempotency window
   * (default 24h): a repeat stores and triggers nothing and returns the original event
   * and runs with duplicate: true. It also makes the SDK's retries safe.
   */
  idempotencyKey?: string;
  /** Who the event is about; routes it to runtime filters of that scope (docs/triggers.md). */
  scope?: string;
  /** Deliver the event this much later: milliseconds, "90s", or {hours: 24}. */
  delay?: Duration;
  /** Deliver the event at this time (a Date or an RFC 3339 string). Set at most one of delay and deliverAt. */
  deliverAt?: Date | string;
  /** Aborts the request (and its retries). */
  signal?: AbortSignal;
}

/** An event of a bulk push. */
export interface EventInput<T extends object = JsonObject> extends Omit<PushOptions, "signal"> {
  key: string;
  payload?: T;
}

/**
 * An event in Trigger.dev's shape: name is the event key, id (optional) its idempotency
 * key, and delay / deliverAt (or deliverAfter, in seconds) delay it.
 */
export interface SendEventInput<T extends object = JsonObject> {
  name: string;
  payload?: T;
  id?: string;
  delay?: Duration;
  deliverAt?: Date | string;
  metadata?: Record<string, MetadataValue>;
  scope?: string;
}

/** The second argument of sendEvent({name, payload}, options), as in Trigger.dev v2. */
export interface SendEventOptions {
  deliverAt?: Date | string;
  /** Seconds to wait before delivery. */
  deliverAfter?: number;
  signal?: AbortSignal;
}

/** Filters of listEvents. */
export interface ListEventsParams {
  key?: string;
  keyPrefix?: string;
  /** Keeps events whose metadata has all these values. */
  metadata?: Record<string, MetadataValue>;
  since?: Date;
  until?: Date;
  status?: EventStatus;
  /** Keeps the events that started a run of this workflow. */
  workflow?: string;
  /** Resume from this cursor (a page's nextCursor). */
  cursor?: string;
  /** Page size, 1–500. Default: 50. */
  limit?: number;
  signal?: AbortSignal;
}

/** Filters of listRuns. */
export interface ListRunsParams {
  workflow?: string;
  status?: RunStatus;
  eventId?: string;
  /** Keeps runs whose event has this key, or a key with this prefix. */
  key?: string;
  keyPrefix?: string;
  metadata?: Record<string, MetadataValue>;
  since?: Date;
  until?: Date;
  cursor?: string;
  limit?: number;
  signal?: AbortSignal;
}

/** Options of runWorkflow. */
export interface RunWorkflowOptions {
  /** Wait until the run ends and return it (polling GET /runs/{id}). Default: false. */
  wait?: boolean;
  /** With wait: give up (HeraldError code "timeout") after this long. Default: no limit. */
  timeout?: Duration;
  signal?: AbortSignal;
}

/** Options of calls that take only an AbortSignal. */
export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * Paginator iterates over a listing, fetching cursor pages as it goes:
 * `for await (const run of client.listRuns({status: "failed"}))`, or page by page with
 * `.pages()`.
 */
export class Paginator<T> implements AsyncIterable<T> {
  readonly #fetchPage: (cursor: string | undefined) => Promise<Page<T>>;
  readonly #first: string | undefined;

  constructor(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, cursor?: string) {
    this.#fetchPage = fetchPage;
    this.#first = cursor;
  }

  /** pages yields one page after another until the last. */
  async *pages(): AsyncGenerator<Page<T>, void, undefined> {
    let cursor = this.#first;
    for (;;) {
      const page = await this.#fetchPage(cursor);
      yield page;
      if (!page.nextCursor) return;
      cursor = page.nextCursor;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.items;
  }

  /** toArray collects up to max items (default: all). */
  async toArray(max = Infinity): Promise<T[]> {
    const out: T[] = [];
    if (max <= 0) return out;
    for await (const item of this) {
      out.push(item);
      if (out.length >= max) break;
    }
    return out;
  }
}

/** Bounds of the retries of 429 and 503 (as the Go SDK's). */
const retryBase = 100;
const retryMax = 5_000;
const retryMaxServerAsk = 60_000;
const defaultRetries = 6;

/** A request as the client sends it (internal to the SDK). */
export interface CallSpec {
  method: string;
  path: string;
  query?: URLSearchParams | undefined;
  body?: unknown;
  /** A body already encoded as JSON, sent as is instead of body. */
  rawBody?: string | undefined;
  signal?: AbortSignal | undefined;
  /** How many 429/503 replies to retry; default: the client's maxRetries. */
  retries?: number | undefined;
}

/** call is the client's request function, shared with the worker (not part of the public API). */
export const call = Symbol("herald.call");

/**
 * Client talks to a Herald engine over its HTTP API. One client may be shared by any
 * number of concurrent calls.
 *
 * ```ts
 * const herald = new Client(); // HERALD_URL, HERALD_TOKEN or ./.herald/token
 * const { event, runs } = await herald.push("user:created", { user_id: "u_1" });
 * ```
 */
export class Client {
  /** Base address of the engine, without a trailing slash. */
  readonly url: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #maxRetries: number;

  /** Creates a client; it throws a HeraldError (code "invalid_config") when no token is found or the URL is bad. */
  constructor(options: ClientOptions = {}) {
    const env = options.env ?? process.env;
    const raw = (options.url ?? env.HERALD_URL ?? "").trim() || DEFAULT_URL;
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw configError(`URL ${JSON.stringify(raw)} is not an absolute URL`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw configError(`URL ${JSON.stringify(raw)}: scheme must be http or https`);
    if (u.search || u.hash) throw configError(`URL ${JSON.stringify(raw)} must not have a query or fragment`);
    this.url = u.toString().replace(/\/+$/, "");
    this.#token = (options.token ?? "").trim() || tokenFromEnv(env);
    this.#fetch = options.fetch ?? globalThis.fetch;
    const retries = options.maxRetries ?? defaultRetries;
    if (!Number.isInteger(retries) || retries < 0) throw configError(`maxRetries ${retries} must be a whole number ≥ 0`);
    this.#maxRetries = retries;
  }

  // -------------------------------------------------------------------------
  // Events

  /**
   * push stores one event and starts the runs it triggers; it resolves once the event
   * and its runs are committed, with the event (and its trigger decisions) and the runs.
   * With delay or deliverAt the event is stored now and delivered when due
   * (event.status "scheduled", no runs yet).
   */
  async push<T extends object = JsonObject>(key: string, payload?: T, options: PushOptions = {}): Promise<PushResult<T>> {
    const body = pushBody(key, payload, options);
    const w = await this[call]<Wire>({ method: "POST", path: "/events", body, signal: options.signal });
    return wire.pushResult<T>(w);
  }

  /**
   * pushBulk stores 1–1,000 events at once, all or nothing: if one is invalid nothing is
   * stored and the HeraldError's field names it ("events[3].key"). It returns one result
   * per event, in order; an event repeating a live idempotency key is duplicate: true.
   */
  async pushBulk<T extends object = JsonObject>(events: EventInput<T>[], options: CallOptions = {}): Promise<PushResult<T>[]> {
    if (!Array.isArray(events) || events.length === 0 || events.length > 1000) {
      throw new HeraldError({ status: 0, code: "invalid_argument", message: `pushBulk takes 1–1000 events, not ${Array.isArray(events) ? events.length : typeof events}`, field: "events" });
    }
    const body = {
      events: events.map((ev, i) => {
        try {
          return pushBody(ev.key, ev.payload, ev);
        } catch (err) {
          throw prefixField(err, `events[${i}]`);
        }
      }),
    };
    const w = await this[call]<{ items?: Wire[] }>({ method: "POST", path: "/events/bulk", body, signal: options.signal });
    return (w.items ?? []).map((it) => wire.pushResult<T>(it));
  }

  /**
   * sendEvent pushes an event in Trigger.dev's shapes: `sendEvent("user.created", payload)`
   * or `sendEvent({name, payload, id, delay: {hours: 24}})` (id is the idempotency key;
   * deliverAt or, in the second argument, deliverAfter seconds also delay it).
   */
  sendEvent<T extends object = JsonObject>(name: string, payload?: T, options?: PushOptions): Promise<PushResult<T>>;
  sendEvent<T extends object = JsonObject>(event: SendEventInput<T>, options?: SendEventOptions): Promise<PushResult<T>>;
  sendEvent<T extends object = JsonObject>(
    a: string | SendEventInput<T>,
    b?: T | SendEventOptions,
    c?: PushOptions,
  ): Promise<PushResult<T>> {
    const [key, payload, opts] = sendEventArgs<T>(a, b, c);
    return this.push<T>(key, payload, opts);
  }

  /**
   * cancelEvent cancels a delayed event before its delivery and returns it (status
   * "cancelled"). It fails with 409 when the event was already delivered, cancelled or
   * failed, and 404 for an unknown id.
   */
  async cancelEvent<T extends object = JsonObject>(id: string, options: CallOptions = {}): Promise<EventInfo<T>> {
    const w = await this[call]<Wire>({ method: "POST", path: `/events/${enc(id)}/cancel`, body: {}, signal: options.signal });
    return wire.eventInfo<T>(w);
  }

  /** getEvent returns one event with its trigger decisions, the runs it started and its lineage. */
  async getEvent<T extends object = JsonObject>(id: string, options: CallOptions = {}): Promise<EventInfo<T>> {
    const w = await this[call]<Wire>({ method: "GET", path: `/events/${enc(id)}`, signal: options.signal });
    return wire.eventInfo<T>(w);
  }

  /** listEvents iterates over events, newest first, fetching pages as needed. */
  listEvents<T extends object = JsonObject>(params: ListEventsParams = {}): Paginator<EventInfo<T>> {
    return new Paginator(async (cursor) => {
      const q = pageQuery(cursor, params.limit);
      setIf(q, "key", params.key);
      setIf(q, "key_prefix", params.keyPrefix);
      setIf(q, "status", params.status);
      setIf(q, "workflow", params.workflow);
      setSearch(q, params);
      const w = await this[call]<{ items?: Wire[]; next_cursor?: string }>({ method: "GET", path: "/events", query: q, signal: params.signal });
      return { items: (w.items ?? []).map((it) => wire.eventInfo<T>(it)), nextCursor: w.next_cursor || undefined };
    }, params.cursor);
  }

  // -------------------------------------------------------------------------
  // Runs

  /** getRun returns one run with its step-runs. */
  async getRun<I extends object = JsonObject>(id: string, options: CallOptions = {}): Promise<Run<I>> {
    const w = await this[call]<Wire>({ method: "GET", path: `/runs/${enc(id)}`, signal: options.signal });
    return wire.run<I>(w);
  }

  /** listRuns iterates over runs (without their steps), newest first. */
  listRuns<I extends object = JsonObject>(params: ListRunsParams = {}): Paginator<RunSummary<I>> {
    return new Paginator(async (cursor) => {
      const q = pageQuery(cursor, params.limit);
      setIf(q, "workflow", params.workflow);
      setIf(q, "status", params.status);
      setIf(q, "event_id", params.eventId);
      setIf(q, "key", params.key);
      setIf(q, "key_prefix", params.keyPrefix);
      setSearch(q, params);
      const w = await this[call]<{ items?: Wire[]; next_cursor?: string }>({ method: "GET", path: "/runs", query: q, signal: params.signal });
      return { items: (w.items ?? []).map((it) => wire.runSummary<I>(it)), nextCursor: w.next_cursor || undefined };
    }, params.cursor);
  }

  /** cancelRun cancels a run that has not ended; workers stop its steps at their next heartbeat. 409 if it ended. */
  async cancelRun<I extends object = JsonObject>(id: string, options: CallOptions = {}): Promise<Run<I>> {
    const w = await this[call]<Wire>({ method: "POST", path: `/runs/${enc(id)}/cancel`, body: {}, signal: options.signal });
    return wire.run<I>(w);
  }

  /**
   * runWorkflow starts a run of the named workflow without an event (a manual run; it
   * works on disabled workflows too). With {wait: true} it resolves when the run has
   * ended — succeeded, failed or cancelled — with the run and its steps.
   */
  runWorkflow<I extends object = JsonObject>(name: string, input: I | undefined, options: RunWorkflowOptions & { wait: true }): Promise<Run<I>>;
  runWorkflow<I extends object = JsonObject>(name: string, input?: I, options?: RunWorkflowOptions): Promise<RunRef>;
  async runWorkflow<I extends object = JsonObject>(name: string, input?: I, options: RunWorkflowOptions = {}): Promise<RunRef | Run<I>> {
    if (input !== undefined) checkObject(input, "input");
    const w = await this[call]<Wire>({
      method: "POST",
      path: `/workflows/${enc(name)}/runs`,
      body: input === undefined ? {} : { input },
      signal: options.signal,
    });
    const ref = wire.runRef(w);
    if (!options.wait) return ref;
    return this.waitRun<I>(ref.runId, options);
  }

  /**
   * waitRun polls a run until it has ended and returns it. It gives up with a
   * HeraldError (code "timeout") after options.timeout.
   */
  async waitRun<I extends object = JsonObject>(id: string, options: { timeout?: Duration; signal?: AbortSignal } = {}): Promise<Run<I>> {
    const deadline = options.timeout === undefined ? Infinity : Date.now() + toMilliseconds(options.timeout, "timeout");
    let interval = 20;
    for (;;) {
      const r = await this.getRun<I>(id, { signal: options.signal });
      if (r.status === "succeeded" || r.status === "failed" || r.status === "cancelled") return r;
      if (Date.now() + interval > deadline) {
        throw new HeraldError({ status: 0, code: "timeout", message: `run ${id} is still ${r.status} after the wait's timeout` });
      }
      await sleep(interval, options.signal);
      interval = Math.min(interval * 2, 1000);
    }
  }

  // -------------------------------------------------------------------------
  // Workflows

  /**
   * putWorkflow stores a workflow's definition (a Worker does it when it starts). A
   * definition that differs from the current one becomes a new version (createdVersion).
   */
  async putWorkflow(workflow: { name: string; definition(): object }, options: CallOptions = {}): Promise<{ workflow: WorkflowInfo; createdVersion: boolean }> {
    const w = await this[call]<{ workflow?: Wire; created_version?: boolean }>({
      method: "PUT",
      path: `/workflows/${enc(workflow.name)}`,
      body: workflow.definition(),
      signal: options.signal,
    });
    return { workflow: wire.workflowInfo(w.workflow ?? {}), createdVersion: w.created_version === true };
  }

  /** getWorkflow returns the current version of a workflow. */
  async getWorkflow(name: string, options: CallOptions = {}): Promise<WorkflowInfo> {
    return wire.workflowInfo(await this[call]<Wire>({ method: "GET", path: `/workflows/${enc(name)}`, signal: options.signal }));
  }

  /** listWorkflows lists the tenant's workflows. */
  async listWorkflows(options: CallOptions = {}): Promise<WorkflowInfo[]> {
    const w = await this[call]<{ items?: Wire[] }>({ method: "GET", path: "/workflows", signal: options.signal });
    return (w.items ?? []).map(wire.workflowInfo);
  }

  /** enableWorkflow lets matching events start runs of the workflow again. */
  async enableWorkflow(name: string, options: CallOptions = {}): Promise<WorkflowInfo> {
    return wire.workflowInfo(await this[call]<Wire>({ method: "POST", path: `/workflows/${enc(name)}/enable`, body: {}, signal: options.signal }));
  }

  /** disableWorkflow makes matching events skip the workflow (recorded on the event as skipped: "disabled"). */
  async disableWorkflow(name: string, options: CallOptions = {}): Promise<WorkflowInfo> {
    return wire.workflowInfo(await this[call]<Wire>({ method: "POST", path: `/workflows/${enc(name)}/disable`, body: {}, signal: options.signal }));
  }

  // -------------------------------------------------------------------------
  // Plumbing

  /**
   * Sends one request and decodes the JSON reply; 429 and 503 are sent again up to
   * spec.retries (default maxRetries) times, after the engine's Retry-After or a capped
   * exponential backoff with jitter.
   */
  async [call]<T>(spec: CallSpec): Promise<T> {
    const retries = spec.retries ?? this.#maxRetries;
    const body = spec.rawBody ?? (spec.body === undefined ? undefined : JSON.stringify(spec.body));
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#send<T>(spec, body);
      } catch (err) {
        if (!(err instanceof HeraldError) || !err.temporary || attempt >= retries) throw err;
        const wait = err.retryAfter !== undefined ? Math.min(err.retryAfter * 1000, retryMaxServerAsk) : backoff(attempt, retryBase, retryMax);
        await sleep(wait, spec.signal);
      }
    }
  }

  async #send<T>(spec: CallSpec, body: string | undefined): Promise<T> {
    let u = `${this.url}/api/v1${spec.path}`;
    const qs = spec.query?.toString();
    if (qs) u += `?${qs}`;
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": `herald-typescript/${VERSION}`,
      authorization: `Bearer ${this.#token}`,
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    // fetch keeps its abort listener on the signal it is given until the request is
    // garbage-collected, so a long-lived signal (a worker's, or a caller's reused for many
    // calls) would gather one per request. fetch gets a signal of its own, linked to the
    // caller's for this request only.
    const link = linkSignal(spec.signal);
    let text: string;
    let resp: Response;
    try {
      try {
        resp = await this.#fetch(u, { method: spec.method, headers, body, signal: link.signal });
      } catch (err) {
        if (spec.signal?.aborted) throw spec.signal.reason;
        throw new HeraldError({
          status: 0,
          code: "unreachable",
          message: `cannot reach ${this.url}: ${networkCause(err)}`,
          method: spec.method,
          path: spec.path,
          cause: err,
        });
      }
      text = await resp.text().catch((err: unknown) => {
        if (spec.signal?.aborted) throw spec.signal.reason;
        throw new HeraldError({ status: 0, code: "unreachable", message: `reading the reply: ${networkCause(err)}`, method: spec.method, path: spec.path, cause: err });
      });
    } finally {
      link.unlink();
    }
    if (resp.status < 200 || resp.status > 299) throw apiError(resp, text, spec);
    if (resp.status === 204 || text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new HeraldError({ status: resp.status, code: "malformed_reply", message: `the reply is not JSON: ${String(err)}`, method: spec.method, path: spec.path });
    }
  }
}

/** sendEventArgs maps sendEvent's two shapes onto push's arguments. */
export function sendEventArgs<T extends object>(
  a: string | SendEventInput<T>,
  b?: T | SendEventOptions,
  c?: PushOptions,
): [string, T | undefined, PushOptions] {
  if (typeof a === "string") return [a, b as T | undefined, c ?? {}];
  if (a === null || typeof a !== "object") throw new HeraldError({ status: 0, code: "invalid_argument", message: "sendEvent takes (name, payload) or ({name, payload})", field: "name" });
  const o = (b ?? {}) as SendEventOptions;
  const opts: PushOptions = {};
  if (a.id !== undefined) opts.idempotencyKey = a.id;
  if (a.metadata !== undefined) opts.metadata = a.metadata;
  if (a.scope !== undefined) opts.scope = a.scope;
  if (a.delay !== undefined) opts.delay = a.delay;
  if (a.deliverAt !== undefined) opts.deliverAt = a.deliverAt;
  if (o.deliverAt !== undefined) opts.deliverAt = o.deliverAt;
  if (o.deliverAfter !== undefined) opts.delay = o.deliverAfter * 1000;
  if (o.signal !== undefined) opts.signal = o.signal;
  return [a.name, a.payload, opts];
}

/** pushBody builds the JSON of one event (docs/api.md), checking what the engine cannot be told apart. */
export function pushBody(key: string, payload: unknown, o: Omit<PushOptions, "signal">, lineage?: { runId: string; stepRunId: string }): Wire {
  if (typeof key !== "string") throw new HeraldError({ status: 0, code: "invalid_argument", message: "key must be a string", field: "key" });
  const body: Wire = { key };
  if (payload !== undefined && payload !== null) {
    checkObject(payload, "payload");
    body.payload = payload;
  }
  if (o.metadata !== undefined) body.additional_metadata = o.metadata;
  if (o.idempotencyKey !== undefined) body.idempotency_key = o.idempotencyKey;
  if (o.scope !== undefined) body.scope = o.scope;
  if (o.delay !== undefined && o.deliverAt !== undefined) {
    throw new HeraldError({ status: 0, code: "invalid_argument", message: "set at most one of delay and deliverAt", field: "delay" });
  }
  if (o.delay !== undefined) {
    try {
      body.delay = goDuration(o.delay, "delay");
    } catch (err) {
      throw new HeraldError({ status: 0, code: "invalid_argument", message: (err as Error).message, field: "delay" });
    }
  }
  if (o.deliverAt !== undefined) {
    const d = o.deliverAt instanceof Date ? o.deliverAt : new Date(o.deliverAt);
    if (Number.isNaN(d.getTime())) throw new HeraldError({ status: 0, code: "invalid_argument", message: `deliverAt ${String(o.deliverAt)} is not a time`, field: "deliver_at" });
    body.deliver_at = d.toISOString();
  }
  if (lineage) {
    body.parent_run_id = lineage.runId;
    body.parent_step_run_id = lineage.stepRunId;
  }
  return body;
}

function checkObject(v: unknown, field: string): void {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new HeraldError({ status: 0, code: "invalid_argument", message: `${field} must be a JSON object, not ${Array.isArray(v) ? "an array" : typeof v}`, field });
  }
}

function prefixField(err: unknown, prefix: string): unknown {
  if (!(err instanceof HeraldError)) return err;
  return new HeraldError({ status: err.status, code: err.code, message: err.message.replace(/ \(field .*$/, ""), field: err.field ? `${prefix}.${err.field}` : prefix });
}

function configError(message: string): HeraldError {
  return new HeraldError({ status: 0, code: "invalid_config", message });
}

/** tokenFromEnv finds the token as the Go SDK does: HERALD_TOKEN, else <HERALD_DATA_DIR or .herald>/token. */
function tokenFromEnv(env: Record<string, string | undefined>): string {
  const t = (env.HERALD_TOKEN ?? "").trim();
  if (t) return t;
  const file = resolve(env.HERALD_DATA_DIR || ".herald", "token");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw configError(`no token: set HERALD_TOKEN or start a local engine that writes ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const tok = text.trim();
  if (!tok) throw configError(`no token: ${file} is empty and HERALD_TOKEN is not set`);
  return tok;
}

function apiError(resp: Response, text: string, spec: CallSpec): HeraldError {
  const retryAfter = parseRetryAfter(resp.headers.get("retry-after"));
  let parsed: { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const e = parsed?.error;
  if (e && typeof e === "object") {
    return new HeraldError({
      status: resp.status,
      code: typeof e.code === "string" && e.code ? e.code : `http_${resp.status}`,
      message: typeof e.message === "string" ? e.message : resp.statusText,
      field: typeof e.field === "string" && e.field ? e.field : undefined,
      retryAfter,
      method: spec.method,
      path: spec.path,
    });
  }
  let msg = text.trim() || resp.statusText;
  if (msg.length > 512) msg = `${msg.slice(0, 512)}…`;
  return new HeraldError({ status: resp.status, code: `http_${resp.status}`, message: msg, retryAfter, method: spec.method, path: spec.path });
}

function networkCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function pageQuery(cursor: string | undefined, limit: number | undefined): URLSearchParams {
  const q = new URLSearchParams();
  if (cursor) q.set("cursor", cursor);
  if (limit !== undefined) q.set("limit", String(limit));
  return q;
}

function setIf(q: URLSearchParams, k: string, v: string | undefined): void {
  if (v !== undefined && v !== "") q.set(k, v);
}

function setSearch(q: URLSearchParams, p: { metadata?: Record<string, MetadataValue>; since?: Date; until?: Date }): void {
  for (const k of Object.keys(p.metadata ?? {}).sort()) q.set(`metadata[${k}]`, String(p.metadata![k]));
  if (p.since) q.set("since", p.since.toISOString());
  if (p.until) q.set("until", p.until.toISOString());
}

/** backoff returns base·2^attempt capped at max, less up to 20% jitter. */
export function backoff(attempt: number, base: number, max: number): number {
  let d = base;
  for (let i = 0; i < attempt && d < max; i++) d *= 2;
  d = Math.min(d, max);
  return d - Math.random() * (d / 5);
}

/** The listener limit linkSignal gives a signal still at Node's default, as fetch does. */
const sharedSignalListeners = 1500;

/**
 * linkSignal returns a signal of one request's own that aborts when parent does, and
 * unlink, which removes the one listener it added to parent (call it once the request
 * is over). Without a parent the signal is null. parent then holds one listener per
 * request in flight; many requests in flight under one signal are no leak, so, like
 * fetch, it raises the listener limit of a signal still at Node's default.
 */
function linkSignal(parent: AbortSignal | undefined): { signal: AbortSignal | null; unlink: () => void } {
  if (!parent) return { signal: null, unlink: () => {} };
  const own = new AbortController();
  if (parent.aborted) {
    own.abort(parent.reason);
    return { signal: own.signal, unlink: () => {} };
  }
  if (getMaxListeners(parent) === EventEmitter.defaultMaxListeners) setMaxListeners(sharedSignalListeners, parent);
  const onAbort = () => own.abort(parent.reason);
  parent.addEventListener("abort", onAbort, { once: true });
  return { signal: own.signal, unlink: () => parent.removeEventListener("abort", onAbort) };
}

/** sleep waits ms, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
