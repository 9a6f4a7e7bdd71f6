// Structured logging with pino. Secrets never reach a log line: known paths are censored by pino's
// redaction, and a second pass censors sensitive keys at any depth and credentials inside URIs.
import { createRequire } from 'node:module';
import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Config, LogLevel } from './config.ts';

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

/** Keys censored wherever they appear (case-insensitive): anything ending in secret/token/password, etc. */
const SENSITIVE_KEY = /(?:secret|token|password|passwd|authorization|cookie|x-internal-identity|api[-_]?key)$/i;

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

/** Copy-on-write scrub: returns the input itself when nothing needed censoring. */
function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.includes('://') ? redactUri(value) : value;
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
      const clean = SENSITIVE_KEY.test(key) && item !== undefined && item !== null ? REDACTED : scrub(item, depth + 1);
      if (clean !== item) (out ??= { ...value })[key] = clean;
    }
    return out ?? value;
  }
  return value;
}

type SerializedError = ReturnType<typeof stdSerializers.err>;

/** The standard pino error serialiser, with URI credentials removed from message and stack. */
export function errSerializer(err: Error): SerializedError {
  const out: unknown = stdSerializers.err(err);
  if (out === null || typeof out !== 'object') return scrub(out, 0) as SerializedError;
  // The serialised error has a non-plain prototype; copy its own fields so scrub() walks them.
  return scrub({ ...out }, 0) as SerializedError;
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
