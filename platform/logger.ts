// Structured logging with pino. Secrets never reach a log line: known paths are censored by pino's
// redaction, and a second pass censors sensitive keys at any depth and credentials inside URIs.
import { createRequire } from 'node:module';
import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Config, LogLevel } from './config.ts';
import { traceLogFields } from './tracing.ts';

export type { Logger } from 'pino';

export const REDACTED = '[REDACTED]';

/** pino redaction paths (fast-redact syntax; `*` matches one level). */
export const REDACT_PATHS: readonly string[] = Object.freeze([
  'authorization', 'cookie', 'token', 'password', 'secret',
  'INTERNAL_SECRET', 'JWT_SECRET', 'internalSecret', 'jwtSecret',
  '*.authorization', '*.cookie', '*.token', '*.password', '*.secret',
  '*.INTERNAL_SECRET', '*.JWT_SECRET', '*.internalSecret', '*.jwtSecret',
  'headers.authorization', 'headers.cookie', 'headers["x-internal-identity"]', 'headers["set-cookie"]',
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-internal-identity"]',
  'res.headers["set-cookie"]',
  '*.headers.authorization', '*.headers.cookie', '*.headers["x-internal-identity"]',
  // graphql-ws connection_init payload
  'payload.authorization', 'payload.Authorization', 'connectionParams.authorization',
  '*.payload.authorization', '*.connectionParams.authorization',
]);

/**
 * Keys censored wherever they appear (case-insensitive): anything ending in secret/token/password, etc., and an
 * operation's variables (they carry what users typed: titles, amounts, invoice and bank numbers). Logs carry
 * operation names, ids and codes.
 */
const SENSITIVE_KEY = /(?:secret|token|password|passwd|authorization|cookie|x-internal-identity|api[-_]?key|^variables|^variableValues)$/i;

const URI_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"']*:)[^@/?#\s"']*@/gi;

/** `mongodb://user:pass@host/db` → `mongodb://user:***@host/db`; works for any scheme and within longer text. */
export function redactUri(uri: string): string {
  return uri.replace(URI_CREDENTIALS, '$1***@');
}

const MAX_DEPTH = 6;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Copy-on-write scrub: returns the input itself when nothing needed censoring. An error anywhere but under the
 * top-level `err` key (which pino's `err` serialiser takes) is serialised here, so that its JSON form (a
 * GraphQLError's toJSON would include its extensions) never reaches the line.
 */
function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.includes('://') ? redactUri(value) : value;
  if (value instanceof Error) return errSerializer(value);
  if (depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((item, i) => {
      const clean = scrub(item, depth + 1);
      if (clean !== item) (out ??= value.slice())[i] = clean;
    });
    return out ?? value;
  }
  if (isPlainObject(value)) {
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      const item = value[key];
      const clean = SENSITIVE_KEY.test(key) && item !== undefined && item !== null ? REDACTED : depth === 0 && key === 'err' ? item : scrub(item, depth + 1);
      if (clean !== item) (out ??= { ...value })[key] = clean;
    }
    return out ?? value;
  }
  return value;
}

type SerializedError = ReturnType<typeof stdSerializers.err>;

/**
 * A serialised error without the payloads HTTP executors attach to it: @graphql-tools/executor-http puts the
 * subgraph request's body (the operation and all its variables) and the answer's body in `extensions.request` and
 * `extensions.response`. Only the method and the HTTP status stay.
 */
function withoutPayloads(out: Record<string, unknown>, depth = 0): Record<string, unknown> {
  const ext = out.extensions;
  if (isPlainObject(ext) && ('request' in ext || 'response' in ext)) {
    const { request, response, ...rest } = ext;
    const method = isPlainObject(request) && typeof request.method === 'string' ? request.method : undefined;
    const status = isPlainObject(response) && typeof response.status === 'number' ? response.status : undefined;
    out.extensions = { ...rest, ...(method === undefined ? {} : { request: { method } }), ...(status === undefined ? {} : { response: { status } }) };
  }
  if (depth < MAX_DEPTH) {
    for (const [key, value] of Object.entries(out)) {
      if (key === 'aggregateErrors' && Array.isArray(value)) {
        out[key] = value.map((e: unknown) => (e !== null && typeof e === 'object' ? withoutPayloads({ ...e }, depth + 1) : e));
      } else if (key !== 'extensions' && value !== null && typeof value === 'object' && !Array.isArray(value) && 'message' in value && 'stack' in value) {
        // A nested serialised error (an originalError).
        out[key] = withoutPayloads({ ...value }, depth + 1);
      }
    }
  }
  return out;
}

/** The standard pino error serialiser, with URI credentials, request and response bodies and variables removed. */
export function errSerializer(err: Error): SerializedError {
  const out: unknown = stdSerializers.err(err);
  if (out === null || typeof out !== 'object') return scrub(out, 0) as SerializedError;
  // The serialised error has a non-plain prototype; copy its own fields so scrub() walks them.
  return scrub(withoutPayloads({ ...out }), 0) as SerializedError;
}

export interface LoggerSettings {
  level: LogLevel;
  name?: string;
  /** Only used to decide on pretty output; defaults to process.env.NODE_ENV. */
  nodeEnv?: string;
}

export interface CreateLoggerOptions {
  /** Write here instead of stdout (tests capture lines this way). Disables pretty output. */
  destination?: DestinationStream;
}

function isConfig(value: Config | LoggerSettings): value is Config {
  return 'logLevel' in value;
}

/** Builds the process logger. Pretty output only on a TTY outside production, and only if pino-pretty is installed. */
export function createLogger(settings: Config | LoggerSettings, options: CreateLoggerOptions = {}): Logger {
  const level = isConfig(settings) ? settings.logLevel : settings.level;
  const name = isConfig(settings) ? undefined : settings.name;
  const nodeEnv = isConfig(settings) ? settings.nodeEnv : (settings.nodeEnv ?? process.env.NODE_ENV);

  const opts: LoggerOptions = {
    level,
    ...(name === undefined ? {} : { name }),
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    // trace_id, span_id and trace_flags of the active trace (platform/tracing.ts), on every line written in one.
    mixin: traceLogFields,
    serializers: { err: errSerializer },
    formatters: {
      log: (obj) => scrub(obj, 0) as Record<string, unknown>,
    },
    hooks: {
      // Message strings and extra interpolation arguments may carry URIs too.
      logMethod(args, method) {
        const clean = args.map((a) => (typeof a === 'string' ? redactUri(a) : a)) as Parameters<typeof method>;
        method.apply(this, clean);
      },
    },
  };

  const destination = options.destination ?? (process.stdout.isTTY && nodeEnv !== 'production' ? loadPretty() : undefined);
  return destination === undefined ? pino(opts) : pino(opts, destination);
}

/** pino-pretty is a dev dependency: absent in production installs, so fall back to JSON silently. */
function loadPretty(): DestinationStream | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pretty = require('pino-pretty') as (opts: Record<string, unknown>) => DestinationStream;
    // sync: lines written just before process.exit are not lost.
    return pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  } catch {
    return undefined;
  }
}

/**
 * Node's process warnings (MaxListenersExceededWarning, deprecations…) as structured log lines instead of Node's own
 * text on stderr: one format in every process. Replaces Node's default printer.
 */
export function logProcessWarnings(logger: Logger): void {
  for (const listener of process.listeners('warning')) process.off('warning', listener);
  process.on('warning', (warning) => {
    const { name, message } = warning;
    const code = (warning as { code?: unknown }).code;
    logger.warn({ warning: { name, ...(typeof code === 'string' ? { code } : {}), message: message.slice(0, 500) } }, 'process warning');
  });
}
