// Other kinds of records, corrections, chain verification against direct tampering, reports and scope.
import { describe, expect, it } from 'vitest';
import { codes, ok } from '../oa/fixture.ts';
import { SYNC, approvedClaim, archivist, auditor, useArchiveSubgraph } from './fixture.ts';

const archive = useArchiveSubgraph('archive_records');

const FILE_RECORD = `mutation($i: FileRecordInput!) { fileArchiveRecord(input: $i) {
  id archiveNo category kind retention retentionStartsOn expiresOn corrects { id } fixity { digest previousDigest }
} }`;
const VERIFY = '{ verifyArchiveChain { ok checked firstBrokenArchiveNo problem } }';

type Filed = { id: string; archiveNo: string; category: string; kind: string; retention: string; retentionStartsOn: string; expiresOn: string | null; corrects: { id: string } | null };

const file = async (input: Record<string, unknown>) => ok(await archive.gql<{ fileArchiveRecord: Filed }>(archivist(), FILE_RECORD, { i: input })).fileArchiveRecord;

describe('records', () => {
  it('files reports, statements and registers with their own retention, and corrections as new records', async () => {
    const annual = await file({ kind: 'ANNUAL_REPORT', title: '2025 annual report', fiscalYear: 2025, content: '{"revenue":"1000000.00"}', mediaType: 'application/json' });
    expect(annual).toMatchObject({ category: 'BG', retention: 'PERMANENT', retentionStartsOn: '2026-01-01', expiresOn: null });
    expect(annual.archiveNo).toMatch(/^Q001-2025-YJ-BG-00001$/);
    const statement = await file({ kind: 'BANK_STATEMENT', title: 'ICBC statement 2025-12', fiscalYear: 2025, content: 'date,amount\n2025-12-01,10.00\n', mediaType: 'text/csv' });
    expect(statement).toMatchObject({ category: 'QT', retention: 'Y10', expiresOn: '2035-12-31' });
    const card = await file({ kind: 'FIXED_ASSET_CARD', title: 'Server rack', fiscalYear: 2019, content: '{"asset":"rack"}', mediaType: 'application/json', disposedOn: '2025-03-01' });
    expect(card).toMatchObject({ retention: 'Y5_AFTER_DISPOSAL', retentionStartsOn: '2026-01-01', expiresOn: '2030-12-31' });
    const fixed = await file({ kind: 'ANNUAL_REPORT', title: '2025 annual report (corrected)', fiscalYear: 2025, content: '{"revenue":"1000100.00"}', mediaType: 'application/json', correctsId: annual.id });
    expect(fixed.corrects).toEqual({ id: annual.id });
    expect(fixed.archiveNo).toBe('Q001-2025-YJ-BG-00002');
    const original = ok(await archive.gql<{ archiveRecord: { correctedBy: { id: string } } }>(auditor, 'query($id: ID!) { archiveRecord(id: $id) { correctedBy { id } } }', { id: annual.id })).archiveRecord;
    expect(original.correctedBy).toEqual({ id: fixed.id });
    expect(codes(await archive.gql(archivist(), FILE_RECORD, { i: { kind: 'ANNUAL_REPORT', title: 'again', fiscalYear: 2025, content: '{}', mediaType: 'application/json', correctsId: annual.id } }))).toEqual(['CONFLICT']);
  });

  it('refuses what the four-properties check refuses, and files nothing', async () => {
    const before = await archive.services.models.ArchiveRecord.countDocuments();
    const res = await archive.gql(archivist(), FILE_RECORD, { i: { kind: 'MONTHLY_REPORT', title: 'broken', fiscalYear: 2025, content: '{not json', mediaType: 'application/json' } });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors![0].message).toContain('USABILITY');
    expect(await archive.services.models.ArchiveRecord.countDocuments()).toBe(before);
    expect(codes(await archive.gql(archivist(), FILE_RECORD, { i: { kind: 'MONTHLY_REPORT', title: 't', fiscalYear: 2025, content: 'x', mediaType: 'application/x-msdownload' } }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await archive.gql(auditor, FILE_RECORD, { i: { kind: 'MONTHLY_REPORT', title: 't', fiscalYear: 2025, content: '{}', mediaType: 'application/json' } }))).toEqual(['FORBIDDEN']);
  });

  it('verifies the chain, and names a record changed or removed directly in the database', async () => {
    for (let i = 0; i < 3; i++) await file({ kind: 'TAX_RETURN', title: `VAT return ${i}`, fiscalYear: 2025, content: `{"n":${i}}`, mediaType: 'application/json' });
    const intact = ok(await archive.gql<{ verifyArchiveChain: { ok: boolean; checked: number } }>(auditor, VERIFY)).verifyArchiveChain;
    expect(intact.ok).toBe(true);
    const total = await archive.services.models.ArchiveRecord.countDocuments();
    expect(intact.checked).toBe(total);
    expect(codes(await archive.gql(SYNC, VERIFY))).toEqual([]);
    expect(codes(await archive.gql({ ...archivist(), roles: ['EMPLOYEE'] }, VERIFY))).toEqual(['FORBIDDEN']);

    const records = archive.services.models.ArchiveRecord;
    const victim = await records.findOne({ title: 'VAT return 1' }).lean();
    // Someone edits the content in the database: the digest no longer matches.
    await archive.connection.db!.collection('archive_records').updateOne({ _id: victim!._id }, { $set: { content: '{"n":999}' } });
    let v = ok(await archive.gql<{ verifyArchiveChain: { ok: boolean; firstBrokenArchiveNo: string; problem: string } }>(auditor, VERIFY)).verifyArchiveChain;
    expect(v).toMatchObject({ ok: false, firstBrokenArchiveNo: victim!.archiveNo, problem: 'CHANGED' });
    // Restored, then a metadata edit with a recomputed content digest is caught by the fixity digest.
    await archive.connection.db!.collection('archive_records').updateOne({ _id: victim!._id }, { $set: { content: victim!.content, title: 'VAT return one' } });
    v = ok(await archive.gql<{ verifyArchiveChain: { ok: boolean; firstBrokenArchiveNo: string; problem: string } }>(auditor, VERIFY)).verifyArchiveChain;
    expect(v).toMatchObject({ ok: false, firstBrokenArchiveNo: victim!.archiveNo, problem: 'CHANGED' });
    await archive.connection.db!.collection('archive_records').updateOne({ _id: victim!._id }, { $set: { title: victim!.title } });
    expect(ok(await archive.gql<{ verifyArchiveChain: { ok: boolean } }>(auditor, VERIFY)).verifyArchiveChain.ok).toBe(true);
    // Removing a record breaks the chain at it.
    await archive.connection.db!.collection('archive_records').deleteOne({ _id: victim!._id });
    v = ok(await archive.gql<{ verifyArchiveChain: { ok: boolean; firstBrokenArchiveNo: string; problem: string } }>(auditor, VERIFY)).verifyArchiveChain;
    expect(v).toMatchObject({ ok: false, firstBrokenArchiveNo: victim!.archiveNo, problem: 'REMOVED' });
    await archive.connection.db!.collection('archive_records').insertOne(victim!);
  });

  it('reports statistics and appraisal candidates from the database, and scopes records by caller', async () => {
    const stats = ok(await archive.gql<{ archiveStatistics: Array<{ category: string; fiscalYear: number; status: string; count: number }> }>(auditor, '{ archiveStatistics(fiscalYear: 2025) { category fiscalYear status count } }')).archiveStatistics;
    const expected = await archive.services.models.ArchiveRecord.aggregate([{ $match: { fiscalYear: 2025 } }, { $group: { _id: '$category', n: { $sum: 1 } } }]);
    for (const row of expected) expect(stats.filter((s) => s.category === row._id).reduce((a, s) => a + s.count, 0)).toBe(row.n);
    // Old statements are due; a permanent report never is.
    await file({ kind: 'BANK_STATEMENT', title: 'Statement 2010', fiscalYear: 2010, content: 'a,b\n', mediaType: 'text/csv' });
    const due = ok(await archive.gql<{ recordsDueForAppraisal: Array<{ title: string; expiresOn: string }> }>(archivist(), '{ recordsDueForAppraisal(before: "2026-12-31") { title expiresOn } }')).recordsDueForAppraisal;
    expect(due).toEqual([{ title: 'Statement 2010', expiresOn: '2020-12-31' }]);
    // An employee sees the voucher record of their own claim only.
    const claim = approvedClaim({ applicantId: 'emp-scope' });
    const voucher = ok(await archive.gql<{ generateVoucher: { id: string } }>(SYNC, 'mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id } }', { c: claim })).generateVoucher;
    const record = ok(await archive.gql<{ fileVoucher: { id: string } }>(SYNC, 'mutation($v: ID!) { fileVoucher(voucherId: $v) { id } }', { v: voucher.id })).fileVoucher;
    const employee = { sub: 'emp-scope', roles: ['EMPLOYEE' as const], departmentId: 'dept-sales', kind: 'user' as const };
    const mine = ok(await archive.gql<{ archiveRecords: { edges: Array<{ node: { id: string } }>; totalCount: number } }>(employee, '{ archiveRecords(first: 100) { totalCount edges { node { id } } } }')).archiveRecords;
    expect(mine.edges.map((e) => e.node.id)).toEqual([record.id]);
    const stranger = { ...employee, sub: 'emp-other' };
    expect(ok(await archive.gql<{ archiveRecords: { totalCount: number } }>(stranger, '{ archiveRecords { totalCount } }')).archiveRecords.totalCount).toBe(0);
    expect(ok(await archive.gql<{ voucher: unknown }>(stranger, 'query($id: ID!) { voucher(id: $id) { id } }', { id: voucher.id })).voucher).toBeNull();
  });
});

describe('the four-properties check on demand', () => {
  it('passes a record in custody, and fails it after its content was changed in the database', async () => {
    const r = await file({ kind: 'BANK_RECONCILIATION', title: 'Reconciliation 2025-11', fiscalYear: 2025, content: '{"difference":"0.00"}', mediaType: 'application/json' });
    const CHECK = 'query($id: ID!) { checkArchiveRecord(id: $id) { archiveNo passed results { property check passed detail } } }';
    type Report = { checkArchiveRecord: { archiveNo: string; passed: boolean; results: Array<{ property: string; check: string; passed: boolean; detail: string }> } };
    const good = ok(await archive.gql<Report>(auditor, CHECK, { id: r.id })).checkArchiveRecord;
    expect(good.archiveNo).toBe(r.archiveNo);
    expect(good.passed).toBe(true);
    expect(new Set(good.results.map((x) => x.property))).toEqual(new Set(['AUTHENTICITY', 'INTEGRITY', 'USABILITY', 'SECURITY']));
    await archive.connection.db!.collection('archive_records').updateOne({ archiveNo: r.archiveNo }, { $set: { content: '{"difference":"100.00"}' } });
    const bad = ok(await archive.gql<Report>(auditor, CHECK, { id: r.id })).checkArchiveRecord;
    expect(bad.passed).toBe(false);
    expect(bad.results.filter((x) => !x.passed).map((x) => [x.property, x.check])).toEqual([['AUTHENTICITY', 'content-digest']]);
    expect(codes(await archive.gql({ sub: 'e', roles: ['EMPLOYEE'], departmentId: null, kind: 'user' }, CHECK, { id: r.id }))).toEqual(['FORBIDDEN']);
    await archive.connection.db!.collection('archive_records').updateOne({ archiveNo: r.archiveNo }, { $set: { content: '{"difference":"0.00"}' } });
  });
});
