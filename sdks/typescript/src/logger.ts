/**
 * Logging. The worker and steps log through a Logger: four methods taking a message
 * and attributes. consoleLogger writes one logfmt line per record to stderr, like Go's
 * slog text handler; pass your own (pino, winston, ...) behind this interface.
 */

/** Attributes of a log record. */
export type LogAttrs = Record<string, unknown>;

/** Logger receives the worker's and steps' log records. */
export interface Logger {
  debug(message: string, attrs?: LogAttrs): void;
  info(message: string, attrs?: LogAttrs): void;
  warn(message: string, attrs?: LogAttrs): void;
  error(message: string, attrs?: LogAttrs): void;
}

/** Levels of consoleLogger, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "off";

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

/** consoleLogger returns a Logger writing records at level and above to stderr (or write). */
export function consoleLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = rank[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const emit = (level: Exclude<LogLevel, "off">, message: string, attrs?: LogAttrs) => {
    if (rank[level] < min) return;
    let line = `time=${new Date().toISOString()} level=${level.toUpperCase()} msg=${quote(message)}`;
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v === undefined) continue;
      line += ` ${k}=${quote(formatValue(v))}`;
    }
    write(`${line}\n`);
  };
  return {
    debug: (m, a) => emit("debug", m, a),
    info: (m, a) => emit("info", m, a),
    warn: (m, a) => emit("warn", m, a),
    error: (m, a) => emit("error", m, a),
  };
}

/** withAttrs returns a Logger that adds attrs to every record of base (a record's own attributes win). */
export function withAttrs(base: Logger, attrs: LogAttrs): Logger {
  return {
    debug: (m, a) => base.debug(m, { ...attrs, ...a }),
    info: (m, a) => base.info(m, { ...attrs, ...a }),
    warn: (m, a) => base.warn(m, { ...attrs, ...a }),
    error: (m, a) => base.error(m, { ...attrs, ...a }),
  };
}

function formatValue(v: unknown): string {
  if (v instanceof Error) return v.message;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null) {
    try {
      return JSON.stringify(v);
    } catch {
      return String(v);
    }
  }
  return String(v);
}

function quote(s: string): string {
  return s === "" || /[\s"=\\]/.test(s) || /[\x00-\x1f]/.test(s) ? JSON.stringify(s) : s;
}
