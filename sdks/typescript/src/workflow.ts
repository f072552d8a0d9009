/**
 * Workflows defined in TypeScript: a name, triggers (event keys, patterns, CEL
 * expressions) and steps forming a DAG. A Worker stores each one's definition in the
 * engine when it starts (PUT /api/v1/workflows/{name}) and runs its steps.
 */
import { goDuration, type Duration } from "./duration.js";
import type { StepContext } from "./context.js";
import type { JsonObject, TriggerSpec } from "./types.js";

/** RetryPolicy says how often and how fast a failed step is tried again; unset fields take the engine's defaults. */
export interface RetryPolicy {
  /** Attempts in all, 1–100. Default: 3. */
  maxAttempts?: number;
  /** Wait before the second attempt. Default: 1s. */
  initialBackoff?: Duration;
  /** Cap of the wait between attempts. Default: 1m. */
  maxBackoff?: Duration;
  /** Growth of the wait after each failed attempt, 1–10. Default: 2. */
  multiplier?: number;
}

/**
 * StepRef names a step and carries the type of its output, so that a child reads it
 * typed: `ctx.parent(sendEmail).messageId`.
 */
export interface StepRef<O = JsonObject> {
  readonly name: string;
  /** Type-level only: the step's output type. Never set. */
  readonly __output?: O;
}

/** What a step returns: an object (stored as its output), or nothing ({}). */
export type StepOutput = object | void | undefined | null;

/** A step's function: it gets the step context and returns the step's output. */
export type StepFunction<I, O extends StepOutput> = (ctx: StepContext<I>) => Promise<O> | O;

/** Options of one step. */
export interface StepOptions<I, O extends StepOutput = StepOutput> {
  /** 1–128 bytes of A-Z a-z 0-9 . _ -, unique in the workflow. */
  name: string;
  /** Steps that must succeed first (refs returned by step(), or names); their outputs reach this one. */
  parents?: ReadonlyArray<StepRef<any> | string>;
  /** Bounds one attempt, 1s–24h; ctx.signal aborts when it ends. Default: 60s. */
  timeout?: Duration;
  retry?: RetryPolicy;
  /**
   * Does the step's work. Delivery is at least once: write it so that running it twice
   * is harmless (key side effects on ctx.stepRunId). Throw to fail the attempt; throw a
   * NonRetryableError to fail the step and its run at once.
   */
  run: StepFunction<I, O>;
}

/** Options of a Workflow. */
export interface WorkflowOptions<I> {
  /** 1–128 bytes of A-Z a-z 0-9 . _ -. */
  name: string;
  description?: string;
  /**
   * Event keys ("user:created"), patterns ("user:*", "*") or conditional triggers
   * ({key: "order:*", expression: "input.amount > 100"}). None: the workflow runs only
   * by hand (client.runWorkflow).
   */
  triggers?: TriggerSpec[];
  /** Steps, as an alternative (or in addition) to calling step(). */
  steps?: Array<StepOptions<I, any>>;
}

/** A registered step (internal). */
export interface StepSpec {
  name: string;
  parents: string[];
  timeout?: Duration | undefined;
  retry?: RetryPolicy | undefined;
  run: StepFunction<any, any>;
}

/**
 * Workflow is a workflow a Worker runs. I is the type of its input: the payload of the
 * events that trigger it.
 *
 * ```ts
 * const welcome = new Workflow<UserCreated>({ name: "welcome-user", triggers: ["user:created"] });
 * const email = welcome.step({ name: "send-welcome-email", run: async (ctx) => ({ messageId: "m1" }) });
 * welcome.step({ name: "add-to-crm", parents: [email], run: async (ctx) => ({ id: ctx.parent(email).messageId }) });
 * ```
 */
export class Workflow<I extends object = JsonObject> {
  readonly name: string;
  readonly description: string;
  readonly triggers: readonly TriggerSpec[];
  readonly #steps: StepSpec[] = [];

  constructor(options: WorkflowOptions<I>) {
    if (!options || typeof options.name !== "string" || options.name === "") {
      throw new TypeError("Workflow: name must be a non-empty string");
    }
    this.name = options.name;
    this.description = options.description ?? "";
    this.triggers = [...(options.triggers ?? [])];
    for (const s of options.steps ?? []) this.step(s);
  }

  /** step adds a step and returns a reference to it, to name it as a parent of later steps. */
  step<O extends StepOutput>(options: StepOptions<I, O>): StepRef<Exclude<O, void | undefined | null>> {
    const where = `workflow ${JSON.stringify(this.name)}`;
    if (!options || typeof options.name !== "string" || options.name === "") throw new TypeError(`${where}: a step needs a name`);
    if (typeof options.run !== "function") throw new TypeError(`${where}: step ${JSON.stringify(options.name)} needs a run function`);
    if (this.#steps.some((s) => s.name === options.name)) throw new TypeError(`${where}: duplicate step ${JSON.stringify(options.name)}`);
    const parents = (options.parents ?? []).map((p) => (typeof p === "string" ? p : p.name));
    this.#steps.push({ name: options.name, parents, timeout: options.timeout, retry: options.retry, run: options.run });
    return { name: options.name };
  }

  /** steps lists the workflow's steps in the order they were added. */
  get steps(): readonly StepSpec[] {
    return this.#steps;
  }

  /**
   * validate checks what only the SDK can (each parent is a step of the workflow, not
   * the step itself, at least one step); the engine checks the rest when the worker
   * stores the definition.
   */
  validate(): void {
    const where = `workflow ${JSON.stringify(this.name)}`;
    if (this.#steps.length === 0) throw new TypeError(`${where} has no steps`);
    const names = new Set(this.#steps.map((s) => s.name));
    for (const s of this.#steps) {
      for (const p of s.parents) {
        if (p === s.name) throw new TypeError(`${where}: step ${JSON.stringify(s.name)} is its own parent`);
        if (!names.has(p)) throw new TypeError(`${where}: step ${JSON.stringify(s.name)}: parent ${JSON.stringify(p)} is not a step of the workflow`);
      }
    }
  }

  /** definition returns the JSON definition the engine stores (docs/api.md), as the Go SDK writes it. */
  definition(): Record<string, unknown> {
    const def: Record<string, unknown> = { name: this.name };
    if (this.description) def.description = this.description;
    def.triggers = [...this.triggers];
    def.steps = this.#steps.map((s, i) => {
      const where = `workflow ${JSON.stringify(this.name)}: steps[${i}] (${s.name})`;
      const d: Record<string, unknown> = { name: s.name };
      if (s.parents.length > 0) d.parents = [...s.parents];
      if (s.timeout !== undefined) d.timeout = goDuration(s.timeout, `${where}.timeout`);
      const r = s.retry;
      if (r) {
        const rj: Record<string, unknown> = {};
        if (r.maxAttempts) rj.max_attempts = r.maxAttempts;
        if (r.initialBackoff !== undefined) rj.initial_backoff = goDuration(r.initialBackoff, `${where}.retry.initialBackoff`);
        if (r.maxBackoff !== undefined) rj.max_backoff = goDuration(r.maxBackoff, `${where}.retry.maxBackoff`);
        if (r.multiplier) rj.multiplier = r.multiplier;
        if (Object.keys(rj).length > 0) d.retry = rj;
      }
      return d;
    });
    return def;
  }
}
