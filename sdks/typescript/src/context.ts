/**
 * The step context: what a step knows about the step-run it executes, and what it may
 * do (log, push events that record its lineage).
 */
import { call, pushBody, sendEventArgs, type Client, type PushOptions, type SendEventInput, type SendEventOptions } from "./client.js";
import type { Logger } from "./logger.js";
import type { JsonObject, PushResult } from "./types.js";
import * as wire from "./wire.js";
import type { StepRef } from "./workflow.js";

/** An assignment as the engine hands it out (docs/worker-protocol.md), decoded. */
export interface Assignment {
  stepRunId: string;
  leaseId: string;
  runId: string;
  workflow: string;
  version: number;
  step: string;
  attempt: number;
  maxAttempts: number;
  input: JsonObject;
  parents: Record<string, JsonObject>;
  eventId: string | undefined;
  deadline: Date | undefined;
  /** The worker id the assignment was claimed under. */
  workerId: string;
}

/**
 * StepContext describes the step-run being executed. I is the run input's type (the
 * triggering event's payload). It is valid for the duration of the step's run call.
 */
export class StepContext<I = JsonObject> {
  /** The run's input: the event's payload, or a manual run's input. */
  readonly input: I;
  /** The outputs of this step's parents, by step name. */
  readonly parents: Readonly<Record<string, JsonObject>>;
  /** Ids of the run and of this step-run; the step-run id is the same for every attempt (a good idempotency key). */
  readonly runId: string;
  readonly stepRunId: string;
  readonly workflow: string;
  readonly version: number;
  /** The step's name. */
  readonly step: string;
  /** The attempt, from 1; the one with attempt === maxAttempts is the last. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The event that started the run; undefined for a manual run. */
  readonly eventId: string | undefined;
  /** When the attempt's timeout ends (ctx.signal aborts then). */
  readonly deadline: Date | undefined;
  /**
   * Aborts when the step should stop: the engine took the step-run back (run cancelled
   * or lease lost), its deadline passed, or the worker's shutdown timeout ran out.
   * signal.reason is a StepAbortedError saying which. Pass it to fetch and friends.
   */
  readonly signal: AbortSignal;
  /** The worker's logger with the workflow, step, run, step-run and attempt as attributes (Trigger.dev's io.logger). */
  readonly logger: Logger;
  readonly #client: Client;

  /** @internal Created by the Worker. */
  constructor(a: Assignment, client: Client, logger: Logger, signal: AbortSignal) {
    this.input = a.input as I;
    this.parents = a.parents;
    this.runId = a.runId;
    this.stepRunId = a.stepRunId;
    this.workflow = a.workflow;
    this.version = a.version;
    this.step = a.step;
    this.attempt = a.attempt;
    this.maxAttempts = a.maxAttempts;
    this.eventId = a.eventId;
    this.deadline = a.deadline;
    this.signal = signal;
    this.logger = logger;
    this.#client = client;
  }

  /** parent returns the output of a parent step (typed by its StepRef); it throws if the step is not a parent. */
  parent<O>(step: StepRef<O> | string): O {
    const name = typeof step === "string" ? step : step.name;
    if (!Object.hasOwn(this.parents, name)) {
      throw new TypeError(`step ${JSON.stringify(this.step)} has no parent ${JSON.stringify(name)}`);
    }
    return (this.parents[name] ?? {}) as O;
  }

  /**
   * push pushes an event on behalf of this step (chaining): the event records this run
   * and step-run as its parents (source "run"). Like Client.push it retries 429 and 503.
   * Pass an idempotencyKey derived from ctx.stepRunId to push once even if the step runs twice.
   */
  async push<T extends object = JsonObject>(key: string, payload?: T, options: PushOptions = {}): Promise<PushResult<T>> {
    const body = pushBody(key, payload, options, { runId: this.runId, stepRunId: this.stepRunId });
    const w = await this.#client[call]<Record<string, unknown>>({ method: "POST", path: "/events", body, signal: options.signal });
    return wire.pushResult<T>(w);
  }

  /** sendEvent is push in Trigger.dev's shapes (see Client.sendEvent), with lineage. */
  sendEvent<T extends object = JsonObject>(name: string, payload?: T, options?: PushOptions): Promise<PushResult<T>>;
  sendEvent<T extends object = JsonObject>(event: SendEventInput<T>, options?: SendEventOptions): Promise<PushResult<T>>;
  sendEvent<T extends object = JsonObject>(a: string | SendEventInput<T>, b?: T | SendEventOptions, c?: PushOptions): Promise<PushResult<T>> {
    const [key, payload, opts] = sendEventArgs<T>(a, b, c);
    return this.push<T>(key, payload, opts);
  }
}
