// Configuration from environment variables, validated once at start-up.
// A bad value stops the process with a message naming every offending variable (docs/architecture.md#habits).
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { creditCodeProblem, normaliseTaxId } from './credit-code.ts';

export const NODE_ENVS = ['development', 'test', 'production'] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Minimum length of INTERNAL_SECRET and JWT_SECRET (HMAC-SHA256 keys). */
export const MIN_SECRET_LENGTH = 32;

/**
 * Well-known secrets used when development/test runs without them. They are public by design:
 * production refuses them, even when set explicitly.
 */
export const DEVELOPMENT_DEFAULTS = Object.freeze({
  INTERNAL_SECRET: 'development-internal-secret-not-for-production',
  JWT_SECRET: 'development-jwt-secret-not-for-production-use',
});

export interface Config {
  readonly nodeEnv: NodeEnv;
  readonly port: number;
  readonly logLevel: LogLevel;
  /** Unset: start the embedded engine with data in `dataDir`. */
  readonly mongodbUri: string | undefined;
  /** Production may run on the embedded engine (EMBEDDED_DATABASE_IN_PRODUCTION=true); see checkEmbeddedDatabase. */
  readonly embeddedDatabaseInProduction: boolean;
  /** Absolute path. */
  readonly dataDir: string;
  /** Page cache of the embedded engine's store in MiB: the working set it keeps in memory. */
  readonly engineCacheMb: number;
  /** When the embedded engine's commits reach the disk: within a second ('interval') or before each answer ('commit'). */
  readonly engineFsync: 'interval' | 'commit';
  /** Embedded engine commands that take longer are logged ("slow command", by shape, never values). */
  readonly engineSlowMs: number;
  readonly internalSecret: string;
  /** HS256 key for client tokens; undefined when only JWKS is configured. */
  readonly jwtSecret: string | undefined;
  readonly jwtJwksUrl: string | undefined;
  readonly jwtIssuer: string | undefined;
  readonly jwtAudience: string | undefined;
  /** Longest lifetime of a client token in seconds (JWT_MAX_TTL): a token whose `exp` lies further out is refused. */
  readonly jwtMaxTtlSeconds: number;
  readonly oaPort: number;
  readonly archivePort: number;
  readonly syncPort: number;
  /** Where `npm start` binds the oa, archive and sync subgraphs (SUBGRAPH_HOST, default 127.0.0.1: loopback only). */
  readonly subgraphHost: string;
  readonly oaUrl: string;
  readonly archiveUrl: string;
  readonly syncUrl: string;
  /** Where the sync service reaches the gateway (GATEWAY_URL), to run webhooks' GraphQL selections; null: not set. */
  readonly gatewayUrl: string | null;
  readonly redisUrl: string | undefined;
  readonly webhookAllowPrivateTargets: boolean;
  /** The gateway is behind a trusted proxy: the client address is the first hop of X-Forwarded-For. */
  readonly trustProxy: boolean;
  /** Sync: attempts before a job is DEAD; first retry delay and its cap (doubling, with jitter). */
  readonly syncMaxAttempts: number;
  readonly syncRetryBaseMs: number;
  readonly syncRetryMaxMs: number;
  /** How often the sync pipeline reads the event log (in-process appends wake it sooner). */
  readonly syncPollMs: number;
  /** How long another sync instance waits before taking over from one that died. */
  readonly syncLeaseTtlMs: number;
  /** Scheduled reconciliation of the current and previous period; 0 turns it off. */
  readonly reconcileIntervalMs: number;
  /** Claims approved more recently than this are not yet counted as missing their voucher. */
  readonly reconcileGraceMs: number;
  readonly webhookMaxAttempts: number;
  /** Requests a minute a new API key may make per gateway instance unless its creator says otherwise (API_KEY_RATE_LIMIT). */
  readonly apiKeyRateLimit: number;
  /** How long a gateway trusts a key it checked before it asks again (API_KEY_CACHE_MS): the delay of a revocation. */
  readonly apiKeyCacheMs: number;
  /** Largest attachment upload, bytes (FILE_MAX_BYTES; default 20 MiB; docs/api.md#attachments). */
  readonly fileMaxBytes: number;
  /** Largest total of the attachments of one claim, bytes (CLAIM_FILES_MAX_BYTES; default 100 MiB). */
  readonly claimFilesMaxBytes: number;
  /** How long an upload no claim references is kept (ATTACHMENT_TTL_HOURS; default 24). */
  readonly attachmentTtlHours: number;
  /** What one employee may hold in uploads no claim references yet (UPLOADS_PENDING_MAX_BYTES, default 200 MiB; UPLOADS_PENDING_MAX_FILES, default 100). */
  readonly uploadsPendingMaxBytes: number;
  readonly uploadsPendingMaxFiles: number;
  /** How often the anomaly rules are evaluated, and their overrides (ALERT_RULES). */
  readonly alertIntervalMs: number;
  readonly alertRules: AlertRuleOverrides;
  /** How often the sync service records a status sample for systemStatusHistory (STATUS_SAMPLE_MS). */
  readonly statusSampleMs: number;
  readonly webhookTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  /** Claims above this amount, in fen, also need a FINANCE_DIRECTOR. */
  readonly expenseApprovalThresholdFen: number;
  /** IANA time zone in which business dates ("today", claim-number years) are reckoned. */
  readonly businessTimeZone: string;
  /** How often approval steps past their time limit are escalated. */
  readonly escalationIntervalMs: number;
  /** 全宗号: the first part of every archive number. */
  readonly archiveFonds: string;
  /** The accounting department (its manager is the accounting department head in borrowing and destruction). */
  readonly financeDepartmentId: string | null;
  /** A voucher dated in a closed period: booked in the next open one (its date kept), or refused (CLOSED_PERIOD_BOOKING). */
  readonly closedPeriodBooking: 'NEXT_OPEN' | 'REFUSE';
  /** The unit head (单位负责人) who signs destruction registers. */
  readonly unitHeadId: string | null;
  /** The IT department that supervises the destruction of electronic archives. */
  readonly itDepartmentId: string | null;
  /** Chart of accounts for expense vouchers, overriding the default: expense account per category, credit account. */
  readonly accountChart: AccountChart | null;
  /** A supergraph SDL file the gateway serves instead of schema/supergraph.graphql. */
  readonly supergraphPath: string | null;
  /** Sealed chain heads (README.md, "Sealed chain heads"): HMAC-SHA-256 secret, or an Ed25519 private key (PEM) file. */
  readonly archiveSealKey: string | undefined;
  readonly archiveSealPrivateKeyFile: string | null;
  /** Absolute path of the append-only seal files; default DATA_DIR/seals. */
  readonly archiveSealDir: string;
  /** An RFC 3161 time-stamping authority for sealed heads, the PEM file of the certificates its tokens chain to, and its timeout. */
  readonly archiveTsa: { url: string; certFile: string; timeoutMs: number } | null;
  /** Bearer token a Prometheus scraper must send for /metrics (platform/metrics-http.ts). */
  readonly metricsToken: string | undefined;
  /** The company's 统一社会信用代码 (COMPANY_TAX_ID, GB 32100 checked, upper-cased): the buyer every invoice must name. */
  readonly companyTaxId: string | null;
  /** The unit's name printed on its books, reports and transfer registers (COMPANY_NAME); null: `全宗 <ARCHIVE_FONDS>`. */
  readonly companyName: string | null;
  /** The invoice verification interface (INVOICE_VERIFIER_URL, subgraphs/oa/invoices/verifier.ts) and its timeout; null: invoices are NOT_CHECKED. */
  readonly invoiceVerifier: { url: string; timeoutMs: number } | null;
  /** /metrics on a listener of its own on 127.0.0.1 (and not on PORT); `0` picks a free port. */
  readonly metricsPort: number | undefined;
  /** Names of the variables that fell back to a DEVELOPMENT_DEFAULTS value, so start-up can warn. */
  readonly developmentDefaults: readonly string[];
}

export interface ChartAccountSetting {
  readonly code: string;
  readonly name: string;
}

export interface AccountChart {
  readonly expenseAccounts: Readonly<Record<string, ChartAccountSetting>>;
  readonly creditAccount: ChartAccountSetting;
}

export interface ConfigIssue {
  readonly variable: string;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

function formatIssues(issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => `  ${i.variable}: ${i.message}`);
  return `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

/** The text to print for a configuration failure (no stack trace). */
export function formatConfigError(err: ConfigError): string {
  return err.message;
}

// ---- field schemas -------------------------------------------------------------------------------------
// Each takes the raw string (or undefined when unset/empty) and reports one readable reason on failure.

type Raw = string | undefined;
const raw = z.string().optional();

const quoted = (value: string): string => JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);

function integer(min: number, max: number, fallback: number) {
  return raw.transform((value, ctx): number => {
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `expected an integer ${min}..${max}, got ${quoted(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

const port = (fallback: number) => integer(0, 65535, fallback);

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A duration in whole seconds: a number of seconds ("86400") or a number with a unit s, m, h or d ("24h", "90m").
 * Reported, like the integers above, with its allowed range.
 */
function durationSeconds(min: number, max: number, fallback: number) {
  return raw.transform((value, ctx): number => {
    if (value === undefined) return fallback;
    const m = /^(\d{1,9})\s*([smhd]?)$/.exec(value.trim());
    const n = m ? Number(m[1]) * DURATION_UNITS[m[2] || 's'] : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `expected a duration of ${min}..${max} seconds, such as "86400", "24h" or "90m", got ${quoted(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

/** A port that may stay unset. */
const optionalPort = raw.transform((value, ctx): number | undefined => {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected an integer 0..65535, got ${quoted(value)}` });
    return z.NEVER;
  }
  return n;
});

/** A listening address: an IP literal or a host name (no scheme, port or path). */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const host = (fallback: string) =>
  raw.transform((value, ctx): string => {
    if (value === undefined) return fallback;
    if (isIP(value) !== 0 || HOST_NAME.test(value)) return value;
    ctx.addIssue({ code: 'custom', message: `expected an IP address or host name such as 127.0.0.1 or 0.0.0.0, got ${quoted(value)}` });
    return z.NEVER;
  });

function oneOf<T extends string>(values: readonly T[], fallback: T) {
  return raw.transform((value, ctx): T => {
    if (value === undefined) return fallback;
    if (!(values as readonly string[]).includes(value)) {
      ctx.addIssue({ code: 'custom', message: `expected one of ${values.join(', ')}, got ${quoted(value)}` });
      return z.NEVER;
    }
    return value as T;
  });
}

const boolean = (fallback: boolean) =>
  raw.transform((value, ctx): boolean => {
    if (value === undefined) return fallback;
    if (value === 'true') return true;
    if (value === 'false') return false;
    ctx.addIssue({ code: 'custom', message: `expected "true" or "false", got ${quoted(value)}` });
    return z.NEVER;
  });

/**
 * A URL with one of the given schemes. http(s) URLs must also parse; MongoDB and Redis strings may list
 * several hosts, which WHATWG URL parsing rejects, so only their scheme is checked here (the driver
 * reports the rest). Echoed values have credentials masked.
 */
function url(schemes: readonly string[], what: string) {
  const mustParse = schemes.every((s) => s.startsWith('http'));
  return raw.transform((value, ctx): string | undefined => {
    if (value === undefined) return undefined;
    let ok = schemes.some((s) => value.startsWith(`${s}//`));
    if (ok && mustParse) ok = URL.canParse(value);
    if (!ok) {
      const expected = schemes.map((s) => `${s}//`).join(' or ');
      ctx.addIssue({ code: 'custom', message: `expected ${what} starting with ${expected}, got ${quoted(maskCredentials(value))}` });
      return z.NEVER;
    }
    return value;
  });
}

/** Secrets are never echoed back: only their length is reported. */
const secret = raw.transform((value, ctx): string | undefined => {
  if (value === undefined) return undefined;
  if (value.length < MIN_SECRET_LENGTH) {
    ctx.addIssue({
      code: 'custom',
      message: `expected at least ${MIN_SECRET_LENGTH} characters, got ${value.length} (generate one with: openssl rand -base64 48)`,
    });
    return z.NEVER;
  }
  return value;
});

const nonEmpty = raw; // empty values are already mapped to undefined

/** A Money amount ("5000.00"), as integer fen. */
const money = (fallback: string) =>
  raw.transform((value, ctx): number => {
    const text = value ?? fallback;
    const m = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(text);
    if (!m) {
      ctx.addIssue({ code: 'custom', message: `expected an amount such as "5000.00", got ${quoted(text)}` });
      return z.NEVER;
    }
    return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
  });

/** 全宗号: 1 to 8 capital letters or digits. */
const fonds = (fallback: string) =>
  raw.transform((value, ctx): string => {
    const v = value ?? fallback;
    if (!/^[A-Z0-9]{1,8}$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: `expected 1 to 8 capital letters or digits, got ${quoted(v)}` });
      return z.NEVER;
    }
    return v;
  });

/** The unit's name as printed on its books, reports and transfer registers: 1 to 100 characters, no control characters. */
const unitName = raw.transform((value, ctx): string | undefined => {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!v || [...v].length > 100 || /[\p{Cc}\p{Cf}]/u.test(v)) {
    ctx.addIssue({ code: 'custom', message: 'expected the unit\'s name, 1 to 100 characters without control characters' });
    return z.NEVER;
  }
  return v;
});

/** A 统一社会信用代码 (GB 32100-2015, check character verified), optional; upper-cased. */
const creditCode = raw.transform((value, ctx): string | undefined => {
  if (value === undefined) return undefined;
  const code = normaliseTaxId(value);
  const problem = creditCodeProblem(code);
  if (problem !== null) {
    ctx.addIssue({ code: 'custom', message: `expected a unified social credit code of 18 characters: ${problem}` });
    return z.NEVER;
  }
  return code;
});

/** An id of the organisation (24 hex digits), optional. */
const objectId = raw.transform((value, ctx): string | null => {
  if (value === undefined) return null;
  if (!/^[a-f0-9]{24}$/i.test(value)) {
    ctx.addIssue({ code: 'custom', message: `expected an id of 24 hexadecimal digits, got ${quoted(value)}` });
    return z.NEVER;
  }
  return value;
});

const account = z.object({ code: z.string().regex(/^\d{4}(\.\d{2}){0,3}$/, 'an account code such as 6602.01'), name: z.string().min(1).max(60) }).strict();
const chartSchema = z
  .object({
    expenseAccounts: z.partialRecord(z.enum(['TRAVEL', 'MEALS', 'OFFICE', 'TRAINING', 'OTHER']), account),
    creditAccount: account,
  })
  .strict();

/** Overrides of the anomaly rules' settings, by rule name (the names are checked by the sync service). */
export type AlertRuleOverrides = Readonly<Record<string, { enabled?: boolean; severity?: 'INFO' | 'WARNING' | 'CRITICAL'; threshold?: number; windowMs?: number; factor?: number; openAfterMs?: number; closeAfterMs?: number }>>;

const alertRulesSchema = z.record(
  z.string().regex(/^[A-Z_]+$/, 'rule names are like SYNC_LAG'),
  z
    .object({
      enabled: z.boolean().optional(),
      severity: z.enum(['INFO', 'WARNING', 'CRITICAL']).optional(),
      threshold: z.number().min(0).optional(),
      windowMs: z.number().int().min(0).max(30 * 86_400_000).optional(),
      factor: z.number().positive().optional(),
      openAfterMs: z.number().int().min(0).max(86_400_000).optional(),
      closeAfterMs: z.number().int().min(0).max(86_400_000).optional(),
    })
    .strict(),
);

/** JSON: {"SYNC_LAG": {"threshold": 120000}, "PROBING": {"threshold": 50, "windowMs": 600000}, "BULK_ACCESS": {"enabled": false}}. */
const alertRules = raw.transform((value, ctx): AlertRuleOverrides => {
  if (value === undefined) return {};
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected JSON such as {"SYNC_LAG": {"threshold": 120000}}' });
    return z.NEVER;
  }
  const parsed = alertRulesSchema.safeParse(json);
  if (!parsed.success) {
    ctx.addIssue({ code: 'custom', message: parsed.error.issues.map((i) => `${i.path.join('.') || 'rules'}: ${i.message}`).join('; ') });
    return z.NEVER;
  }
  return parsed.data;
});

/** JSON: {"expenseAccounts": {"TRAVEL": {"code": "6602.01", "name": "管理费用-差旅费"}, ...}, "creditAccount": {...}}. */
const accountChart = raw.transform((value, ctx): AccountChart | null => {
  if (value === undefined) return null;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected JSON: {"expenseAccounts": {"TRAVEL": {"code": "6602.01", "name": "..."}}, "creditAccount": {"code": "2241", "name": "..."}}' });
    return z.NEVER;
  }
  const parsed = chartSchema.safeParse(json);
  if (!parsed.success) {
    ctx.addIssue({ code: 'custom', message: parsed.error.issues.map((i) => `${i.path.join('.') || 'chart'}: ${i.message}`).join('; ') });
    return z.NEVER;
  }
  return parsed.data as AccountChart;
});

const timeZone = (fallback: string) =>
  raw.transform((value, ctx): string => {
    const zone = value ?? fallback;
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return zone;
    } catch {
      ctx.addIssue({ code: 'custom', message: `expected an IANA time zone such as "Asia/Shanghai", got ${quoted(zone)}` });
      return z.NEVER;
    }
  });

// Kept local (rather than importing logger.ts) so loading configuration does not load pino.
function maskCredentials(uri: string): string {
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@/?#\s]*@/i, '$1***@');
}

const envSchema = z.object({
  NODE_ENV: oneOf(NODE_ENVS, 'development'),
  PORT: port(4000),
  LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
  MONGODB_URI: url(['mongodb:', 'mongodb+srv:'], 'a MongoDB connection string'),
  DATA_DIR: raw,
  EMBEDDED_DATABASE_IN_PRODUCTION: boolean(false),
  ENGINE_CACHE_MB: integer(8, 1_048_576, 256),
  ENGINE_FSYNC: oneOf(['interval', 'commit'] as const, 'interval'),
  ENGINE_SLOW_MS: integer(1, 3_600_000, 100),
  INTERNAL_SECRET: secret,
  JWT_SECRET: secret,
  JWT_JWKS_URL: url(['https:', 'http:'], 'an http(s) URL'),
  JWT_ISSUER: nonEmpty,
  JWT_AUDIENCE: nonEmpty,
  JWT_MAX_TTL: durationSeconds(60, 30 * 86_400, 86_400),
  OA_PORT: port(4001),
  ARCHIVE_PORT: port(4002),
  SYNC_PORT: port(4003),
  SUBGRAPH_HOST: host('127.0.0.1'),
  OA_URL: url(['http:', 'https:'], 'an http(s) URL'),
  ARCHIVE_URL: url(['http:', 'https:'], 'an http(s) URL'),
  SYNC_URL: url(['http:', 'https:'], 'an http(s) URL'),
  GATEWAY_URL: url(['http:', 'https:'], 'an http(s) URL'),
  REDIS_URL: url(['redis:', 'rediss:'], 'a Redis URL'),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: boolean(false),
  TRUST_PROXY: boolean(false),
  SYNC_MAX_ATTEMPTS: integer(1, 100, 8),
  SYNC_RETRY_BASE_MS: integer(10, 3_600_000, 1000),
  SYNC_RETRY_MAX_MS: integer(10, 86_400_000, 300_000),
  SYNC_POLL_MS: integer(10, 60_000, 200),
  SYNC_LEASE_TTL_MS: integer(1000, 300_000, 5000),
  RECONCILE_INTERVAL_MS: integer(0, 86_400_000 * 7, 3_600_000),
  RECONCILE_GRACE_MS: integer(0, 86_400_000, 600_000),
  WEBHOOK_MAX_ATTEMPTS: integer(1, 100, 8),
  API_KEY_RATE_LIMIT: integer(1, 100_000, 600),
  API_KEY_CACHE_MS: integer(0, 300_000, 10_000),
  FILE_MAX_BYTES: integer(1024, 1024 * 1024 * 1024, 20 * 1024 * 1024),
  CLAIM_FILES_MAX_BYTES: integer(1024, 16 * 1024 * 1024 * 1024, 100 * 1024 * 1024),
  ATTACHMENT_TTL_HOURS: integer(1, 24 * 90, 24),
  UPLOADS_PENDING_MAX_BYTES: integer(1024, 64 * 1024 * 1024 * 1024, 200 * 1024 * 1024),
  UPLOADS_PENDING_MAX_FILES: integer(1, 100_000, 100),
  ALERT_INTERVAL_MS: integer(1000, 3_600_000, 30_000),
  ALERT_RULES: alertRules,
  STATUS_SAMPLE_MS: integer(1000, 3_600_000, 60_000),
  WEBHOOK_TIMEOUT_MS: integer(100, 120_000, 10_000),
  SHUTDOWN_TIMEOUT_MS: integer(1, 600_000, 10_000),
  EXPENSE_APPROVAL_THRESHOLD: money('5000.00'),
  BUSINESS_TIMEZONE: timeZone('Asia/Shanghai'),
  ESCALATION_INTERVAL_MS: integer(1000, 86_400_000, 60_000),
  ARCHIVE_FONDS: fonds('Q001'),
  FINANCE_DEPARTMENT_ID: objectId,
  CLOSED_PERIOD_BOOKING: z.enum(['next-open', 'refuse']).default('next-open'),
  UNIT_HEAD_ID: objectId,
  IT_DEPARTMENT_ID: objectId,
  ACCOUNT_CHART: accountChart,
  SUPERGRAPH_PATH: raw,
  ARCHIVE_SEAL_KEY: secret,
  ARCHIVE_SEAL_PRIVATE_KEY_FILE: raw,
  ARCHIVE_SEAL_DIR: raw,
  ARCHIVE_TSA_URL: url(['https:', 'http:'], 'an http(s) URL of an RFC 3161 time-stamping authority'),
  ARCHIVE_TSA_CERT_FILE: raw,
  ARCHIVE_TSA_TIMEOUT_MS: integer(100, 120_000, 10_000),
  METRICS_TOKEN: secret,
  METRICS_PORT: optionalPort,
  COMPANY_TAX_ID: creditCode,
  COMPANY_NAME: unitName,
  INVOICE_VERIFIER_URL: url(['https:', 'http:'], 'an http(s) URL of the invoice verification interface'),
  // At most 8 s: the upload waits for it, and the gateway waits 10 s for the upload (gateway/index.ts SUBGRAPH_TIMEOUT_MS).
  INVOICE_VERIFIER_TIMEOUT_MS: integer(100, 8000, 5000),
});

/** Every environment variable this module reads. */
export const CONFIG_VARIABLES = Object.freeze(Object.keys(envSchema.shape)) as readonly (keyof typeof envSchema.shape)[];

type EnvInput = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates configuration. Empty values count as unset (a blank `MONGODB_URI=` in a .env file
 * means "embedded engine", not "invalid URI").
 * @throws ConfigError naming every bad or missing variable.
 */
export function loadConfig(env: EnvInput = process.env): Config {
  const input: Record<string, Raw> = {};
  for (const name of CONFIG_VARIABLES) {
    const value = env[name];
    input[name] = value === undefined || value.trim() === '' ? undefined : value;
  }

  const parsed = envSchema.safeParse(input);
  const issues: ConfigIssue[] = parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? 'environment'), message: i.message }));
  const bad = new Set(issues.map((i) => i.variable));
  // Cross-field rules need NODE_ENV; if even that is invalid, report field problems only.
  if (bad.has('NODE_ENV')) throw new ConfigError(issues);
  const nodeEnv: NodeEnv = (input.NODE_ENV as NodeEnv | undefined) ?? 'development';
  const production = nodeEnv === 'production';
  const v = parsed.success ? parsed.data : undefined;

  // ---- secrets and client-token verification ----
  const developmentDefaults: string[] = [];
  const jwksUrl = input.JWT_JWKS_URL;
  let internalSecret = input.INTERNAL_SECRET;
  let jwtSecret = input.JWT_SECRET;

  if (internalSecret === undefined) {
    if (production) {
      issues.push({ variable: 'INTERNAL_SECRET', message: `required in production (at least ${MIN_SECRET_LENGTH} characters)` });
    } else {
      internalSecret = DEVELOPMENT_DEFAULTS.INTERNAL_SECRET;
      developmentDefaults.push('INTERNAL_SECRET');
    }
  }
  if (jwtSecret === undefined && jwksUrl === undefined) {
    if (production) {
      issues.push({ variable: 'JWT_SECRET', message: 'required in production unless JWT_JWKS_URL is set' });
    } else {
      jwtSecret = DEVELOPMENT_DEFAULTS.JWT_SECRET;
      developmentDefaults.push('JWT_SECRET');
    }
  }
  if (production) {
    for (const name of ['INTERNAL_SECRET', 'JWT_SECRET'] as const) {
      const value = input[name];
      if (value !== undefined && (Object.values(DEVELOPMENT_DEFAULTS) as string[]).includes(value)) {
        issues.push({ variable: name, message: 'is a public development default; production needs a secret of its own' });
      }
    }
    if (internalSecret !== undefined && internalSecret === jwtSecret && !bad.has('INTERNAL_SECRET')) {
      issues.push({ variable: 'INTERNAL_SECRET', message: 'must differ from JWT_SECRET' });
    }
  }
  if (jwksUrl !== undefined) {
    // Without issuer and audience checks any token the key set signed, for any service, would be accepted.
    if (input.JWT_ISSUER === undefined) issues.push({ variable: 'JWT_ISSUER', message: 'required when JWT_JWKS_URL is set' });
    if (input.JWT_AUDIENCE === undefined) issues.push({ variable: 'JWT_AUDIENCE', message: 'required when JWT_JWKS_URL is set' });
  }

  if (input.ARCHIVE_SEAL_KEY !== undefined && input.ARCHIVE_SEAL_PRIVATE_KEY_FILE !== undefined) {
    issues.push({ variable: 'ARCHIVE_SEAL_KEY', message: 'set either ARCHIVE_SEAL_KEY (HMAC) or ARCHIVE_SEAL_PRIVATE_KEY_FILE (Ed25519), not both' });
  }

  if (v !== undefined && v.METRICS_PORT !== undefined && v.METRICS_PORT !== 0 && v.METRICS_PORT === v.PORT) {
    issues.push({ variable: 'METRICS_PORT', message: 'must differ from PORT (/metrics gets a listener of its own on 127.0.0.1)' });
  }
  if (production && input.METRICS_TOKEN !== undefined && (input.METRICS_TOKEN === internalSecret || input.METRICS_TOKEN === jwtSecret)) {
    issues.push({ variable: 'METRICS_TOKEN', message: 'must differ from INTERNAL_SECRET and JWT_SECRET' });
  }

  // A token is worth only what its trust anchor is: one that verifies against the certificate it carries proves nothing.
  if ((input.ARCHIVE_TSA_URL === undefined) !== (input.ARCHIVE_TSA_CERT_FILE === undefined)) {
    issues.push({ variable: 'ARCHIVE_TSA_CERT_FILE', message: 'ARCHIVE_TSA_URL and ARCHIVE_TSA_CERT_FILE (the PEM certificates its tokens chain to) are set together' });
  }

  if (issues.length > 0 || v === undefined || internalSecret === undefined) throw new ConfigError(issues);

  const dataDir = path.resolve(v.DATA_DIR ?? './data');
  const localUrl = (p: number) => `http://127.0.0.1:${p}/graphql`;

  const config: Config = {
    nodeEnv,
    port: v.PORT,
    logLevel: v.LOG_LEVEL,
    mongodbUri: v.MONGODB_URI,
    embeddedDatabaseInProduction: v.EMBEDDED_DATABASE_IN_PRODUCTION,
    dataDir,
    engineCacheMb: v.ENGINE_CACHE_MB,
    engineFsync: v.ENGINE_FSYNC,
    engineSlowMs: v.ENGINE_SLOW_MS,
    internalSecret,
    jwtSecret,
    jwtJwksUrl: jwksUrl,
    jwtIssuer: v.JWT_ISSUER,
    jwtAudience: v.JWT_AUDIENCE,
    jwtMaxTtlSeconds: v.JWT_MAX_TTL,
    oaPort: v.OA_PORT,
    archivePort: v.ARCHIVE_PORT,
    syncPort: v.SYNC_PORT,
    subgraphHost: v.SUBGRAPH_HOST,
    oaUrl: v.OA_URL ?? localUrl(v.OA_PORT),
    archiveUrl: v.ARCHIVE_URL ?? localUrl(v.ARCHIVE_PORT),
    syncUrl: v.SYNC_URL ?? localUrl(v.SYNC_PORT),
    gatewayUrl: v.GATEWAY_URL ?? null,
    redisUrl: v.REDIS_URL,
    webhookAllowPrivateTargets: v.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    trustProxy: v.TRUST_PROXY,
    syncMaxAttempts: v.SYNC_MAX_ATTEMPTS,
    syncRetryBaseMs: v.SYNC_RETRY_BASE_MS,
    syncRetryMaxMs: v.SYNC_RETRY_MAX_MS,
    syncPollMs: v.SYNC_POLL_MS,
    syncLeaseTtlMs: v.SYNC_LEASE_TTL_MS,
    reconcileIntervalMs: v.RECONCILE_INTERVAL_MS,
    reconcileGraceMs: v.RECONCILE_GRACE_MS,
    webhookMaxAttempts: v.WEBHOOK_MAX_ATTEMPTS,
    apiKeyRateLimit: v.API_KEY_RATE_LIMIT,
    apiKeyCacheMs: v.API_KEY_CACHE_MS,
    fileMaxBytes: v.FILE_MAX_BYTES,
    claimFilesMaxBytes: v.CLAIM_FILES_MAX_BYTES,
    attachmentTtlHours: v.ATTACHMENT_TTL_HOURS,
    uploadsPendingMaxBytes: v.UPLOADS_PENDING_MAX_BYTES,
    uploadsPendingMaxFiles: v.UPLOADS_PENDING_MAX_FILES,
    alertIntervalMs: v.ALERT_INTERVAL_MS,
    alertRules: v.ALERT_RULES,
    statusSampleMs: v.STATUS_SAMPLE_MS,
    webhookTimeoutMs: v.WEBHOOK_TIMEOUT_MS,
    shutdownTimeoutMs: v.SHUTDOWN_TIMEOUT_MS,
    expenseApprovalThresholdFen: v.EXPENSE_APPROVAL_THRESHOLD,
    businessTimeZone: v.BUSINESS_TIMEZONE,
    escalationIntervalMs: v.ESCALATION_INTERVAL_MS,
    archiveFonds: v.ARCHIVE_FONDS,
    financeDepartmentId: v.FINANCE_DEPARTMENT_ID,
    closedPeriodBooking: v.CLOSED_PERIOD_BOOKING === 'refuse' ? 'REFUSE' : 'NEXT_OPEN',
    unitHeadId: v.UNIT_HEAD_ID,
    itDepartmentId: v.IT_DEPARTMENT_ID,
    accountChart: v.ACCOUNT_CHART,
    supergraphPath: v.SUPERGRAPH_PATH ? path.resolve(v.SUPERGRAPH_PATH) : null,
    archiveSealKey: v.ARCHIVE_SEAL_KEY,
    archiveSealPrivateKeyFile: v.ARCHIVE_SEAL_PRIVATE_KEY_FILE ? path.resolve(v.ARCHIVE_SEAL_PRIVATE_KEY_FILE) : null,
    archiveSealDir: path.resolve(v.ARCHIVE_SEAL_DIR ?? path.join(dataDir, 'seals')),
    archiveTsa: v.ARCHIVE_TSA_URL && v.ARCHIVE_TSA_CERT_FILE ? { url: v.ARCHIVE_TSA_URL, certFile: path.resolve(v.ARCHIVE_TSA_CERT_FILE), timeoutMs: v.ARCHIVE_TSA_TIMEOUT_MS } : null,
    metricsToken: v.METRICS_TOKEN,
    companyTaxId: v.COMPANY_TAX_ID ?? null,
    companyName: v.COMPANY_NAME ?? null,
    invoiceVerifier: v.INVOICE_VERIFIER_URL ? { url: v.INVOICE_VERIFIER_URL, timeoutMs: v.INVOICE_VERIFIER_TIMEOUT_MS } : null,
    metricsPort: v.METRICS_PORT,
    developmentDefaults: Object.freeze(developmentDefaults),
  };
  return Object.freeze(config);
}

// ---- the embedded database in production ----------------------------------------------------------------

/** What production gives up on the embedded engine instead of a MongoDB replica set. */
export const EMBEDDED_DATABASE_TRADE_OFFS =
  "no replication, no automatic failover, and no backups by the database's own tools (mongodump, Atlas or Ops Manager snapshots): back up DATA_DIR yourself";

/**
 * Production without MONGODB_URI would run on the embedded engine: refused unless EMBEDDED_DATABASE_IN_PRODUCTION
 * is "true". Checked when a process opens the database (platform/database.ts), so processes that never do (the
 * gateway alone, `npm run token`) need neither variable.
 * @throws ConfigError naming MONGODB_URI.
 */
export function checkEmbeddedDatabase(config: Partial<Pick<Config, 'nodeEnv' | 'mongodbUri' | 'embeddedDatabaseInProduction'>>): void {
  if (config.nodeEnv !== 'production' || config.mongodbUri !== undefined || config.embeddedDatabaseInProduction === true) return;
  throw new ConfigError([
    {
      variable: 'MONGODB_URI',
      message:
        'required in production: point it at a MongoDB replica set. To run on the embedded engine anyway, set ' +
        `EMBEDDED_DATABASE_IN_PRODUCTION=true (it has ${EMBEDDED_DATABASE_TRADE_OFFS})`,
    },
  ]);
}

// ---- the key that seals chain heads ---------------------------------------------------------------------

/** Where the archive's seal key comes from (platform/integration/chain-seal.ts). Never the database. */
export type SealKeySetting = { kind: 'ed25519-file'; file: string } | { kind: 'hmac'; secret: string } | { kind: 'generated'; file: string };

/**
 * The seal key: ARCHIVE_SEAL_PRIVATE_KEY_FILE (Ed25519, the default kind: auditors verify with the public key) or
 * ARCHIVE_SEAL_KEY (HMAC-SHA-256: only holders of the secret verify). Development and test generate an Ed25519 key
 * into DATA_DIR/seal-key/ (mode 0600) when neither is set; production requires one, kept off the database host's
 * DATA_DIR. Checked when the archive starts, so processes without it (the gateway alone) need neither.
 * @throws ConfigError naming ARCHIVE_SEAL_PRIVATE_KEY_FILE.
 */
export function sealKeySetting(config: Pick<Config, 'nodeEnv' | 'dataDir' | 'archiveSealKey' | 'archiveSealPrivateKeyFile'>): SealKeySetting {
  if (config.archiveSealPrivateKeyFile) return { kind: 'ed25519-file', file: config.archiveSealPrivateKeyFile };
  if (config.archiveSealKey) return { kind: 'hmac', secret: config.archiveSealKey };
  if (config.nodeEnv === 'production') {
    throw new ConfigError([
      { variable: 'ARCHIVE_SEAL_PRIVATE_KEY_FILE', message: 'required in production (an Ed25519 private key in PEM), unless ARCHIVE_SEAL_KEY (HMAC, at least 32 characters) is set' },
    ]);
  }
  return { kind: 'generated', file: path.join(config.dataDir, 'seal-key', 'ed25519.pem') };
}
