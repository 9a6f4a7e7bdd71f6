// Business days and months of a report period, for aggregation pipelines that run in the database.
//
// A period is `from`..`to`, calendar days in the business time zone (BUSINESS_TIMEZONE), both inclusive. Its
// bounds are turned into UTC instants here, so a pipeline's $match is a plain range on an indexed date field.
// Grouping by local day or month happens in the pipeline: the stored instant plus the zone's UTC offset, then
// $dateToString in UTC. The offset is a constant for zones without daylight saving time, and a $switch over the
// few transitions inside the period otherwise (computed here, from the platform's time-zone data). mingo's own
// `timezone` option of $dateToString formats every document through Intl (about 13 times slower on the embedded
// engine) and accepts only `Area/City` names, so it is not used.
import { badInput } from './graphql.ts';

/** A report spans at most a year, leap day included: the work of one pipeline stays bounded. */
export const MAX_REPORT_DAYS = 366;
/** The reports for BI tools (expenseReport, approvalWaitTimes) span up to ten years, three leap days included. */
export const MAX_BI_REPORT_DAYS = 3653;

/** An IANA zone name: `UTC`, `Asia/Shanghai`, `America/Argentina/Buenos_Aires`, `Etc/GMT+8` (no bare offsets). */
const IANA_ZONE_RE = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+){0,2}$/;

/**
 * The time zone a report asks for, checked: an IANA name the platform's time-zone data knows (`timeZone`, a
 * BAD_USER_INPUT naming it otherwise); `fallback` (the business time zone) when none is given.
 */
export function reportTimeZone(timeZone: string | null | undefined, fallback: string): string {
  if (timeZone === null || timeZone === undefined) return fallback;
  if (timeZone.length > 64 || !IANA_ZONE_RE.test(timeZone)) throw badInput('timeZone must be an IANA time zone name, e.g. Asia/Shanghai or UTC', 'timeZone');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw badInput(`timeZone: unknown time zone ${timeZone}`, 'timeZone');
  }
  return timeZone;
}

const DAY_MS = 86_400_000;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

// Building an Intl formatter costs far more than using one: keep one per time zone.
const formats = new Map<string, Intl.DateTimeFormat>();

/** Offset of `timeZone` from UTC at instant `t` (ms), in ms: +8 h for Asia/Shanghai. */
export function offsetAt(timeZone: string, t: number): number {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formats.set(timeZone, format);
  }
  const parts = format.formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - Math.floor(t / 1000) * 1000;
}

const dayNumber = (day: string): number => {
  const m = DATE_RE.exec(day);
  if (!m) throw new Error(`not a day: ${day}`);
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / DAY_MS;
};

/** The first instant of `day` (YYYY-MM-DD) in `timeZone`. */
export function dayStartIn(timeZone: string, day: string): Date {
  const guess = dayNumber(day) * DAY_MS;
  let t = guess - offsetAt(timeZone, guess);
  // Once more, in case the offset at the first guess differs from the offset at the answer (DST edges).
  t = guess - offsetAt(timeZone, t);
  return new Date(t);
}

/** Days from `from` to `to`, both counted: 1 for a single day. */
export const daysInPeriod = (from: string, to: string): number => dayNumber(to) - dayNumber(from) + 1;

export interface ReportPeriod {
  from: string;
  to: string;
  /** First instant of `from` in the business time zone. */
  start: Date;
  /** First instant of the day after `to`: the period is [start, end). */
  end: Date;
}

/**
 * Checks a report period (from ≤ to, at most MAX_REPORT_DAYS days) and computes its bounds as UTC instants.
 * Errors are BAD_USER_INPUT naming the argument to change.
 */
export function reportPeriod(timeZone: string, from: string, to: string, maxDays = MAX_REPORT_DAYS): ReportPeriod {
  if (!DATE_RE.test(from)) throw badInput('from must be a day, YYYY-MM-DD', 'from');
  if (!DATE_RE.test(to)) throw badInput('to must be a day, YYYY-MM-DD', 'to');
  const days = daysInPeriod(from, to);
  if (days < 1) throw badInput(`from (${from}) is after to (${to})`, 'from');
  if (days > maxDays) throw badInput(`the period ${from}..${to} spans ${days} days; a report covers at most ${maxDays}`, 'to');
  const next = new Date((dayNumber(to) + 1) * DAY_MS).toISOString().slice(0, 10);
  return { from, to, start: dayStartIn(timeZone, from), end: dayStartIn(timeZone, next) };
}

export interface OffsetSegment {
  /** From this instant on (up to the next segment's), the zone is `offsetMs` ahead of UTC. */
  since: Date;
  offsetMs: number;
}

/** The zone's offsets over [start, end): one segment, or one more per transition (daylight saving time). */
export function offsetSegments(timeZone: string, start: Date, end: Date): OffsetSegment[] {
  const segments: OffsetSegment[] = [{ since: start, offsetMs: offsetAt(timeZone, start.getTime()) }];
  // Transitions are months apart: sampling every 6 hours finds each one, a binary search its instant.
  for (let t = start.getTime(); t < end.getTime(); ) {
    const next = Math.min(t + DAY_MS / 4, end.getTime());
    const before = segments[segments.length - 1].offsetMs;
    const after = offsetAt(timeZone, next);
    if (after !== before) {
      let lo = t;
      let hi = next;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (offsetAt(timeZone, mid) === before) lo = mid;
        else hi = mid;
      }
      segments.push({ since: new Date(hi), offsetMs: after });
    }
    t = next;
  }
  return segments;
}

/**
 * An aggregation expression: the local wall-clock time of the date at `path` ("$approvedAt"), as a date whose UTC
 * fields are the local ones. Valid for instants inside the segments' period.
 */
export function localTimeExpr(path: string, segments: readonly OffsetSegment[]): object {
  if (segments.length === 1) return { $add: [path, segments[0].offsetMs] };
  const branches = segments.slice(0, -1).map((s, i) => ({ case: { $lt: [path, segments[i + 1].since] }, then: s.offsetMs }));
  return { $add: [path, { $switch: { branches, default: segments[segments.length - 1].offsetMs } }] };
}

/** An aggregation expression: the local day ('day', YYYY-MM-DD) or month ('month', YYYY-MM) of the date at `path`. */
export function localDateKeyExpr(path: string, unit: 'day' | 'month', timeZone: string, period: Pick<ReportPeriod, 'start' | 'end'>): object {
  return { $dateToString: { format: unit === 'day' ? '%Y-%m-%d' : '%Y-%m', date: localTimeExpr(path, offsetSegments(timeZone, period.start, period.end)) } };
}

/** An aggregation expression: the local quarter (YYYY-Qn) of the date at `path`. */
export function localQuarterKeyExpr(path: string, timeZone: string, period: Pick<ReportPeriod, 'start' | 'end'>): object {
  const local = localTimeExpr(path, offsetSegments(timeZone, period.start, period.end));
  const quarterOfMonth = ['Q1', 'Q1', 'Q1', 'Q2', 'Q2', 'Q2', 'Q3', 'Q3', 'Q3', 'Q4', 'Q4', 'Q4'];
  return { $concat: [{ $dateToString: { format: '%Y-', date: local } }, { $arrayElemAt: [quarterOfMonth, { $subtract: [{ $month: local }, 1] }] }] };
}

/**
 * An aggregation expression: the nearest-rank percentile `p` (1..100) of the ascending array at `sortedPath`
 * (the definition of subgraphs/sync/status.ts `percentile`); missing for an empty array.
 */
export function nearestRankExpr(sortedPath: string, p: number): object {
  const rank = { $ceil: { $divide: [{ $multiply: [p, { $size: sortedPath }] }, 100] } };
  return { $arrayElemAt: [sortedPath, { $subtract: [rank, 1] }] };
}
