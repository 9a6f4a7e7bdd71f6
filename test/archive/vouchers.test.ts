// Vouchers and their filing through the archive subgraph's own endpoint.
import { describe, expect, it } from 'vitest';
import { ok } from '../oa/fixture.ts';
import { codes } from '../oa/fixture.ts';
import { SYNC, approvedClaim, archivist, auditor, useArchiveSubgraph } from './fixture.ts';

const archive = useArchiveSubgraph('archive_vouchers');

const GENERATE = `mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) {
  id voucherNo fiscalYear period date debitTotal creditTotal
  entries { summary accountCode accountName debit credit }
  claim { id }
} }`;
const FILE = `mutation($v: ID!) { fileVoucher(voucherId: $v) {
  id archiveNo category kind title fiscalYear retention retentionStartsOn expiresOn status sourceClaimNo invoiceNumbers
  fixity { algorithm digest previousDigest } voucher { voucherNo }
} }`;

type Voucher = { id: string; voucherNo: string; fiscalYear: number; period: number; date: string; debitTotal: string; creditTotal: string; entries: Array<Record<string, string>>; claim: { id: string } };
type Record_ = { id: string; archiveNo: string; retention: string; retentionStartsOn: string; expiresOn: string; status: string; fixity: { digest: string; previousDigest: string | null }; invoiceNumbers: string[] };

describe('vouchers', () => {
  it('books an approved claim as a balanced double entry, numbered within its period, exactly once', async () => {
    const claim = approvedClaim();
    const v = ok(await archive.gql<{ generateVoucher: Voucher }>(SYNC, GENERATE, { c: claim })).generateVoucher;
    expect(v).toMatchObject({ fiscalYear: 2026, period: 11, date: '2026-11-20', debitTotal: '5500.50', creditTotal: '5500.50', claim: { id: claim.claimId } });
    expect(v.voucherNo).toMatch(/^记-2026-11-\d{4}$/);
    expect(v.entries).toEqual([
      { summary: `${claim.claimNo} Trip to Shanghai`, accountCode: '6602.01', accountName: '管理费用-差旅费', debit: '5500.50', credit: '0.00' },
      { summary: `${claim.claimNo} 应付报销款`, accountCode: '2241', accountName: '其他应付款', debit: '0.00', credit: '5500.50' },
    ]);
    const again = ok(await archive.gql<{ generateVoucher: Voucher }>(SYNC, GENERATE, { c: claim })).generateVoucher;
    expect(again.id).toBe(v.id);
    expect(await archive.services.models.Voucher.countDocuments({ claimId: claim.claimId })).toBe(1);
    const events = await archive.services.events.forSubject({ type: 'ExpenseClaim', id: claim.claimId });
    expect(events.map((e) => e.type)).toEqual(['VOUCHER_CREATED']);
  });

  it('numbers vouchers per period without gaps, also under concurrent generation of the same claim', async () => {
    const a = approvedClaim({ approvedAt: '2026-10-31T17:00:00Z' }); // 2026-11-01 01:00 in Shanghai
    const b = approvedClaim({ approvedAt: '2026-10-15T02:00:00Z' });
    const [v1, v1again] = await Promise.all([archive.gql<{ generateVoucher: Voucher }>(SYNC, GENERATE, { c: a }), archive.gql<{ generateVoucher: Voucher }>(SYNC, GENERATE, { c: a })]);
    expect(ok(v1).generateVoucher.id).toBe(ok(v1again).generateVoucher.id);
    expect(ok(v1).generateVoucher.period).toBe(11);
    const v2 = ok(await archive.gql<{ generateVoucher: Voucher }>(SYNC, GENERATE, { c: b })).generateVoucher;
    expect(v2.voucherNo).toBe('记-2026-10-0001');
    const november = (await archive.services.models.Voucher.find({ fiscalYear: 2026, period: 11 }).lean()).map((x) => Number(x.voucherNo.slice(-4))).sort((x, y) => x - y);
    expect(november).toEqual(november.map((_, i) => i + 1));
  });

  it('refuses a claim whose total is not the sum of its items, and anyone but a service', async () => {
    expect(codes(await archive.gql(SYNC, GENERATE, { c: approvedClaim({ total: '5500.51' }) }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await archive.gql(SYNC, GENERATE, { c: approvedClaim({ category: 'UNKNOWN' }) }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await archive.gql(archivist(), GENERATE, { c: approvedClaim() }))).toEqual(['FORBIDDEN']);
  });
});

describe('filing', () => {
  it('files a voucher once, with 30-year retention from the day after its fiscal year, an archive number and a chained digest', async () => {
    const claim = approvedClaim();
    const v = ok(await archive.gql<{ generateVoucher: Voucher }>(SYNC, GENERATE, { c: claim })).generateVoucher;
    const r = ok(await archive.gql<{ fileVoucher: Record_ }>(SYNC, FILE, { v: v.id })).fileVoucher;
    expect(r).toMatchObject({ category: 'PZ', kind: 'BOOKKEEPING_VOUCHER', fiscalYear: 2026, retention: 'Y30', retentionStartsOn: '2027-01-01', expiresOn: '2056-12-31', status: 'FILED', sourceClaimNo: claim.claimNo });
    expect(r.archiveNo).toMatch(/^Q001-2026-D30-PZ-\d{5}$/);
    expect(r.invoiceNumbers).toEqual([`${claim.items[0].invoiceNo}`, `${claim.items[1].invoiceNo}`]);
    expect(r.fixity.digest).toMatch(/^[0-9a-f]{64}$/);
    const again = ok(await archive.gql<{ fileVoucher: Record_ }>(SYNC, FILE, { v: v.id })).fileVoucher;
    expect(again.id).toBe(r.id);
    const events = await archive.services.events.forSubject({ type: 'ExpenseClaim', id: claim.claimId });
    expect(events.map((e) => e.type)).toEqual(['VOUCHER_CREATED', 'ARCHIVE_FILED']);
    // The claim seen from the archive subgraph, as the gateway resolves it.
    const entity = ok(await archive.gql<{ _entities: Array<{ voucher: { id: string }; archiveRecord: { archiveNo: string } }> }>(auditor, 'query($r: [_Any!]!) { _entities(representations: $r) { ... on ExpenseClaim { voucher { id } archiveRecord { archiveNo } } } }', { r: [{ __typename: 'ExpenseClaim', id: claim.claimId }] }))._entities;
    expect(entity).toEqual([{ voucher: { id: v.id }, archiveRecord: { archiveNo: r.archiveNo } }]);
  });

  it('keeps archive numbers gap-free within a series and chains each record to the previous one', async () => {
    const records: Record_[] = [];
    for (let i = 0; i < 3; i++) {
      const v = ok(await archive.gql<{ generateVoucher: Voucher }>(SYNC, GENERATE, { c: approvedClaim() })).generateVoucher;
      records.push(ok(await archive.gql<{ fileVoucher: Record_ }>(SYNC, FILE, { v: v.id })).fileVoucher);
    }
    const items = records.map((r) => Number(r.archiveNo.slice(-5)));
    expect(items).toEqual([items[0], items[0] + 1, items[0] + 2]);
    expect(records[1].fixity.previousDigest).toBe(records[0].fixity.digest);
    expect(records[2].fixity.previousDigest).toBe(records[1].fixity.digest);
  });
});
