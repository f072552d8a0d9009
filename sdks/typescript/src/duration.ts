/**
 * Durations. The engine speaks Go duration strings ("30s", "1m30s", "24h"); the SDK
 * takes a number of milliseconds, such a string, or an object of units, and sends the
 * string Go's `time.Duration.String` would write (without its zero trailing units, as
 * the Go SDK does), so that a workflow defined in TypeScript and the same one defined
 * in Go are stored as the same version.
 */

/** Units of a duration given as an object, as Trigger.dev's `delay: {hours: 24}`. */
export interface DurationObject {
  days?: number;
  hours?: number;
  minutes?: number;
  seconds?: number;
  milliseconds?: number;
}

/**
 * A duration: a number of milliseconds, a Go duration string ("90s", "1h30m",
 * "250ms"), or an object of units.
 */
export type Duration = number | string | DurationObject;

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * toMilliseconds returns the length of d in milliseconds. It throws a TypeError naming
 * `what` when d is not a duration (a negative or non-finite number, a string Go would
 * not parse, an object with a non-numeric unit).
 */
export function toMilliseconds(d: Duration, what = "duration"): number {
  if (typeof d === "number") {
    if (!Number.isFinite(d)) throw new TypeError(`${what}: ${d} is not a finite number of milliseconds`);
    return d;
  }
  if (typeof d === "string") return parseGoDuration(d, what);
  if (d === null || typeof d !== "object") throw new TypeError(`${what}: want milliseconds, a string such as "30s", or {hours, minutes, seconds}`);
  let ms = 0;
  const units: Array<[keyof DurationObject, number]> = [
    ["days", 86_400_000],
    ["hours", 3_600_000],
    ["minutes", 60_000],
    ["seconds", 1000],
    ["milliseconds", 1],
  ];
  for (const key of Object.keys(d)) {
    if (!units.some(([k]) => k === key)) throw new TypeError(`${what}: unknown unit ${JSON.stringify(key)} (want days, hours, minutes, seconds, milliseconds)`);
  }
  for (const [key, factor] of units) {
    const v = d[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new TypeError(`${what}.${key}: ${String(v)} is not a number`);
    ms += v * factor;
  }
  return ms;
}

/** parseGoDuration parses a Go duration string ("1h30m", "-1.5s", "300ms") into milliseconds. */
export function parseGoDuration(s: string, what = "duration"): number {
  const orig = s;
  const bad = () => new TypeError(`${what}: invalid duration ${JSON.stringify(orig)} (want a number and a unit, such as "30s", "1m30s", "250ms")`);
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw bad();
  let total = 0;
  const re = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m) throw bad();
    total += Number(m[1]) * unitMs[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/**
 * formatGoDuration writes ms as Go's time.Duration.String does ("1h30m0s" → "1h30m",
 * "1.5s", "250ms"), dropping zero trailing units like the Go SDK ("1m", "2h"). The
 * value is rounded to whole nanoseconds.
 */
export function formatGoDuration(ms: number): string {
  let ns = BigInt(Math.round(ms * 1e6));
  if (ns === 0n) return "0s";
  const neg = ns < 0n;
  if (neg) ns = -ns;
  let out: string;
  if (ns < 1_000_000_000n) {
    // Sub-second: the largest unit that keeps a leading digit, as Go does.
    if (ns < 1000n) out = `${ns}ns`;
    else if (ns < 1_000_000n) out = `${frac(ns, 1000n)}µs`;
    else out = `${frac(ns, 1_000_000n)}ms`;
  } else {
    const h = ns / 3_600_000_000_000n;
    ns -= h * 3_600_000_000_000n;
    const m = ns / 60_000_000_000n;
    ns -= m * 60_000_000_000n;
    const s = `${frac(ns, 1_000_000_000n)}s`;
    if (h > 0n) out = `${h}h${m}m${s}`;
    else if (m > 0n) out = `${m}m${s}`;
    else out = s;
    if (out.endsWith("m0s")) out = out.slice(0, -2);
    if (out.endsWith("h0m")) out = out.slice(0, -2);
  }
  return neg ? `-${out}` : out;
}

/** frac writes v/unit in decimal without trailing zeros. */
function frac(v: bigint, unit: bigint): string {
  const whole = v / unit;
  let rest = v % unit;
  if (rest === 0n) return whole.toString();
  const digits = unit.toString().length - 1;
  let f = rest.toString().padStart(digits, "0");
  f = f.replace(/0+$/, "");
  rest = 0n;
  return `${whole}.${f}`;
}

/** goDuration converts a Duration into the engine's string form. */
export function goDuration(d: Duration, what = "duration"): string {
  return formatGoDuration(toMilliseconds(d, what));
}
