// The field schemas of the configuration variables: each parses one variable's raw text and reports one readable
// reason when it does not parse (the variable table, variables.ts, applies them).
import { isIP } from 'node:net';
import { z } from 'zod';
import { creditCodeProblem, normaliseTaxId } from '../credit-code.ts';
import type { AccountChart } from './settings.ts';

/** Minimum length of INTERNAL_SECRET and JWT_SECRET (HMAC-SHA256 keys). */
export const MIN_SECRET_LENGTH = 32;

// ---- field schemas -------------------------------------------------------------------------------------
// Each takes the raw string (or undefined when unset/empty) and reports one readable reason on failure.

export type Raw = string | undefined;
export const raw = z.string().optional();

const quoted = (value: string): string => JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);

export function integer(min: number, max: number, fallback: number) {
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

export const port = (fallback: number) => integer(0, 65535, fallback);

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A duration in whole seconds: a number of seconds ("86400") or a number with a unit s, m, h or d ("24h", "90m").
 * Reported, like the integers above, with its allowed range.
 */
export function durationSeconds(min: number, max: number, fallback: number) {
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
export const optionalPort = raw.transform((value, ctx): number | undefined => {
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
export const host = (fallback: string) =>
  raw.transform((value, ctx): string => {
    if (value === undefined) return fallback;
    if (isIP(value) !== 0 || HOST_NAME.test(value)) return value;
    ctx.addIssue({ code: 'custom', message: `expected an IP address or host name such as 127.0.0.1 or 0.0.0.0, got ${quoted(value)}` });
    return z.NEVER;
  });

export function oneOf<T extends string>(values: readonly T[], fallback: T) {
  return raw.transform((value, ctx): T => {
    if (value === undefined) return fallback;
    if (!(values as readonly string[]).includes(value)) {
      ctx.addIssue({ code: 'custom', message: `expected one of ${values.join(', ')}, got ${quoted(value)}` });
      return z.NEVER;
    }
    return value as T;
  });
}

export const boolean = (fallback: boolean) =>
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
export function url(schemes: readonly string[], what: string) {
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
export const secret = raw.transform((value, ctx): string | undefined => {
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

export const nonEmpty = raw; // empty values are already mapped to undefined

/** A Money amount ("5000.00"), as integer fen. */
export const money = (fallback: string) =>
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
export const fonds = (fallback: string) =>
  raw.transform((value, ctx): string => {
    const v = value ?? fallback;
    if (!/^[A-Z0-9]{1,8}$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: `expected 1 to 8 capital letters or digits, got ${quoted(v)}` });
      return z.NEVER;
    }
    return v;
  });

/** The unit's name as printed on its books, reports and transfer registers: 1 to 100 characters, no control characters. */
export const unitName = raw.transform((value, ctx): string | undefined => {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!v || [...v].length > 100 || /[\p{Cc}\p{Cf}]/u.test(v)) {
    ctx.addIssue({ code: 'custom', message: 'expected the unit\'s name, 1 to 100 characters without control characters' });
    return z.NEVER;
  }
  return v;
});

/** A 统一社会信用代码 (GB 32100-2015, check character verified), optional; upper-cased. */
export const creditCode = raw.transform((value, ctx): string | undefined => {
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
export const objectId = raw.transform((value, ctx): string | null => {
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
export const alertRules = raw.transform((value, ctx): AlertRuleOverrides => {
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
export const accountChart = raw.transform((value, ctx): AccountChart | null => {
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

export const timeZone = (fallback: string) =>
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
