// generateVouchers and fileVouchers: the sync pipeline's batches. Each booked and filed as if one by one (numbers,
// chains, events, reports), in one transaction, all or nothing.
import { describe, expect, it } from 'vitest';
import { codes, ok } from '../oa/fixture.ts';
import { SYNC, approvedClaim, archivist, auditor, useArchiveSubgraph } from './fixture.ts';

const archive = useArchiveSubgraph('archive_voucher_batches');

const GENERATE_ONE = 'mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id voucherNo } }';
const GENERATE = 'mutation($c: [ApprovedClaimInput!]!) { generateVouchers(claims: $c) { id voucherNo period claim { id } debitTotal creditTotal } }';
const FILE_ONE = 'mutation($v: ID!) { fileVoucher(voucherId: $v) { id archiveNo } }';
const RECORD = 'id archiveNo kind category title retention status sourceClaimNo invoiceNumbers fixity { digest previousDigest } voucher { id voucherNo } filingReport { passed }';
const FILE = `mutation($v: [ID!]!) { fileVouchers(voucherIds: $v) { ${RECORD} } }`;
const VERIFY = '{ verifyArchiveChain { ok checked firstBrokenArchiveNo problem } }';

type Voucher = { id: string; voucherNo: string; period: number; claim: { id: string }; debitTotal: string; creditTotal: string };
type Filed = { id: string; archiveNo: string; title: string; sourceClaimNo: string; fixity: { digest: string; previousDigest: string | null }; voucher: { id: string; voucherNo: string }; filingReport: { passed: boolean } };

const item = (no: string) => Number(no.slice(-4));
/** The one value answered for each key, across answers: a key answered with two values fails. */
function oneEach(pairs: Array<[string, string]>): Map<string, string> {
  const seen = new Map<string, string>();
  for (const [key, value] of pairs) {
    expect(seen.get(key) ?? value).toBe(value);
    seen.set(key, value);
  }
  return seen;
}
const counter = async (key: string) => (await archive.connection.collection<{ _id: string; seq: number }>('counters').findOne({ _id: key }))?.seq ?? 0;

describe('generateVouchers', () => {
  it('books many claims in their order, each once, numbered per period without gaps, one VOUCHER_CREATED each', async () => {
    const before = ok(await archive.gql<{ generateVoucher: { id: string; voucherNo: string } }>(SYNC, GENERATE_ONE, { c: approvedClaim() })).generateVoucher;
    const existing = approvedClaim();
    const had = ok(await archive.gql<{ generateVoucher: { id: string; voucherNo: string } }>(SYNC, GENERATE_ONE, { c: existing })).generateVoucher;
    const october = approvedClaim({ approvedAt: '2026-10-15T02:00:00Z' });
    const fresh = [approvedClaim(), october, approvedClaim(), approvedClaim()];
    // The same claim twice in a batch, and one already booked: answered with their vouchers, not booked again.
    const claims = [fresh[0], existing, fresh[1], fresh[2], fresh[0], fresh[3]];
    const vouchers = ok(await archive.gql<{ generateVouchers: Voucher[] }>(SYNC, GENERATE, { c: claims })).generateVouchers;
    expect(vouchers.map((v) => v.claim.id)).toEqual(claims.map((c) => c.claimId));
    expect(vouchers[1].id).toBe(had.id);
    expect(vouchers[4].id).toBe(vouchers[0].id);
    expect(vouchers.map((v) => v.period)).toEqual([11, 11, 10, 11, 11, 11]);
    for (const v of vouchers) expect(v.debitTotal).toBe(v.creditTotal);
    // November: the three new claims follow the two booked alone, in the batch's order.
    const november = [vouchers[0], vouchers[3], vouchers[5]].map((v) => item(v.voucherNo));
    expect(november).toEqual([item(had.voucherNo) + 1, item(had.voucherNo) + 2, item(had.voucherNo) + 3]);
    expect(item(had.voucherNo)).toBe(item(before.voucherNo) + 1);
    expect(vouchers[2].voucherNo).toMatch(/^记-2026-10-\d{4}$/);
    expect(await counter('voucherNo:2026-11')).toBe(november[2]);
    for (const c of [...fresh, existing]) {
      expect(await archive.services.models.Voucher.countDocuments({ claimId: c.claimId })).toBe(1);
      const events = await archive.services.events.forSubject({ type: 'ExpenseClaim', id: c.claimId });
      expect(events.map((e) => e.type)).toEqual(['VOUCHER_CREATED']);
    }
    // The events of the batch are consecutive in the log, in the batch's order.
    const created = await archive.services.events.events.find({ type: 'VOUCHER_CREATED', 'subject.id': { $in: fresh.map((c) => c.claimId) } }).sort({ seq: 1 }).lean();
    expect(created.map((e) => e.subject.id)).toEqual(fresh.map((c) => c.claimId));
    expect(created.map((e) => e.seq - created[0].seq)).toEqual([0, 1, 2, 3]);
  });

  it('is all or nothing: a claim it refuses stores none of the batch and draws no number', async () => {
    const good = [approvedClaim(), approvedClaim()];
    const numberBefore = await counter('voucherNo:2026-11');
    const eventsBefore = await archive.services.events.events.countDocuments({ type: 'VOUCHER_CREATED' });
    const res = await archive.gql(SYNC, GENERATE, { c: [good[0], approvedClaim({ total: '1.00' }), good[1]] });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(await archive.services.models.Voucher.countDocuments({ claimId: { $in: good.map((c) => c.claimId) } })).toBe(0);
    expect(await counter('voucherNo:2026-11')).toBe(numberBefore);
    expect(await archive.services.events.events.countDocuments({ type: 'VOUCHER_CREATED' })).toBe(eventsBefore);
  });

  it('is for service identities only, and takes at most 100 claims', async () => {
    expect(codes(await archive.gql(archivist(), GENERATE, { c: [approvedClaim()] }))).toEqual(['FORBIDDEN']);
    expect(codes(await archive.gql(auditor, GENERATE, { c: [approvedClaim()] }))).toEqual(['FORBIDDEN']);
    const many = Array.from({ length: 101 }, () => approvedClaim());
    expect(codes(await archive.gql(SYNC, GENERATE, { c: many }))).toEqual(['BAD_USER_INPUT']);
    expect(await archive.services.models.Voucher.countDocuments({ claimId: { $in: many.map((c) => c.claimId) } })).toBe(0);
  });
});

describe('fileVouchers', () => {
  const generate = async (n: number) => ok(await archive.gql<{ generateVouchers: Voucher[] }>(SYNC, GENERATE, { c: Array.from({ length: n }, () => approvedClaim()) })).generateVouchers;

  it('files many vouchers in their order, each once, with consecutive archive numbers, one chain, histories and ARCHIVE_FILED', async () => {
    const vouchers = await generate(6);
    const alone = ok(await archive.gql<{ fileVoucher: { id: string; archiveNo: string } }>(SYNC, FILE_ONE, { v: vouchers[1].id })).fileVoucher;
    const ids = [vouchers[0].id, vouchers[1].id, vouchers[2].id, vouchers[0].id, vouchers[3].id.toUpperCase(), vouchers[4].id, vouchers[5].id];
    const records = ok(await archive.gql<{ fileVouchers: Filed[] }>(SYNC, FILE, { v: ids })).fileVouchers;
    expect(records.map((r) => r.voucher.id)).toEqual(ids.map((id) => id.toLowerCase()));
    expect(records[1].id).toBe(alone.id);
    expect(records[3].id).toBe(records[0].id);
    const fresh = [records[0], records[2], records[4], records[5], records[6]];
    expect(fresh.map((r) => Number(r.archiveNo.slice(-5)))).toEqual([1, 2, 3, 4, 5].map((k) => Number(alone.archiveNo.slice(-5)) + k));
    // Chained one to the next, the first to the record filed before the batch.
    for (let i = 1; i < fresh.length; i++) expect(fresh[i].fixity.previousDigest).toBe(fresh[i - 1].fixity.digest);
    const aloneStored = await archive.services.models.ArchiveRecord.findById(alone.id).lean();
    expect(fresh[0].fixity.previousDigest).toBe(aloneStored!.fixity.digest);
    for (const [i, r] of fresh.entries()) {
      const v = vouchers[[0, 2, 3, 4, 5][i]];
      expect(r).toMatchObject({ kind: 'BOOKKEEPING_VOUCHER', category: 'PZ', retention: 'Y30', status: 'FILED', title: `记账凭证 ${v.voucherNo} Trip to Shanghai`, filingReport: { passed: true } });
      expect(await archive.services.models.ArchiveRecord.countDocuments({ voucherId: v.id })).toBe(1);
      const events = await archive.services.events.forSubject({ type: 'ExpenseClaim', id: v.claim.id });
      expect(events.map((e) => e.type)).toEqual(['VOUCHER_CREATED', 'ARCHIVE_FILED']);
      expect(events[1].payload).toMatchObject({ archiveRecordId: r.id, archiveNo: r.archiveNo, voucherId: v.id, claimId: v.claim.id, applicantId: 'emp-alice', departmentId: 'dept-sales' });
      const history = await archive.connection.collection('archive_record_history').find({ recordId: r.id }).toArray();
      expect(history.map((h) => h.action)).toEqual(['FILED']);
    }
    expect(ok(await archive.gql<{ verifyArchiveChain: { ok: boolean; problem: string | null } }>(auditor, VERIFY)).verifyArchiveChain).toMatchObject({ ok: true, problem: null });
  });

  it('asks the database the same few times for a batch of 2 as for one of 40', async () => {
    const commandsOf = async (n: number) => {
      const vouchers = await generate(n);
      archive.commands.length = 0;
      const records = ok(await archive.gql<{ fileVouchers: Filed[] }>(SYNC, FILE, { v: vouchers.map((v) => v.id) })).fileVouchers;
      expect(records.map((r) => r.filingReport.passed)).toEqual(vouchers.map(() => true));
      // To the commit: after it, the answer's fields (the records' vouchers) are read as for any query.
      return archive.commands.slice(0, archive.commands.indexOf('commitTransaction') + 1);
    };
    // The chain's first record has no predecessor to read: measured after it.
    await commandsOf(1);
    const small = await commandsOf(2);
    const large = await commandsOf(40);
    expect(large).toEqual(small);
    // Vouchers and records read, numbers and chain position drawn, duplicates and the chain's head read, the records
    // inserted with their reports and read back, their histories, the events, the commit: one voucher read, no update.
    expect(large.length).toBe(14);
    expect(large.filter((c) => c === 'update')).toEqual([]);
  });

  it('is all or nothing: an unknown voucher files none of the batch', async () => {
    const vouchers = await generate(2);
    const chainBefore = await counter('archiveChain');
    const res = await archive.gql(SYNC, FILE, { v: [vouchers[0].id, '0123456789abcdef01234567', vouchers[1].id] });
    expect(codes(res)).toEqual(['NOT_FOUND']);
    expect(codes(await archive.gql(SYNC, FILE, { v: [vouchers[0].id, 'not-an-id'] }))).toEqual(['NOT_FOUND']);
    expect(await archive.services.models.ArchiveRecord.countDocuments({ voucherId: { $in: vouchers.map((v) => v.id) } })).toBe(0);
    expect(await counter('archiveChain')).toBe(chainBefore);
  });

  it('files each voucher once when batches overlap, concurrently', async () => {
    const vouchers = await generate(8);
    const ids = vouchers.map((v) => v.id);
    const [a, b, c] = await Promise.all([
      archive.gql<{ fileVouchers: Filed[] }>(SYNC, FILE, { v: ids.slice(0, 5) }),
      archive.gql<{ fileVouchers: Filed[] }>(SYNC, FILE, { v: ids.slice(3) }),
      archive.gql<{ fileVoucher: { id: string } }>(SYNC, FILE_ONE, { v: ids[4] }),
    ]);
    const byVoucher = oneEach([...ok(a).fileVouchers, ...ok(b).fileVouchers].map((r) => [r.voucher.id, r.id]));
    expect(ok(c).fileVoucher.id).toBe(byVoucher.get(ids[4]));
    for (const id of ids) expect(await archive.services.models.ArchiveRecord.countDocuments({ voucherId: id })).toBe(1);
    expect(ok(await archive.gql<{ verifyArchiveChain: { ok: boolean } }>(auditor, VERIFY)).verifyArchiveChain.ok).toBe(true);
  });

  it('books and files each claim once when two archive instances take overlapping batches at once', async () => {
    const other = await archive.another();
    const claims = Array.from({ length: 12 }, () => approvedClaim());
    // Each instance books most of the claims, the two batches overlapping in the middle, several times over.
    const generated = await Promise.all([
      archive.gql<{ generateVouchers: Voucher[] }>(SYNC, GENERATE, { c: claims.slice(0, 8) }),
      other.gql<{ generateVouchers: Voucher[] }>(SYNC, GENERATE, { c: claims.slice(4) }),
      other.gql<{ generateVouchers: Voucher[] }>(SYNC, GENERATE, { c: claims.slice(2, 10) }),
    ]);
    const voucherOf = oneEach(generated.flatMap((g) => ok(g).generateVouchers).map((v) => [v.claim.id, v.id]));
    expect(voucherOf.size).toBe(12);
    for (const c of claims) expect(await archive.services.models.Voucher.countDocuments({ claimId: c.claimId })).toBe(1);
    const november = (await archive.services.models.Voucher.find({ period: 11, fiscalYear: 2026 }).lean()).map((v) => Number(v.voucherNo.slice(-4))).sort((a, b) => a - b);
    expect(november).toEqual(november.map((_, i) => i + 1));
    const ids = claims.map((c) => voucherOf.get(c.claimId)!);
    const filed = await Promise.all([
      archive.gql<{ fileVouchers: Filed[] }>(SYNC, FILE, { v: ids.slice(0, 8) }),
      other.gql<{ fileVouchers: Filed[] }>(SYNC, FILE, { v: ids.slice(4) }),
      archive.gql<{ fileVouchers: Filed[] }>(SYNC, FILE, { v: ids.slice(2, 10) }),
    ]);
    const recordOf = oneEach(filed.flatMap((f) => ok(f).fileVouchers).map((r) => [r.voucher.id, r.id]));
    expect(recordOf.size).toBe(12);
    for (const id of ids) expect(await archive.services.models.ArchiveRecord.countDocuments({ voucherId: id })).toBe(1);
    for (const c of claims) {
      const events = await archive.services.events.forSubject({ type: 'ExpenseClaim', id: c.claimId });
      expect(events.map((e) => e.type)).toEqual(['VOUCHER_CREATED', 'ARCHIVE_FILED']);
    }
    expect(ok(await archive.gql<{ verifyArchiveChain: { ok: boolean } }>(auditor, VERIFY)).verifyArchiveChain.ok).toBe(true);
  });

  it('is for service identities only, and takes at most 100 vouchers', async () => {
    const [v] = await generate(1);
    expect(codes(await archive.gql(archivist(), FILE, { v: [v.id] }))).toEqual(['FORBIDDEN']);
    expect(codes(await archive.gql(SYNC, FILE, { v: Array.from({ length: 101 }, () => v.id) }))).toEqual(['BAD_USER_INPUT']);
    expect(await archive.services.models.ArchiveRecord.countDocuments({ voucherId: v.id })).toBe(0);
  });
});
