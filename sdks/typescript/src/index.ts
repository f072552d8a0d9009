/**
 * Herald's TypeScript SDK: a Client to push events and read runs, and a Worker that
 * runs the steps of workflows defined in TypeScript. See README.md.
 */
export {
  Client,
  DEFAULT_URL,
  Paginator,
  type CallOptions,
  type ClientOptions,
  type EventInput,
  type ListEventsParams,
  type ListRunsParams,
  type PushOptions,
  type RunWorkflowOptions,
  type SendEventInput,
  type SendEventOptions,
} from "./client.js";
export { StepContext } from "./context.js";
export { formatGoDuration, parseGoDuration, toMilliseconds, type Duration, type DurationObject } from "./duration.js";
export { HeraldError, NonRetryableError, StepAbortedError, isNonRetryable, parseRetryAfter, type StepAbortReason } from "./errors.js";
export { consoleLogger, withAttrs, type LogAttrs, type LogLevel, type Logger } from "./logger.js";
export type * from "./types.js";
export { VERSION } from "./version.js";
export { Worker, type WorkerOptions } from "./worker.js";
export { Workflow, type RetryPolicy, type StepFunction, type StepOptions, type StepOutput, type StepRef, type WorkflowOptions } from "./workflow.js";
export { sendEvent } from "./default.js";
