// The bounds of date, time, fiscal-year and money-total inputs (platform/input-bounds.ts) and the absolute range
// of the Date and DateTime scalars (platform/graphql.ts), checked on their edges.
import { readFileSync } from 'node:fs';
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DateScalar, DateTimeScalar } from '../../platform/graphql.ts';
import {
  INPUT_BOUNDS,
  addDays,
  addYears,
  approvedItemDay,
  delegationWindowProblem,
  disposalDay,
  expenseDay,
  extensionDay,
  fiscalYear,
  loanStartDay,
  moneyTotal,
  pastInstant,
} from '../../platform/input-bounds.ts';
import { MAX_MONEY_FEN } from '../../platform/money.ts';

// 2026-12-06 00:30 in Shanghai, still 2026-12-05 in UTC: the business day is the Shanghai one.
const clock = { timeZone: 'Asia/Shanghai', now: new Date('2026-12-05T16:30:00Z') };

/** The BAD_USER_INPUT a call throws: its field and message. */
function refusal(fn: () => unknown): { code: unknown; field: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GraphQLError);
    const e = err as GraphQLError;
    return { code: e.extensions.code, field: e.extensions.field, message: e.message };
  }
  throw new Error('expected a refusal');
}

describe('day arithmetic', () => {
  it('adds days and years on the calendar', () => {
    expect(addDays('2026-12-06', 90)).toBe('2027-03-06');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
    expect(addYears('2026-12-06', -10)).toBe('2016-12-06');
    expect(addYears('2024-02-29', 1)).toBe('2025-02-28');
    expect(addYears('2024-02-29', -4)).toBe('2020-02-29');
  });
});

describe('the scalars', () => {
  it('refuse dates outside 1900..2200 and accept the edges', () => {
    expect(DateScalar.parseValue('1900-01-01')).toBe('1900-01-01');
    expect(DateScalar.parseValue('2200-12-31')).toBe('2200-12-31');
    for (const day of ['0100-01-01', '1899-12-31', '2201-01-01']) {
      expect(() => DateScalar.parseValue(day)).toThrow(`Date ${day} is out of range: years 1900 to 2200 only`);
    }
    // Output stays as stored.
    expect(DateScalar.serialize('0100-01-01')).toBe('0100-01-01');
  });

  it('refuse instants outside 1900..2200 (UTC) and accept the edges', () => {
    expect((DateTimeScalar.parseValue('1900-01-01T00:00:00Z') as Date).toISOString()).toBe('1900-01-01T00:00:00.000Z');
    expect((DateTimeScalar.parseValue('2200-12-31T23:59:59.999Z') as Date).toISOString()).toBe('2200-12-31T23:59:59.999Z');
    for (const at of ['1899-12-31T23:59:59.999Z', '2201-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', '0100-01-01T00:00:00Z']) {
      expect(() => DateTimeScalar.parseValue(at)).toThrow(/is out of range: years 1900 to 2200 only/);
    }
    // In UTC, 2200-12-31T23:00-05:00 is already 2201.
    expect(() => DateTimeScalar.parseValue('2200-12-31T23:00:00-05:00')).toThrow(/out of range/);
  });
});

describe('expense days', () => {
  it('accept today and ten years ago, in the business time zone', () => {
    expect(expenseDay('items[0].occurredOn', '2026-12-06', clock)).toBe('2026-12-06');
    expect(expenseDay('items[0].occurredOn', '2016-12-06', clock)).toBe('2016-12-06');
  });

  it('refuse tomorrow and the day before ten years ago, naming the field and the bound', () => {
    expect(refusal(() => expenseDay('items[2].occurredOn', '2026-12-07', clock))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'items[2].occurredOn',
      message: 'items[2].occurredOn must not be in the future (2026-12-06 in Asia/Shanghai)',
    });
    expect(refusal(() => expenseDay('items[0].occurredOn', '2016-12-05', clock))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'items[0].occurredOn',
      message: 'items[0].occurredOn must not be more than 10 years ago (earliest 2016-12-06 in Asia/Shanghai)',
    });
  });

  it('bound an approved item only by today and 1949: oa applied the ten-year rule when the claim was filed', () => {
    expect(approvedItemDay('items[0].occurredOn', '2026-12-06', clock)).toBe('2026-12-06');
    // More than ten years before the approval: oa accepted it at filing, a month before; the archive must too.
    expect(approvedItemDay('items[0].occurredOn', '2016-11-19', clock)).toBe('2016-11-19');
    expect(approvedItemDay('items[0].occurredOn', '1949-01-01', clock)).toBe('1949-01-01');
    expect(refusal(() => approvedItemDay('items[1].occurredOn', '2026-12-07', clock)).message).toBe('items[1].occurredOn must not be in the future (2026-12-06 in Asia/Shanghai)');
    expect(refusal(() => approvedItemDay('items[1].occurredOn', '1948-12-31', clock)).message).toBe('items[1].occurredOn must not be before 1949-01-01 (earliest 1949-01-01)');
  });
});

describe('instants stamped elsewhere', () => {
  it('accept now plus five minutes of skew, refuse later and before 1949', () => {
    const now = clock.now;
    expect(pastInstant('approvedAt', new Date(now.getTime() + 5 * 60_000), now)).toEqual(new Date(now.getTime() + 5 * 60_000));
    expect(pastInstant('approvedAt', new Date('1949-01-01T00:00:00Z'), now)).toEqual(new Date('1949-01-01T00:00:00Z'));
    expect(refusal(() => pastInstant('approvedAt', new Date(now.getTime() + 5 * 60_000 + 1), now))).toMatchObject({ field: 'approvedAt', message: 'approvedAt must not be in the future (now is 2026-12-05T16:30:00.000Z)' });
    expect(refusal(() => pastInstant('approvedAt', new Date('1948-12-31T23:59:59Z'), now)).message).toBe('approvedAt must not be before 1949-01-01');
  });
});

describe('fiscal years and disposal days', () => {
  it('accept 1949 to the current year', () => {
    expect(fiscalYear('fiscalYear', 1949, clock)).toBe(1949);
    expect(fiscalYear('fiscalYear', 2026, clock)).toBe(2026);
    for (const year of [1948, 2027, 2026.5]) expect(refusal(() => fiscalYear('fiscalYear', year, clock)).message).toBe('fiscalYear must be a year from 1949 to 2026, the current year');
  });

  it('accept a disposal from the first day of the record\'s fiscal year to today', () => {
    expect(disposalDay('disposedOn', '2026-01-01', 2026, clock)).toBe('2026-01-01');
    expect(disposalDay('disposedOn', '2026-12-06', 2026, clock)).toBe('2026-12-06');
    expect(refusal(() => disposalDay('disposedOn', '1950-06-30', 2026, clock))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'disposedOn',
      message: "disposedOn must not be before the record's fiscal year 2026 (earliest 2026-01-01)",
    });
    expect(refusal(() => disposalDay('disposedOn', '2026-12-07', 2026, clock)).message).toBe('disposedOn must not be in the future (2026-12-06 in Asia/Shanghai)');
  });
});

describe('loans, extensions, delegations', () => {
  it('start a loan today up to 90 days ahead', () => {
    expect(loanStartDay('from', '2026-12-06', clock)).toBe('2026-12-06');
    expect(loanStartDay('from', '2027-03-06', clock)).toBe('2027-03-06');
    expect(refusal(() => loanStartDay('from', '2026-12-05', clock)).message).toBe('from must not be in the past (today is 2026-12-06 in Asia/Shanghai)');
    expect(refusal(() => loanStartDay('from', '2027-03-07', clock)).message).toBe('from must not be more than 90 days ahead (latest 2027-03-06)');
  });

  it('extend retention past the current end and today, at most 30 years ahead', () => {
    expect(extensionDay('extendUntil', '2056-12-06', '2025-12-31', clock)).toBe('2056-12-06');
    expect(extensionDay('extendUntil', '2026-12-07', '2025-12-31', clock)).toBe('2026-12-07');
    expect(refusal(() => extensionDay('extendUntil', '2056-12-07', '2025-12-31', clock)).message).toBe('extendUntil must not be more than 30 years ahead (latest 2056-12-06)');
    expect(refusal(() => extensionDay('extendUntil', '2026-12-06', '2025-12-31', clock)).message).toBe('extendUntil must be later than today (2026-12-06)');
    expect(refusal(() => extensionDay('extendUntil', '2027-12-31', '2027-12-31', clock)).message).toBe('extendUntil must be later than the current end of retention 2027-12-31');
  });

  it('delegate until at most one year ahead, and not for a window already over', () => {
    const now = new Date('2026-12-06T09:00:00Z');
    expect(delegationWindowProblem(new Date('2026-12-06T08:00:00Z'), new Date('2027-12-06T09:00:00Z'), now)).toBeNull();
    expect(delegationWindowProblem(new Date('2026-12-06T08:00:00Z'), new Date('2027-12-06T09:00:00.001Z'), now)).toEqual({
      field: 'endsAt',
      message: 'endsAt must not be more than 1 year ahead (2027-12-06T09:00:00.000Z)',
    });
    expect(delegationWindowProblem(new Date('2026-12-01T00:00:00Z'), now, now)).toEqual({ field: 'endsAt', message: 'endsAt must be in the future (now is 2026-12-06T09:00:00.000Z)' });
    expect(delegationWindowProblem(now, now, new Date('2026-01-01T00:00:00Z'))).toEqual({ field: 'endsAt', message: 'endsAt must be after startsAt' });
  });
});

describe('money totals', () => {
  it('sum exactly up to 9999999999999.99 and refuse a fen more', () => {
    expect(moneyTotal('items', [MAX_MONEY_FEN - 1, 1])).toBe(999_999_999_999_999);
    expect(moneyTotal('items', [10, 20, 432_107])).toBe(432_137);
    expect(refusal(() => moneyTotal('items', [MAX_MONEY_FEN, 1]))).toEqual({ code: 'BAD_USER_INPUT', field: 'items', message: 'items: the total must not exceed 9999999999999.99' });
    // Far beyond 2^53: refused before precision is lost, never a wrong total.
    expect(refusal(() => moneyTotal('items', Array(100).fill(MAX_MONEY_FEN))).field).toBe('items');
  });
});

describe('the table', () => {
  it('is documented row by row in docs/domain.md', () => {
    const doc = readFileSync(new URL('../../docs/domain.md', import.meta.url), 'utf8');
    for (const bound of INPUT_BOUNDS) expect(doc, bound.input).toContain(`| ${bound.input} | ${bound.lower} | ${bound.upper} |`);
  });
});
