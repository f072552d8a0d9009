/**
 * Conversion of the engine's JSON (docs/api.md) into the SDK's public shapes. Payloads,
 * inputs and outputs are left as they are: only the envelope is renamed.
 */
import type {
  EventInfo,
  JsonObject,
  MetadataValue,
  PushResult,
  Run,
  RunRef,
  RunSummary,
  StepRun,
  TriggerDecision,
  TriggerSpec,
  WorkflowInfo,
  EventStatus,
  RunStatus,
  StepStatus,
  StepDefinitionInfo,
} from "./types.js";

/** A decoded JSON object of the wire. */
export type Wire = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function date(v: unknown): Date | undefined {
  return typeof v === "string" && v !== "" ? new Date(v) : undefined;
}

function obj(v: unknown): JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : {};
}

/** set copies v into o[k] unless it is undefined, so that absent fields stay absent. */
function set<T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void {
  if (v !== undefined) o[k] = v;
}

export function runRef(w: Wire): RunRef {
  return { workflow: String(w.workflow), version: Number(w.version), runId: String(w.run_id) };
}

export function triggerDecision(w: Wire): TriggerDecision {
  const d: TriggerDecision = { workflow: String(w.workflow), version: Number(w.version) };
  set(d, "runId", str(w.run_id));
  set(d, "skipped", str(w.skipped));
  set(d, "error", str(w.error));
  set(d, "filterId", str(w.filter_id));
  return d;
}

export function eventInfo<T>(w: Wire): EventInfo<T> {
  const e: EventInfo<T> = {
    id: String(w.id),
    key: String(w.key),
    payload: obj(w.payload) as T,
    source: String(w.source ?? ""),
    createdAt: new Date(String(w.created_at)),
    status: (str(w.status) ?? "delivered") as EventStatus,
    triggers: Array.isArray(w.triggers) ? (w.triggers as Wire[]).map(triggerDecision) : [],
  };
  if (w.additional_metadata && typeof w.additional_metadata === "object") {
    e.metadata = w.additional_metadata as Record<string, MetadataValue>;
  }
  set(e, "parentRunId", str(w.parent_run_id));
  set(e, "parentStepRunId", str(w.parent_step_run_id));
  set(e, "parentStep", str(w.parent_step));
  set(e, "webhook", str(w.webhook));
  set(e, "scope", str(w.scope));
  set(e, "dedupeId", str(w.dedupe_id));
  set(e, "replayOf", str(w.replay_of));
  set(e, "deliverAt", date(w.deliver_at));
  set(e, "deliveryError", str(w.delivery_error));
  if (Array.isArray(w.runs)) e.runs = (w.runs as Wire[]).map((r) => runSummary(r));
  return e;
}

export function pushResult<T>(w: Wire): PushResult<T> {
  return {
    event: eventInfo<T>(obj(w.event)),
    runs: Array.isArray(w.runs) ? (w.runs as Wire[]).map(runRef) : [],
    duplicate: w.duplicate === true,
  };
}

export function runSummary<I>(w: Wire): RunSummary<I> {
  const r: RunSummary<I> = {
    id: String(w.id),
    workflow: String(w.workflow),
    version: Number(w.version),
    status: String(w.status) as RunStatus,
    input: obj(w.input) as I,
    createdAt: new Date(String(w.created_at)),
  };
  set(r, "eventId", str(w.event_id));
  set(r, "error", str(w.error));
  set(r, "startedAt", date(w.started_at));
  set(r, "finishedAt", date(w.finished_at));
  return r;
}

export function stepRun(w: Wire): StepRun {
  const s: StepRun = {
    id: String(w.id),
    name: String(w.name),
    parents: Array.isArray(w.parents) ? (w.parents as string[]) : [],
    status: String(w.status) as StepStatus,
    attempt: Number(w.attempt),
    maxAttempts: Number(w.max_attempts),
  };
  set(s, "workerId", str(w.worker_id));
  if (w.output && typeof w.output === "object") s.output = w.output as JsonObject;
  set(s, "error", str(w.error));
  set(s, "queuedAt", date(w.queued_at));
  set(s, "startedAt", date(w.started_at));
  set(s, "finishedAt", date(w.finished_at));
  return s;
}

export function run<I>(w: Wire): Run<I> {
  return { ...runSummary<I>(w), steps: Array.isArray(w.steps) ? (w.steps as Wire[]).map(stepRun) : [] };
}

export function workflowInfo(w: Wire): WorkflowInfo {
  const steps: StepDefinitionInfo[] = Array.isArray(w.steps)
    ? (w.steps as Wire[]).map((s) => {
        const d: StepDefinitionInfo = { name: String(s.name), parents: Array.isArray(s.parents) ? (s.parents as string[]) : [] };
        set(d, "timeout", str(s.timeout));
        const r = obj(s.retry);
        if (Object.keys(r).length > 0) {
          d.retry = {};
          if (typeof r.max_attempts === "number") d.retry.maxAttempts = r.max_attempts;
          set(d.retry, "initialBackoff", str(r.initial_backoff));
          set(d.retry, "maxBackoff", str(r.max_backoff));
          if (typeof r.multiplier === "number") d.retry.multiplier = r.multiplier;
        }
        return d;
      })
    : [];
  return {
    name: String(w.name),
    description: String(w.description ?? ""),
    active: w.active === true,
    version: Number(w.version),
    triggers: Array.isArray(w.triggers) ? (w.triggers as TriggerSpec[]) : [],
    steps,
    createdAt: new Date(String(w.created_at)),
    updatedAt: new Date(String(w.updated_at)),
  };
}
