// A month too large to be closed within the call (close/periods.ts, CLOSE_INLINE_VOUCHERS; 2 here): closePeriod answers
// GENERATING at once, and from then on nothing is booked into the month; the archive's worker loop (started here as a
// restarted archive process would be) generates its documents and starts the approval (CLOSING, PERIOD_CLOSE_REQUESTED
// by the accountant who asked), and the approvals file them as for a small month. 50,000 vouchers are measured by
// `npm run bench -- close`.
import mongoose from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../platform/identity.ts';
import { createLogger } from '../../platform/logger.ts';
import { startArchiveSubgraph } from '../../subgraphs/archive/index.ts';
import { until } from '../helpers/wait.ts';
import { SECRET, SYNC, approvedClaim, testSettings, useArchiveSubgraph } from './fixture.ts';

const settings = { ...testSettings, close: { inlineVouchers: 2 } };
const closeReadiness = { closeBlockers: async () => [] };
const directory = {
  managerOf: async (d: string) => (d === 'dept-finance' ? 'finance-head' : null),
  parentOf: async () => null,
  departmentOf: async () => null,
  employeesWithRole: async (role: string) => (role === 'FINANCE_DIRECTOR' ? ['director-1'] : []),
};
const a = useArchiveSubgraph('period-close-background', undefined, undefined, { settings, closeReadiness, directory });

const user = (sub: string, roles: string[]): Principal => ({ sub, roles: ['EMPLOYEE', ...roles] as Principal['roles'], departmentId: 'dept-finance', kind: 'user' });
const accountant = user('accountant-1', ['ACCOUNTANT']);
const head = user('finance-head', ['MANAGER', 'ACCOUNTANT']);
const director = user('director-1', ['FINANCE_DIRECTOR']);

const PERIOD = 'id status requestedBy vouchers documents { name archiveNo } approvalSteps { key status }';
const CLOSE = `mutation($y: Int!, $p: Int!) { closePeriod(fiscalYear: $y, period: $p) { ${PERIOD} } }`;
const DECIDE = `mutation($y: Int!, $p: Int!) { decidePeriodClose(fiscalYear: $y, period: $p, decision: APPROVE) { ${PERIOD} } }`;
const GENERATE = 'mutation($c: [ApprovedClaimInput!]!) { generateVouchers(claims: $c) { id period date originalDate bookingNote } }';
type Period = { id: string; status: string; requestedBy: string | null; vouchers: number; documents: Array<{ name: string; archiveNo: string | null }>; approvalSteps: Array<{ key: string; status: string }> };
const october = (day: number) => approvedClaim({ approvedAt: `2026-10-${day}T02:00:00Z`, items: [{ description: 'Hotel', amount: '5500.50', occurredOn: '2026-10-01', invoiceNo: null }] });
const periodOf = async () => (await a.gql<{ accountingPeriods: Period[] }>(accountant, `query { accountingPeriods(fiscalYear: 2026) { ${PERIOD} } }`)).data!.accountingPeriods.find((p) => p.id === '2026-10')!;

beforeAll(async () => {
  const r = await a.gql(SYNC, GENERATE, { c: [october(12), october(13), october(14)] });
  expect(r.errors).toBeUndefined();
});

describe('closing a large month', () => {
  it('answers GENERATING at once; a voucher dated in the month meanwhile is booked in the next open one', async () => {
    const r = await a.gql<{ closePeriod: Period }>(accountant, CLOSE, { y: 2026, p: 10 });
    expect(r.errors).toBeUndefined();
    expect(r.data!.closePeriod).toMatchObject({ status: 'GENERATING', requestedBy: 'accountant-1', documents: [], approvalSteps: [] });
    expect((await a.gql(accountant, CLOSE, { y: 2026, p: 10 })).errors?.[0]?.message).toBe('2026-10 is GENERATING');
    const late = await a.gql<{ generateVouchers: Array<Record<string, unknown>> }>(SYNC, GENERATE, { c: [october(20)] });
    expect(late.data?.generateVouchers[0]).toMatchObject({ period: 11, date: '2026-11-01', originalDate: '2026-10-20', bookingNote: '2026-10 was GENERATING when it was booked: booked in 2026-11' });
    expect(await a.connection.collection('domain_events').countDocuments({ type: 'PERIOD_CLOSE_REQUESTED' })).toBe(0);
  });

  it('the archive worker loop (at start, as after a restart) generates the documents and starts the approval; the approvals file them', async () => {
    const connection = await mongoose.createConnection(a.uri).asPromise();
    const restarted = await startArchiveSubgraph({ connection, logger: createLogger({ level: 'silent' }), internalSecret: SECRET, production: false, directory, settings, closeReadiness, port: 0, host: '127.0.0.1', overdueIntervalMs: 60_000 });
    try {
      await until(async () => (await periodOf()).status === 'CLOSING', '2026-10 CLOSING', 60_000);
    } finally {
      await restarted.close();
      await connection.close();
    }
    const closing = await periodOf();
    // The three vouchers of October; the late one went to November.
    expect(closing).toMatchObject({ status: 'CLOSING', vouchers: 3, approvalSteps: [{ key: 'accounting-head', status: 'ACTIVE' }, { key: 'finance-director', status: 'WAITING' }] });
    expect(closing.documents.map((d) => d.name)).toContain('2026-10-trial-balance.pdf');
    const events = await a.connection.collection('domain_events').find({ type: 'PERIOD_CLOSE_REQUESTED' }).toArray();
    expect(events.map((e) => [e.actor, e.payload.detail])).toEqual([['accountant-1', `2026-10: ${closing.documents.length} documents from 3 vouchers await approval`]]);

    expect((await a.gql(head, DECIDE, { y: 2026, p: 10 })).errors).toBeUndefined();
    const closed = await a.gql<{ decidePeriodClose: Period }>(director, DECIDE, { y: 2026, p: 10 });
    expect(closed.errors).toBeUndefined();
    expect(closed.data!.decidePeriodClose.status).toBe('CLOSED');
    expect(closed.data!.decidePeriodClose.documents.every((d) => /^Q001-2026-D(30|10)-(ZB|BG)-\d{5}$/.test(d.archiveNo ?? ''))).toBe(true);
  }, 90_000);
});
