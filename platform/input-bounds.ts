// Dates within reason (issue 13, point 5): the bounds of every date, time, fiscal-year and money-total input, in
// one table, and the checks the subgraphs run. A value outside is BAD_USER_INPUT naming the field and the bound.
// Days are reckoned in the business time zone (BUSINESS_TIMEZONE), as "today" is everywhere (platform/graphql.ts
// `today`); instants are compared as instants. The Date and DateTime scalars already refuse years outside
// FIRST_INPUT_YEAR..LAST_INPUT_YEAR (platform/graphql.ts), so no check here meets year 0100 or 275760.
// Documented in README.md (oa and archive sections) and docs/domain.md#input-bounds.
import { FIRST_INPUT_YEAR, LAST_INPUT_YEAR, badInput, today } from './graphql.ts';
import { MAX_MONEY_FEN, formatMoney } from './money.ts';

/** An expense is claimed within ten years (the longest retention of the tax records that would back it). */
export const EXPENSE_MAX_AGE_YEARS = 10;
/** The first fiscal year of a record: the oldest accounting archives a unit may still hold (founding of the PRC). */
export const FIRST_FISCAL_YEAR = 1949;
/** A loan starts at most this many days ahead (its last day is at most MAX_LOAN_DAYS after its first, borrowing.ts). */
export const MAX_LOAN_LEAD_DAYS = 90;
/** An appraisal extends retention by at most the longest finite period of the retention table (Y30). */
export const MAX_EXTENSION_YEARS = 30;
/** Approvals are delegated for at most a year ahead: longer is a standing change of the route, not a stand-in. */
export const MAX_DELEGATION_YEARS = 1;
/** Instants another system stamped (approvals) may run this far ahead of our clock. */
export const CLOCK_SKEW_MS = 5 * 60_000;

export interface InputBound {
  input: string;
  lower: string;
  upper: string;
  why: string;
}

/** The bounds table; docs/domain.md#input-bounds shows the same rows (test/platform/input-bounds.test.ts compares). */
export const INPUT_BOUNDS: readonly InputBound[] = Object.freeze([
  { input: 'every Date and DateTime', lower: `${FIRST_INPUT_YEAR}-01-01`, upper: `${LAST_INPUT_YEAR}-12-31`, why: 'no business date lies outside; the scalars refuse the rest before any resolver runs' },
  { input: 'ExpenseItemInput.occurredOn', lower: `today − ${EXPENSE_MAX_AGE_YEARS} years`, upper: 'today', why: 'an expense is claimed after it happened, and within the retention of its tax records' },
  { input: 'ApprovedClaimInput.approvedAt', lower: `${FIRST_FISCAL_YEAR}-01-01`, upper: `now + ${CLOCK_SKEW_MS / 60_000} minutes`, why: 'its day is the voucher\'s date and fiscal year; oa stamped it in the past' },
  { input: 'ApprovedClaimItemInput.occurredOn', lower: `${FIRST_FISCAL_YEAR}-01-01`, upper: 'today', why: 'oa bounded the item when the claim was filed; nothing stricter here, or an approved claim could never be filed' },
  { input: 'fiscalYear (fileArchiveRecord, archiveRecords, archiveStatistics, reconcile)', lower: String(FIRST_FISCAL_YEAR), upper: 'current year', why: 'records and periods of years that have not begun do not exist' },
  { input: 'FileRecordInput.disposedOn', lower: '1 January of the record\'s fiscal year', upper: 'today', why: 'an asset is disposed of after its card is opened, and not in the future (retention runs from it)' },
  { input: 'LoanRequestInput.from', lower: 'today', upper: `today + ${MAX_LOAN_LEAD_DAYS} days`, why: 'a loan is asked for a present need' },
  { input: 'LoanRequestInput.until', lower: 'from + 1 day', upper: 'from + 90 days', why: 'a loan has a due date, and is short' },
  { input: 'appraiseRecord(extendUntil)', lower: 'the day after max(current end of retention, today)', upper: `today + ${MAX_EXTENSION_YEARS} years`, why: 'an extension extends; longer than the longest period is a new appraisal' },
  { input: 'delegateApprovals(startsAt, endsAt)', lower: 'endsAt after startsAt and after now', upper: `endsAt ≤ now + ${MAX_DELEGATION_YEARS} year`, why: 'a stand-in for an absence, not a standing change of the route' },
  { input: 'expenseSummary, claimCycleTimes, syncStatistics(from, to)', lower: 'from ≤ to', upper: 'at most 366 days, both included', why: 'a report pipeline\'s work stays bounded (platform/business-time.ts)' },
  { input: 'recordsDueForAppraisal(before), auditLog(from, to)', lower: 'scalar range', upper: 'scalar range', why: 'filters: any day or instant finds what exists' },
  { input: 'AuditEntryInput.at', lower: '2000-01-01', upper: 'now + 5 minutes', why: 'the gateway stamped it (subgraphs/operations/audit/trail.ts)' },
  { input: 'claim and voucher totals (sum of items)', lower: '0.01', upper: formatMoney(MAX_MONEY_FEN), why: 'the largest Money the scalar reads back; integer fen stay exact' },
]);

const DAY_MS = 86_400_000;

const dayNumber = (day: string): number => Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10))) / DAY_MS;
const dayOf = (n: number): string => new Date(n * DAY_MS).toISOString().slice(0, 10);

/** `day` plus `days` calendar days. */
export const addDays = (day: string, days: number): string => dayOf(dayNumber(day) + days);

/** The same day `years` later (earlier if negative); 29 February becomes 28 February in other years. */
export function addYears(day: string, years: number): string {
  const [y, m, d] = [Number(day.slice(0, 4)) + years, Number(day.slice(5, 7)), Number(day.slice(8, 10))];
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(Math.min(d, last)).padStart(2, '0')}`;
}

/** "Now" and the zone in which its day is reckoned. */
export interface BusinessClock {
  timeZone: string;
  now: Date;
}

const todayIn = (clock: BusinessClock): string => today(clock.timeZone, clock.now);

/** A bound of a day: the day, what lying beyond it is ("in the future"), and how the message shows it. */
export interface DayBound {
  day: string;
  is: string;
  shown: string;
}

/** `day` must lie in lower..upper (both included): "<field> must not be <is> (<shown>)" otherwise. */
export function dayWithin(field: string, day: string, lower: DayBound | null, upper: DayBound | null): string {
  for (const [bound, beyond] of [[lower, (b: string) => day < b], [upper, (b: string) => day > b]] as const) {
    if (bound && beyond(bound.day)) throw badInput(`${field} must not be ${bound.is} (${bound.shown})`, field);
  }
  return day;
}

const notFuture = (clock: BusinessClock): DayBound => {
  const t = todayIn(clock);
  return { day: t, is: 'in the future', shown: `${t} in ${clock.timeZone}` };
};

/** An expense item's day: today or up to EXPENSE_MAX_AGE_YEARS before, in the business time zone. */
export function expenseDay(field: string, day: string, clock: BusinessClock): string {
  const earliest = addYears(todayIn(clock), -EXPENSE_MAX_AGE_YEARS);
  return dayWithin(field, day, { day: earliest, is: `more than ${EXPENSE_MAX_AGE_YEARS} years ago`, shown: `earliest ${earliest} in ${clock.timeZone}` }, notFuture(clock));
}

/**
 * An approved claim's item day: not before FIRST_FISCAL_YEAR and not in the future. oa applied the expense rule
 * (expenseDay) when the claim was filed; a stricter rule here, such as ten years before the approval, would refuse
 * an item oa accepted a little earlier, and a voucher refused here leaves an approved claim unfiled for ever.
 */
export function approvedItemDay(field: string, day: string, clock: BusinessClock): string {
  const earliest = `${FIRST_FISCAL_YEAR}-01-01`;
  return dayWithin(field, day, { day: earliest, is: `before ${earliest}`, shown: `earliest ${earliest}` }, notFuture(clock));
}

/** An instant another system stamped in the past: from FIRST_FISCAL_YEAR on, not later than now (plus skew). */
export function pastInstant(field: string, at: Date, now: Date): Date {
  if (Number.isNaN(at.getTime())) throw badInput(`${field} is not a valid instant`, field);
  if (at.getTime() < Date.UTC(FIRST_FISCAL_YEAR, 0, 1)) throw badInput(`${field} must not be before ${FIRST_FISCAL_YEAR}-01-01`, field);
  if (at.getTime() > now.getTime() + CLOCK_SKEW_MS) throw badInput(`${field} must not be in the future (now is ${now.toISOString()})`, field);
  return at;
}

/** A fiscal year: an integer from FIRST_FISCAL_YEAR to the current year (business time zone). */
export function fiscalYear(field: string, year: number, clock: BusinessClock): number {
  const current = Number(todayIn(clock).slice(0, 4));
  if (!Number.isInteger(year) || year < FIRST_FISCAL_YEAR || year > current) throw badInput(`${field} must be a year from ${FIRST_FISCAL_YEAR} to ${current}, the current year`, field);
  return year;
}

/** A fixed-asset card's disposal day: within or after the record's fiscal year, and not in the future. */
export function disposalDay(field: string, day: string, recordFiscalYear: number, clock: BusinessClock): string {
  const earliest = `${recordFiscalYear}-01-01`;
  return dayWithin(field, day, { day: earliest, is: `before the record's fiscal year ${recordFiscalYear}`, shown: `earliest ${earliest}` }, notFuture(clock));
}

/** A loan's first day: today up to MAX_LOAN_LEAD_DAYS ahead. (Its last day: borrowing.ts, MAX_LOAN_DAYS.) */
export function loanStartDay(field: string, day: string, clock: BusinessClock): string {
  const t = todayIn(clock);
  const latest = addDays(t, MAX_LOAN_LEAD_DAYS);
  return dayWithin(field, day, { day: t, is: 'in the past', shown: `today is ${t} in ${clock.timeZone}` }, { day: latest, is: `more than ${MAX_LOAN_LEAD_DAYS} days ahead`, shown: `latest ${latest}` });
}

/** A retention extension: after the current end and after today, at most MAX_EXTENSION_YEARS from today. */
export function extensionDay(field: string, day: string, currentEnd: string, clock: BusinessClock): string {
  const t = todayIn(clock);
  if (day <= currentEnd) throw badInput(`${field} must be later than the current end of retention ${currentEnd}`, field);
  if (day <= t) throw badInput(`${field} must be later than today (${t})`, field);
  const latest = addYears(t, MAX_EXTENSION_YEARS);
  return dayWithin(field, day, null, { day: latest, is: `more than ${MAX_EXTENSION_YEARS} years ahead`, shown: `latest ${latest}` });
}

/**
 * What is wrong with a delegation window, or null: endsAt after startsAt and after now, at most
 * MAX_DELEGATION_YEARS ahead. Returned rather than thrown: the workflow engine reports its own errors.
 */
export function delegationWindowProblem(startsAt: Date, endsAt: Date, now: Date): { field: string; message: string } | null {
  if (endsAt.getTime() <= startsAt.getTime()) return { field: 'endsAt', message: 'endsAt must be after startsAt' };
  if (endsAt.getTime() <= now.getTime()) return { field: 'endsAt', message: `endsAt must be in the future (now is ${now.toISOString()})` };
  const latest = new Date(now);
  latest.setUTCFullYear(latest.getUTCFullYear() + MAX_DELEGATION_YEARS);
  if (endsAt.getTime() > latest.getTime()) return { field: 'endsAt', message: `endsAt must not be more than ${MAX_DELEGATION_YEARS} year ahead (${latest.toISOString()})` };
  return null;
}

/** The exact sum of amounts in fen, refused above MAX_MONEY_FEN (never leaving the range where integers are exact). */
export function moneyTotal(field: string, amounts: readonly number[]): number {
  let total = 0;
  for (const a of amounts) {
    total += a;
    if (!Number.isSafeInteger(total) || Math.abs(total) > MAX_MONEY_FEN) throw badInput(`${field}: the total must not exceed ${formatMoney(MAX_MONEY_FEN)}`, field);
  }
  return total;
}
