/**
 * Errors of the SDK. Every failure of a Client call is a HeraldError: the engine's
 * answer ({"error": {"code", "message", "field"}} with its HTTP status), or, with
 * status 0, a request that got no answer (code "unreachable") or a bad configuration
 * (code "invalid_config").
 */

/** Options of the HeraldError constructor. */
export interface HeraldErrorInit {
  status: number;
  code: string;
  message: string;
  field?: string | undefined;
  retryAfter?: number | undefined;
  method?: string | undefined;
  path?: string | undefined;
  cause?: unknown;
}

/**
 * HeraldError is an error answered by the engine, or a request that could not reach it.
 *
 * ```ts
 * try { await client.getRun(id) } catch (err) {
 *   if (err instanceof HeraldError && err.status === 404) { ... }
 * }
 * ```
 */
export class HeraldError extends Error {
  /** HTTP status of the reply (400, 404, 409, 429, ...), or 0 when there was no reply. */
  readonly status: number;
  /**
   * Machine-readable code: the engine's ("invalid_argument", "not_found", "conflict",
   * "schema_violation", "overloaded", ...), or "unreachable" (no reply), "invalid_config",
   * "invalid_argument" (refused before sending) or "http_<status>" for a reply without
   * the engine's JSON error body.
   */
  readonly code: string;
  /** The request field to blame, such as "key" or "events[3].key", when one is. */
  readonly field: string | undefined;
  /** Seconds the engine asked to wait before retrying (Retry-After of 429 and 503), or undefined. */
  readonly retryAfter: number | undefined;
  /** Method and path of the request, e.g. "POST /events". */
  readonly method: string | undefined;
  readonly path: string | undefined;

  constructor(init: HeraldErrorInit) {
    super(describe(init), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "HeraldError";
    this.status = init.status;
    this.code = init.code;
    this.field = init.field;
    this.retryAfter = init.retryAfter;
    this.method = init.method;
    this.path = init.path;
  }

  /** temporary reports whether the same request may succeed later: 429 or 503. */
  get temporary(): boolean {
    return this.status === 429 || this.status === 503;
  }
}

function describe(e: HeraldErrorInit): string {
  let s = e.status > 0 ? `HTTP ${e.status} ${e.code}: ${e.message}` : `${e.code}: ${e.message}`;
  if (e.field) s += ` (field ${JSON.stringify(e.field)})`;
  if (e.retryAfter !== undefined && e.retryAfter > 0) s += ` (retry after ${e.retryAfter}s)`;
  if (e.method && e.path) s += ` [${e.method} ${e.path}]`;
  return s;
}

/**
 * parseRetryAfter reads a Retry-After header: a number of seconds or an HTTP date. It
 * returns seconds, or undefined when absent, invalid, zero or over a day (as the Go SDK).
 */
export function parseRetryAfter(v: string | null | undefined, now = Date.now()): number | undefined {
  if (v == null) return undefined;
  v = v.trim();
  if (v === "") return undefined;
  if (/^[0-9]+(\.[0-9]+)?$/.test(v)) {
    const secs = Number(v);
    if (secs <= 0 || secs > 86_400) return undefined;
    return secs;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  const secs = (t - now) / 1000;
  return secs > 0 ? secs : undefined;
}

/**
 * NonRetryableError fails a step at once, whatever attempts it has left, and with it
 * the run: throw it for a failure that retrying cannot fix (a payload without a
 * required field, say). A thrown error whose `cause` chain holds a NonRetryableError
 * counts too.
 */
export class NonRetryableError extends Error {
  /** Marks the error for workers of another copy of this package, too. */
  readonly nonRetryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NonRetryableError";
  }
}

/** isNonRetryable reports whether err, or an error in its cause chain, is a NonRetryableError. */
export function isNonRetryable(err: unknown): boolean {
  for (let e = err, depth = 0; e != null && depth < 16; depth++) {
    if (e instanceof NonRetryableError) return true;
    if (typeof e === "object" && (e as { nonRetryable?: unknown }).nonRetryable === true) return true;
    e = typeof e === "object" ? (e as { cause?: unknown }).cause : undefined;
  }
  return false;
}

/**
 * Why a step's AbortSignal fired (`ctx.signal.reason`):
 * - "cancelled": the engine took the step-run back (its run was cancelled, or its lease
 *   was lost because the worker stopped heartbeating); the step's result is dropped;
 * - "deadline": the attempt's timeout ended; the engine fails the attempt;
 * - "shutdown": the worker stopped and the shutdown timeout ran out; the result is
 *   dropped and the engine runs the step again when its lease expires.
 */
export type StepAbortReason = "cancelled" | "deadline" | "shutdown";

/** StepAbortedError is the reason of a step's AbortSignal. */
export class StepAbortedError extends Error {
  readonly reason: StepAbortReason;
  constructor(reason: StepAbortReason) {
    const msg = {
      cancelled: "step-run cancelled by the engine (run cancelled or lease lost)",
      deadline: "step deadline exceeded",
      shutdown: "worker shutting down",
    }[reason];
    super(msg);
    this.name = "StepAbortedError";
    this.reason = reason;
  }
}
