// GraphQL building blocks every subgraph shares: the public scalars and errors with actionable codes.
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { MoneyError, formatMoney, parseMoney } from './money.ts';

export type ErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'BAD_USER_INPUT' | 'NOT_FOUND' | 'CONFLICT' | 'RATE_LIMITED' | 'INTERNAL_SERVER_ERROR';

export const PUBLIC_ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'CONFLICT', 'GRAPHQL_VALIDATION_FAILED' as ErrorCode,
  'GRAPHQL_PARSE_FAILED' as ErrorCode, 'PERSISTED_QUERY_NOT_FOUND' as ErrorCode,
  // Apollo's code for a malformed HTTP request (a batch when batching is off, a missing query …).
  'BAD_REQUEST' as ErrorCode, 'OPERATION_RESOLUTION_FAILURE' as ErrorCode,
  // Retrying safely (platform/integration/served-request.ts): nothing of the request was applied; retry.
  'IDEMPOTENCY_KEY_IN_USE' as ErrorCode, 'DEADLINE_EXCEEDED' as ErrorCode,
  // A mutation whose subgraph did not answer even past the gateway's grace (gateway/supergraph.ts timedFetch): it
  // may have been applied; retrying with the same Idempotency-Key tells.
  'OUTCOME_UNKNOWN' as ErrorCode,
  // Over a per-user limit (sendFeedback): extensions.retryAfterSeconds says when to try again.
  'RATE_LIMITED',
]);

export const gqlError = (code: ErrorCode, message: string, extra: Record<string, unknown> = {}): GraphQLError =>
  new GraphQLError(message, { extensions: { code, ...extra } });

export const badInput = (message: string, field?: string): GraphQLError => gqlError('BAD_USER_INPUT', message, field ? { field } : {});
export const forbidden = (message = 'You are not allowed to do this'): GraphQLError => gqlError('FORBIDDEN', message);
export const notFound = (what: string): GraphQLError => gqlError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string): GraphQLError => gqlError('CONFLICT', message);

/**
 * An entity another subgraph referred to, as the caller may see it. Out of the caller's row scope it is FORBIDDEN
 * (with the field null) rather than an empty object the gateway would fail to complete.
 */
export function inScope<T>(entity: T | null | undefined, what: string): T {
  if (!entity) throw forbidden(`Not allowed: this ${what} is outside your scope`);
  return entity;
}

const scalarInputError = (message: string): GraphQLError => gqlError('BAD_USER_INPUT', message);

/** A literal's refusal carries its node, so that the answer names where in the arguments it is (literalFieldOf). */
function atLiteral<T>(ast: ValueNode, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof GraphQLError && !err.nodes) throw new GraphQLError(err.message, { nodes: ast, extensions: err.extensions });
    throw err;
  }
}

/** Money: a decimal string with two fraction digits on output; resolvers work in integer fen. */
export const MoneyScalar = new GraphQLScalarType<number, string>({
  name: 'Money',
  description: 'An amount in yuan as a decimal string with two fraction digits, e.g. "1234.50". Never a float.',
  serialize(value) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new GraphQLError('Money values are integer fen internally');
    return formatMoney(value);
  },
  parseValue(value) {
    try {
      return parseMoney(value);
    } catch (err) {
      throw scalarInputError(err instanceof MoneyError ? err.message : 'invalid Money');
    }
  },
  parseLiteral(ast: ValueNode) {
    return atLiteral(ast, () => {
      if (ast.kind !== Kind.STRING) throw scalarInputError('Money must be given as a string, e.g. "1234.50"');
      try {
        return parseMoney(ast.value);
      } catch (err) {
        throw scalarInputError(err instanceof MoneyError ? err.message : 'invalid Money');
      }
    });
  },
});

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** "2026-11-28" if it names a real calendar day. */
export function parseDate(value: unknown): string {
  if (typeof value !== 'string') throw scalarInputError('Date must be a string YYYY-MM-DD');
  const m = DATE_RE.exec(value);
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !d || d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) {
    throw scalarInputError(`"${String(value).slice(0, 30)}" is not a date: use YYYY-MM-DD`);
  }
  return value;
}

/**
 * The absolute range of every Date and DateTime input (years, both included): no business date lies outside it,
 * and year 0100 or 275760 (JavaScript's last) never reaches a resolver, an archive number or a retention period.
 * Per-field bounds are tighter (platform/input-bounds.ts). Output is not checked: stored values are what they are.
 */
export const FIRST_INPUT_YEAR = 1900;
export const LAST_INPUT_YEAR = 2200;
const FIRST_INPUT_MS = Date.UTC(FIRST_INPUT_YEAR, 0, 1);
const AFTER_LAST_INPUT_MS = Date.UTC(LAST_INPUT_YEAR + 1, 0, 1);
const outOfRange = (what: string) => scalarInputError(`${what} is out of range: years ${FIRST_INPUT_YEAR} to ${LAST_INPUT_YEAR} only`);

/** parseDate, within FIRST_INPUT_YEAR..LAST_INPUT_YEAR. */
export function parseDateInput(value: unknown): string {
  const day = parseDate(value);
  const year = Number(day.slice(0, 4));
  if (year < FIRST_INPUT_YEAR || year > LAST_INPUT_YEAR) throw outOfRange(`Date ${day}`);
  return day;
}

export const DateScalar = new GraphQLScalarType<string, string>({
  name: 'Date',
  description: 'A calendar day, YYYY-MM-DD.',
  serialize: (v) => parseDate(v),
  parseValue: (v) => parseDateInput(v),
  parseLiteral(ast) {
    return atLiteral(ast, () => {
      if (ast.kind !== Kind.STRING) throw scalarInputError('Date must be a string YYYY-MM-DD');
      return parseDateInput(ast.value);
    });
  },
});

export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An instant, ISO-8601 in UTC.',
  serialize(v) {
    const d = v instanceof Date ? v : new Date(String(v));
    if (Number.isNaN(d.getTime())) throw new GraphQLError('invalid DateTime value');
    return d.toISOString();
  },
  parseValue(v) {
    const d = typeof v === 'string' ? new Date(v) : new Date(Number.NaN);
    if (Number.isNaN(d.getTime()) || !/Z$|[+-]\d{2}:\d{2}$/.test(String(v))) throw scalarInputError('DateTime must be ISO-8601 with a zone, e.g. 2026-11-28T08:00:00Z');
    if (d.getTime() < FIRST_INPUT_MS || d.getTime() >= AFTER_LAST_INPUT_MS) throw outOfRange(`DateTime ${String(v).slice(0, 40)}`);
    return d;
  },
  parseLiteral(ast) {
    return atLiteral(ast, () => {
      if (ast.kind !== Kind.STRING) throw scalarInputError('DateTime must be a string');
      return this.parseValue!(ast.value) as Date;
    });
  },
});

// Building an Intl formatter costs far more than using one: keep one per time zone.
const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** Today's date (YYYY-MM-DD) in the business time zone. */
export function today(timeZone: string, now = new Date()): string {
  let format = dayFormats.get(timeZone);
  if (!format) dayFormats.set(timeZone, (format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })));
  return format.format(now);
}
