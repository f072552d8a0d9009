/**
 * sendEvent as a plain function, for code written against Trigger.dev's
 * `import { sendEvent } from ...`: it pushes through a client made from the environment
 * (HERALD_URL, HERALD_TOKEN or ./.herald/token) on first use.
 */
import { Client, type PushOptions, type SendEventInput, type SendEventOptions } from "./client.js";
import type { JsonObject, PushResult } from "./types.js";

let shared: Client | undefined;

/**
 * sendEvent pushes an event through a client configured from the environment:
 * `await sendEvent("user.created", { userId: "123" })` or
 * `await sendEvent({ name: "reminder.send", payload, delay: { hours: 24 } })`.
 */
export function sendEvent<T extends object = JsonObject>(name: string, payload?: T, options?: PushOptions): Promise<PushResult<T>>;
export function sendEvent<T extends object = JsonObject>(event: SendEventInput<T>, options?: SendEventOptions): Promise<PushResult<T>>;
export function sendEvent<T extends object = JsonObject>(a: string | SendEventInput<T>, b?: T | SendEventOptions, c?: PushOptions): Promise<PushResult<T>> {
  shared ??= new Client();
  return (shared.sendEvent as (a: unknown, b?: unknown, c?: unknown) => Promise<PushResult<T>>)(a, b, c);
}
