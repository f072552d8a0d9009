/**
 * The public shapes the client returns: events, runs, step-runs and workflows, with
 * camelCase names and Date times (the engine's wire is snake_case JSON with RFC 3339
 * times; wire.ts converts).
 */

/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object: what payloads, run inputs and step outputs are. */
export type JsonObject = { [key: string]: JsonValue };

/** Values allowed in an event's metadata. */
export type MetadataValue = string | number | boolean;

/** Status of an event: delivered (in the event log), or for a delayed event scheduled, cancelled or failed. */
export type EventStatus = "delivered" | "scheduled" | "cancelled" | "failed";

/** Status of a run. */
export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/** Status of a step-run; pending means waiting for its parents. */
export type StepStatus = "pending" | RunStatus;

/** RunRef names a run started by an event or by runWorkflow. */
export interface RunRef {
  workflow: string;
  version: number;
  runId: string;
}

/**
 * TriggerDecision records what happened, for one workflow whose trigger matched an event:
 * a run started (runId), or it was skipped (skipped: "disabled", "scope_mismatch",
 * "expression_false" or "expression_error", with error for the latter).
 */
export interface TriggerDecision {
  workflow: string;
  version: number;
  runId?: string;
  skipped?: string;
  error?: string;
  filterId?: string;
}

/** EventInfo is a stored event. T is the payload's type. */
export interface EventInfo<T = JsonObject> {
  id: string;
  key: string;
  payload: T;
  /** The event's additional metadata. */
  metadata?: Record<string, MetadataValue>;
  /** "api", "run" (pushed by a step), "webhook" or "replay". */
  source: string;
  /** Lineage of an event pushed by a step (source "run"). */
  parentRunId?: string;
  parentStepRunId?: string;
  parentStep?: string;
  webhook?: string;
  scope?: string;
  dedupeId?: string;
  replayOf?: string;
  /** When the engine stored it; for a delayed event, when it was pushed until it is delivered. */
  createdAt: Date;
  status: EventStatus;
  /** When a delayed event not delivered yet is due. */
  deliverAt?: Date;
  deliveryError?: string;
  /** The decision taken for every workflow whose trigger matched. */
  triggers: TriggerDecision[];
  /** The runs the event started; only getEvent sets it. */
  runs?: RunSummary[];
}

/** PushResult is the engine's answer to a push: the stored event and the runs it started. */
export interface PushResult<T = JsonObject> {
  event: EventInfo<T>;
  runs: RunRef[];
  /**
   * The push repeated a live idempotency key: event and runs are the original's, and
   * nothing new was stored or triggered.
   */
  duplicate: boolean;
}

/** RunSummary is a run without its steps, as listRuns gives it. I is the input's type. */
export interface RunSummary<I = JsonObject> {
  id: string;
  workflow: string;
  version: number;
  status: RunStatus;
  /** The event that started it; undefined for a manual run. */
  eventId?: string;
  input: I;
  error?: string;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
}

/** Run is a run with its step-runs, as getRun gives it. */
export interface Run<I = JsonObject> extends RunSummary<I> {
  steps: StepRun[];
}

/** StepRun is the state of one step of a run. */
export interface StepRun {
  id: string;
  name: string;
  parents: string[];
  status: StepStatus;
  /** The current (or last) attempt, from 1. */
  attempt: number;
  maxAttempts: number;
  workerId?: string;
  /** The step's output, once it succeeded. */
  output?: JsonObject;
  /** The error of the last failed attempt. */
  error?: string;
  queuedAt?: Date;
  startedAt?: Date;
  finishedAt?: Date;
}

/** A trigger: an event key or pattern ("user:*"), optionally with a CEL expression over the event. */
export type TriggerSpec = string | { key: string; expression?: string };

/** RetryPolicy says how a failed step is tried again; unset fields take the engine's defaults. */
export interface RetryPolicyInfo {
  maxAttempts?: number;
  initialBackoff?: string;
  maxBackoff?: string;
  multiplier?: number;
}

/** StepDefinitionInfo is one step of a stored workflow. */
export interface StepDefinitionInfo {
  name: string;
  parents: string[];
  timeout?: string;
  retry?: RetryPolicyInfo;
}

/** WorkflowInfo is a stored workflow: its current definition and state. */
export interface WorkflowInfo {
  name: string;
  description: string;
  active: boolean;
  version: number;
  triggers: TriggerSpec[];
  steps: StepDefinitionInfo[];
  createdAt: Date;
  updatedAt: Date;
}

/** A page of a listing. */
export interface Page<T> {
  items: T[];
  /** Fetches the next page; undefined on the last page. */
  nextCursor: string | undefined;
}
