// Closing a period (issue 19 §1, §2) through the archive subgraph with gateway-signed calls, on the engine: refused
// naming every cause the readiness port gives (and nothing generated or stored); otherwise its books are generated,
// the close is approved by the head of accounting and then a finance director, and the approval files every document
// as its kind (ledgers ZB 30 years, the monthly report BG 10 years) with its 档号, the PDF in the manifest, the chain
// still verifying; a rejection needs its reason and reopens the period, its files deleted. Closed means closed: a
// voucher dated in a closed month is booked in the next open one (its date and the reason kept) or refused, as
// configured; a finance director reopens a closed month with a reason, and the next close corrects its documents.
// Events for each step.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../platform/identity.ts';
import type { CloseBlocker } from '../../subgraphs/archive/close/periods.ts';
import { archivePorts } from '../../subgraphs/archive/ports.ts';
import { SYNC, approvedClaim, useArchiveSubgraph } from './fixture.ts';

let blockers: CloseBlocker[] = [];
const asked: string[] = [];
const a = useArchiveSubgraph('period-close', undefined, undefined, {
  closeReadiness: {
    async closeBlockers(fiscalYear, period) {
      asked.push(`${fiscalYear}-${period}`);
      return blockers;
    },
  },
  // The organisation of the route: the finance department's head, and a finance director.
  directory: {
    managerOf: async (d) => (d === 'dept-finance' ? 'finance-head' : null),
    parentOf: async () => null,
    departmentOf: async () => null,
    employeesWithRole: async (role) => (role === 'FINANCE_DIRECTOR' ? ['director-1'] : role === 'ARCHIVIST' ? ['archivist-1'] : []),
  },
});

const user = (sub: string, roles: string[], departmentId = 'dept-finance'): Principal => ({ sub, roles: ['EMPLOYEE', ...roles] as Principal['roles'], departmentId, kind: 'user' });
const accountant = user('accountant-1', ['ACCOUNTANT']);
const head = user('finance-head', ['MANAGER', 'ACCOUNTANT']);
const director = user('director-1', ['FINANCE_DIRECTOR']);
const archivist = user('archivist-1', ['ARCHIVIST'], 'dept-archive');

const PERIOD = `id fiscalYear period status requestedBy vouchers closedAt reopenings { by reason } superseded { name archiveNo }
  documents { kind title name mediaType size sha256 pages accountCode archiveNo archiveRecord { id archiveNo kind category retention fiscalYear files { name mediaType size sha256 } filingReport { passed } } }
  approvalSteps { key status assigneeIds decidedBy } lastRejection { by reason }`;
const CLOSE = `mutation($y: Int!, $p: Int!) { closePeriod(fiscalYear: $y, period: $p) { ${PERIOD} } }`;
const DECIDE = `mutation($y: Int!, $p: Int!, $d: ArchiveDecision!, $c: String) { decidePeriodClose(fiscalYear: $y, period: $p, decision: $d, comment: $c) { ${PERIOD} } }`;

type Period = {
  id: string;
  status: string;
  vouchers: number;
  documents: Array<{ kind: string; name: string; size: number; sha256: string; archiveNo: string | null; archiveRecord: { kind: string; category: string; retention: string; archiveNo: string; files: Array<{ name: string; sha256: string; size: number }>; filingReport: { passed: boolean } } | null }>;
  approvalSteps: Array<{ key: string; status: string; assigneeIds: string[] }>;
  lastRejection: { by: string; reason: string } | null;
  reopenings: Array<{ by: string; reason: string }>;
  superseded: Array<{ name: string; archiveNo: string }>;
};
const GENERATE = 'mutation($c: [ApprovedClaimInput!]!) { generateVouchers(claims: $c) { id voucherNo fiscalYear period date originalDate bookingNote } }';

const events = (id: string) => a.connection.collection('domain_events').find({ 'subject.type': 'AccountingPeriod', 'subject.id': id }).sort({ seq: 1 }).toArray();
const bucketFiles = () => a.connection.collection('archive_files.files').countDocuments({ filename: /-(trial-balance|general-ledger|detail-ledger|monthly-report|quarterly-report)/ });

beforeAll(async () => {
  // Vouchers of November and October 2026, booked as the sync service books them.
  const claims = [...Array.from({ length: 6 }, () => approvedClaim()), ...Array.from({ length: 3 }, () => approvedClaim({ approvedAt: '2026-10-15T02:00:00Z', items: [{ description: 'Taxi', amount: '5500.50', occurredOn: '2026-10-10', invoiceNo: null }] }))];
  const r = await a.gql(SYNC, 'mutation($c: [ApprovedClaimInput!]!) { generateVouchers(claims: $c) { id } }', { c: claims });
  expect(r.errors).toBeUndefined();
});

describe('closing a period', () => {
  it('is refused naming every cause while the month is not ready, and nothing is generated or stored', async () => {
    blockers = [
      { code: 'CLAIMS_WITHOUT_VOUCHER', count: 2, detail: '2 claim(s) approved in 2026-11 have no voucher: BX-1, BX-2' },
      { code: 'SYNC_JOBS_FAILING', count: 1, detail: '1 sync job(s) of 2026-11 are failing: BX-3' },
      { code: 'RECONCILIATION_DIFFERENCES', count: 4, detail: 'the latest reconciliation of 2026-11 has 4 difference(s)' },
    ];
    const r = await a.gql(accountant, CLOSE, { y: 2026, p: 11 });
    expect(r.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(r.errors?.[0]?.message).toBe(`2026-11 cannot be closed: ${blockers.map((b) => b.detail).join('; ')}`);
    expect((r.errors?.[0]?.extensions as { causes?: unknown } | undefined)?.causes).toEqual(blockers);
    expect(asked).toContain('2026-11');
    expect(await bucketFiles()).toBe(0);
    expect(await events('2026-11')).toEqual([]);
    const periods = await a.gql<{ accountingPeriods: Array<{ id: string; status: string }> }>(accountant, '{ accountingPeriods(fiscalYear: 2026) { id status } }');
    expect(periods.data?.accountingPeriods.find((p) => p.id === '2026-11')?.status).toBe('OPEN');
    blockers = [];
  });

  it('is refused for a month not yet over, to anyone but an ACCOUNTANT, and for a month out of range', async () => {
    expect((await a.gql(accountant, CLOSE, { y: 2026, p: 12 })).errors?.[0]?.message).toBe('2026-12 has not ended yet: a period is closed after its last day');
    expect((await a.gql(archivist, CLOSE, { y: 2026, p: 11 })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await a.gql(accountant, CLOSE, { y: 2026, p: 13 })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'period' });
  });

  it('generates the books, goes to approval, and files every document as its kind once the finance director approves', async () => {
    const r = await a.gql<{ closePeriod: Period }>(accountant, CLOSE, { y: 2026, p: 11 });
    expect(r.errors).toBeUndefined();
    const closing = r.data!.closePeriod;
    expect(closing).toMatchObject({ id: '2026-11', status: 'CLOSING', vouchers: 6 });
    expect(closing.documents.map((d) => d.name)).toEqual([
      '2026-11-trial-balance.pdf',
      '2026-11-general-ledger.pdf',
      '2026-11-detail-ledger-2241.pdf',
      '2026-11-detail-ledger-6602.01.pdf',
      '2026-11-monthly-report.pdf',
    ]);
    expect(closing.documents.every((d) => d.archiveRecord === null && d.size > 1000)).toBe(true);
    expect(closing.approvalSteps.map((s) => [s.key, s.status, s.assigneeIds])).toEqual([
      ['accounting-head', 'ACTIVE', ['finance-head']],
      ['finance-director', 'WAITING', ['director-1']],
    ]);
    expect(await bucketFiles()).toBe(5);
    // Not twice, and not by the finance director before the head of accounting.
    expect((await a.gql(accountant, CLOSE, { y: 2026, p: 11 })).errors?.[0]?.message).toBe('2026-11 is CLOSING');
    expect((await a.gql(director, DECIDE, { y: 2026, p: 11, d: 'APPROVE' })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const first = await a.gql<{ decidePeriodClose: Period }>(head, DECIDE, { y: 2026, p: 11, d: 'APPROVE' });
    expect(first.errors).toBeUndefined();
    expect(first.data!.decidePeriodClose.status).toBe('CLOSING');
    const last = await a.gql<{ decidePeriodClose: Period }>(director, DECIDE, { y: 2026, p: 11, d: 'APPROVE', c: '同意结账' });
    expect(last.errors).toBeUndefined();
    const closed = last.data!.decidePeriodClose;
    expect(closed.status).toBe('CLOSED');
    const filed = closed.documents.map((d) => [d.archiveRecord!.kind, d.archiveRecord!.category, d.archiveRecord!.retention, d.archiveRecord!.filingReport.passed]);
    expect(filed).toEqual([
      ['GENERAL_LEDGER', 'ZB', 'Y30', true],
      ['GENERAL_LEDGER', 'ZB', 'Y30', true],
      ['SUBSIDIARY_LEDGER', 'ZB', 'Y30', true],
      ['SUBSIDIARY_LEDGER', 'ZB', 'Y30', true],
      ['MONTHLY_REPORT', 'BG', 'Y10', true],
    ]);
    // 档号 of the series, items running on; the PDF is the record's file, with the digest generated.
    expect(closed.documents.map((d) => d.archiveNo)).toEqual(['Q001-2026-D30-ZB-00001', 'Q001-2026-D30-ZB-00002', 'Q001-2026-D30-ZB-00003', 'Q001-2026-D30-ZB-00004', 'Q001-2026-D10-BG-00001']);
    for (const d of closed.documents) expect(d.archiveRecord!.files).toEqual([{ name: d.name, mediaType: 'application/pdf', size: d.size, sha256: d.sha256 }]);
    const chain = await a.gql<{ verifyArchiveChain: { ok: boolean } }>(archivist, '{ verifyArchiveChain { ok } }');
    expect(chain.data?.verifyArchiveChain.ok).toBe(true);
    expect((await events('2026-11')).map((e) => e.type)).toEqual(['PERIOD_CLOSE_REQUESTED', 'PERIOD_CLOSED']);
    expect((await a.gql(accountant, CLOSE, { y: 2026, p: 11 })).errors?.[0]?.message).toBe('2026-11 is CLOSED');
  });

  it('a rejection needs its reason, reopens the period with it and deletes the generated files', async () => {
    const before = await bucketFiles();
    const r = await a.gql<{ closePeriod: Period }>(accountant, CLOSE, { y: 2026, p: 10 });
    expect(r.errors).toBeUndefined();
    expect(r.data!.closePeriod.vouchers).toBe(3);
    expect(await bucketFiles()).toBe(before + 5);
    expect((await a.gql(head, DECIDE, { y: 2026, p: 10, d: 'REJECT' })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'comment' });
    const rejected = await a.gql<{ decidePeriodClose: Period }>(head, DECIDE, { y: 2026, p: 10, d: 'REJECT', c: '差旅费分类有误，请更正后重新结账' });
    expect(rejected.errors).toBeUndefined();
    expect(rejected.data!.decidePeriodClose).toMatchObject({ status: 'OPEN', documents: [], lastRejection: { by: 'finance-head', reason: '差旅费分类有误，请更正后重新结账' } });
    expect(await bucketFiles()).toBe(before);
    const evs = await events('2026-10');
    expect(evs.map((e) => e.type)).toEqual(['PERIOD_CLOSE_REQUESTED', 'PERIOD_REOPENED']);
    expect(evs[1].payload.detail).toBe('2026-10 reopened: the close was rejected: 差旅费分类有误，请更正后重新结账');
    // Open again: it can be closed again.
    const again = await a.gql<{ closePeriod: Period }>(accountant, CLOSE, { y: 2026, p: 10 });
    expect(again.data?.closePeriod.status).toBe('CLOSING');
  });
});

describe('closed means closed', () => {
  it('a voucher dated in the closed month is booked in the next open month, its own date and the reason kept', async () => {
    const late = approvedClaim({ approvedAt: '2026-11-28T03:00:00Z' });
    const r = await a.gql<{ generateVouchers: Array<Record<string, unknown>> }>(SYNC, GENERATE, { c: [late] });
    expect(r.errors).toBeUndefined();
    expect(r.data!.generateVouchers[0]).toMatchObject({ fiscalYear: 2026, period: 12, date: '2026-12-01', originalDate: '2026-11-28', bookingNote: '2026-11 was CLOSED when it was booked: booked in 2026-12' });
    expect(r.data!.generateVouchers[0].voucherNo).toMatch(/^记-2026-12-\d{4}$/);
    // Reconciliation of December reads it as a claim of November's, moved (subgraphs/sync/reconcile.ts).
    const december = await archivePorts(a.connection).ledger.vouchersOf(2026, 12, []);
    expect(december.find((v) => v.claimId === late.claimId)?.movedFrom).toBe('2026-11');
  });

  it('or refused, when CLOSED_PERIOD_BOOKING=refuse', async () => {
    a.services.settings.closedPeriodBooking = 'REFUSE';
    try {
      const r = await a.gql(SYNC, GENERATE, { c: [approvedClaim({ approvedAt: '2026-11-29T03:00:00Z' })] });
      expect(r.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(r.errors?.[0]?.message).toBe('2026-11 is CLOSED: vouchers dated in it are refused (CLOSED_PERIOD_BOOKING=refuse); reopen the period to book them');
    } finally {
      a.services.settings.closedPeriodBooking = 'NEXT_OPEN';
    }
  });

  it('a finance director reopens a closed month with a reason; the next close files corrections of its documents, never altering them', async () => {
    const REOPEN = `mutation($y: Int!, $p: Int!, $r: String!) { reopenPeriod(fiscalYear: $y, period: $p, reason: $r) { ${PERIOD} } }`;
    expect((await a.gql(accountant, REOPEN, { y: 2026, p: 11, r: '补录' })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await a.gql(director, REOPEN, { y: 2026, p: 11, r: '  ' })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'reason' });
    const before = await a.connection.collection('archive_records').find({ title: /^2026-11 / }).project({ archiveNo: 1, fixity: 1 }).toArray();
    expect(before).toHaveLength(5);
    const reopened = await a.gql<{ reopenPeriod: Period }>(director, REOPEN, { y: 2026, p: 11, r: '审计调整，需补录一张凭证' });
    expect(reopened.errors).toBeUndefined();
    expect(reopened.data!.reopenPeriod).toMatchObject({ status: 'OPEN', documents: [], reopenings: [{ by: 'director-1', reason: '审计调整，需补录一张凭证' }] });
    expect(reopened.data!.reopenPeriod.superseded.map((d) => d.archiveNo)).toEqual(before.map((r) => r.archiveNo));
    expect((await events('2026-11')).map((e) => e.type)).toEqual(['PERIOD_CLOSE_REQUESTED', 'PERIOD_CLOSED', 'PERIOD_REOPENED']);
    expect((await a.gql(director, REOPEN, { y: 2026, p: 11, r: 'again' })).errors?.[0]?.message).toBe('2026-11 is OPEN; only a CLOSED period is reopened');

    // Open again: a voucher of the month is booked in it, and the close runs again.
    const more = await a.gql<{ generateVouchers: Array<{ period: number; originalDate: string | null }> }>(SYNC, GENERATE, { c: [approvedClaim({ approvedAt: '2026-11-29T03:00:00Z' })] });
    expect(more.data?.generateVouchers[0]).toMatchObject({ period: 11, originalDate: null });
    const closing = await a.gql<{ closePeriod: Period }>(accountant, CLOSE, { y: 2026, p: 11 });
    expect(closing.data?.closePeriod).toMatchObject({ status: 'CLOSING', vouchers: 7 });
    await a.gql(head, DECIDE, { y: 2026, p: 11, d: 'APPROVE' });
    const closed = (await a.gql<{ decidePeriodClose: Period }>(director, DECIDE, { y: 2026, p: 11, d: 'APPROVE' })).data!.decidePeriodClose;
    expect(closed).toMatchObject({ status: 'CLOSED', superseded: [] });
    // The earlier records are untouched but for their correction's link; each new document corrects the one of its name.
    const names = new Map(reopened.data!.reopenPeriod.superseded.map((d) => [d.archiveNo, d.name]));
    for (const old of before) {
      const now = await a.connection.collection('archive_records').findOne({ _id: old._id });
      expect(now!.fixity).toEqual(old.fixity);
      const replacement = closed.documents.find((d) => d.name === names.get(old.archiveNo))!;
      const record = await a.connection.collection('archive_records').findOne({ archiveNo: replacement.archiveNo });
      expect([record!.correctsId, now!.correctedById]).toEqual([old._id.toHexString(), record!._id.toHexString()]);
    }
    const chain = await a.gql<{ verifyArchiveChain: { ok: boolean } }>(archivist, '{ verifyArchiveChain { ok } }');
    expect(chain.data?.verifyArchiveChain.ok).toBe(true);
  });
});
