// Closed means closed (issue 19 §3): a voucher whose date falls in a month that is closed, or being closed, is booked in
// the next open month (dated its first day, its own date and the reason kept on the voucher) or refused, as
// CLOSED_PERIOD_BOOKING says. Inside generateVouchers' transaction (vouchers.ts): every month a batch books into is
// written (`booked` counted up), so a close committing meanwhile (which writes the same document, periods.ts) and
// this booking conflict, and one of them runs again and sees the other.
import type { ClientSession, Connection } from 'mongoose';
import { conflict } from '../../../platform/graphql.ts';
import { periodModel } from './period-model.ts';

/** Where a voucher of `month` is booked, and why when it is not its own month. */
export interface Booking {
  month: string;
  fiscalYear: number;
  period: number;
  /** Set when the voucher's own month was not open. */
  moved?: { from: string; reason: string };
}

const nextMonth = (month: string): string => {
  const [y, m] = month.split('-').map(Number);
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
};

/** The booking of each month asked for (`YYYY-MM`), counting `counts` vouchers into each target month. */
export async function bookInto(connection: Connection, session: ClientSession, counts: ReadonlyMap<string, number>, policy: 'NEXT_OPEN' | 'REFUSE' = 'NEXT_OPEN'): Promise<Map<string, Booking>> {
  const Periods = periodModel(connection);
  const status = new Map<string, string>();
  const statusOf = async (month: string): Promise<string> => {
    let s = status.get(month);
    if (s === undefined) {
      const doc = await Periods.findById(month, { status: 1 }).session(session).lean<{ status: string }>();
      status.set(month, (s = doc?.status ?? 'OPEN'));
    }
    return s;
  };
  const closed = (await Periods.find({ _id: { $in: [...counts.keys()] } }, { status: 1 }).session(session).lean<Array<{ _id: string; status: string }>>());
  for (const p of closed) status.set(p._id, p.status);
  const out = new Map<string, Booking>();
  const booked = new Map<string, number>();
  for (const [month, n] of counts) {
    let target = month;
    const own = await statusOf(month);
    if (own !== 'OPEN') {
      if (policy === 'REFUSE') throw conflict(`${month} is ${own}: vouchers dated in it are refused (CLOSED_PERIOD_BOOKING=refuse); reopen the period to book them`);
      while ((await statusOf(target)) !== 'OPEN') target = nextMonth(target);
    }
    const [fiscalYear, period] = target.split('-').map(Number);
    out.set(month, { month: target, fiscalYear, period, ...(target !== month ? { moved: { from: month, reason: `${month} was ${own} when it was booked: booked in ${target}` } } : {}) });
    booked.set(target, (booked.get(target) ?? 0) + n);
  }
  for (const [month, n] of booked) {
    const [fiscalYear, period] = month.split('-').map(Number);
    await Periods.updateOne(
      { _id: month },
      { $inc: { booked: n }, $setOnInsert: { fiscalYear, period, status: 'OPEN', approvalId: null, requestedBy: null, requestedAt: null, closedAt: null, vouchers: 0, documents: [], lastRejection: null } },
      { upsert: true, session },
    );
  }
  return out;
}
