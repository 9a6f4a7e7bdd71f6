// A year's handover in batches (subgraphs/archive/close/handover*.ts), on the engine with gateway-signed calls: the
// register's lines are stored one per record (a year of 100,000s of records is never one document), a register
// altered in the database is not filed, custody passes a batch per transaction, a transfer cut short goes on after a
// restart (the archive's worker loop), each record is handed over once, a
// record no longer as listed is excluded and listed again by the next register, and the filed register is a PDF/A
// whose text (Chinese included) a reader extracts. Batches of 4 and at most 5 records within the signature here; the
// defaults (500, 1,000) and a year of 120,000 records are measured by `npm run bench -- close`.
import mongoose from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../platform/identity.ts';
import { createLogger } from '../../platform/logger.ts';
import { continueHandover, resumeHandovers } from '../../subgraphs/archive/close/handover-transfer.ts';
import { startArchiveSubgraph } from '../../subgraphs/archive/index.ts';
import { ArchiveFiles } from '../../subgraphs/archive/originals/store.ts';
import { pdfText } from '../helpers/pdf-text.ts';
import { until } from '../helpers/wait.ts';
import { SECRET, SYNC, approvedClaim, directory, testSettings, useArchiveSubgraph } from './fixture.ts';

const settings = { ...testSettings, companyName: '示例集团有限公司', handover: { batch: 4, inlineRecords: 5 } };
const a = useArchiveSubgraph('handover-batches', undefined, undefined, { settings });
const user = (sub: string, roles: string[]): Principal => ({ sub, roles: ['EMPLOYEE', ...roles] as Principal['roles'], departmentId: 'dept-finance', kind: 'user' });
const accountant = user('accountant-1', ['ACCOUNTANT']);
const archivist = user('archivist-1', ['ARCHIVIST']);

const RECORDS = 13;
const REGISTER = 'id status recordCount handedOver excluded linesDigest completedAt voidReason signatures { side } archiveNo archiveRecord { id custody filingReport { passed } }';
const PREPARE = `mutation($y: Int!) { prepareHandover(fiscalYear: $y) { ${REGISTER} } }`;
const SIGN = `mutation($id: ID!, $s: HandoverSide!) { signHandover(id: $id, side: $s) { ${REGISTER} } }`;
const LINES = `query($y: Int!, $after: String) { transferRegisters(fiscalYear: $y) { id lines(first: 5, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { seq archiveNo outcome exclusion record { custody } } } } } }`;
type Register = { id: string; status: string; recordCount: number; handedOver: number; excluded: number; linesDigest: string; completedAt: string | null; archiveNo: string | null; archiveRecord: { id: string; custody: string; filingReport: { passed: boolean } } | null };
type LinePage = { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string }; edges: Array<{ node: { seq: number; archiveNo: string; outcome: string; exclusion: string | null; record: { custody: string } } }> };

const lines = () => a.connection.collection('archive_transfer_register_lines');
const registerOf = async (id: string) => (await a.gql<{ transferRegisters: Register[] }>(archivist, `query { transferRegisters(fiscalYear: 2025) { ${REGISTER} } }`)).data!.transferRegisters.find((r) => r.id === id)!;
const custodyOf = async () => Object.fromEntries((await a.connection.collection('archive_records').find({ fiscalYear: 2025, kind: 'BOOKKEEPING_VOUCHER' }).toArray()).map((r) => [r.archiveNo, r.custody ?? 'ACCOUNTING']));

let archiveNos: string[] = [];
beforeAll(async () => {
  const claims = Array.from({ length: RECORDS }, (_, i) => approvedClaim({ approvedAt: '2025-11-10T02:00:00Z', total: `${100 + i}.25`, items: [{ description: `差旅 ${i}`, amount: `${100 + i}.25`, occurredOn: '2025-11-01', invoiceNo: null }] }));
  const v = await a.gql<{ generateVouchers: Array<{ id: string }> }>(SYNC, 'mutation($c: [ApprovedClaimInput!]!) { generateVouchers(claims: $c) { id } }', { c: claims });
  expect(v.errors).toBeUndefined();
  const f = await a.gql<{ fileVouchers: Array<{ archiveNo: string }> }>(SYNC, 'mutation($v: [ID!]!) { fileVouchers(voucherIds: $v) { archiveNo } }', { v: v.data!.generateVouchers.map((x) => x.id) });
  expect(f.errors).toBeUndefined();
  archiveNos = f.data!.fileVouchers.map((r) => r.archiveNo).sort();
});

describe('a handover in batches', () => {
  let register: Register;

  it('the register stores a line per record; one whose lines were altered in the database is void and files nothing', async () => {
    const r = await a.gql<{ prepareHandover: Register }>(accountant, PREPARE, { y: 2025 });
    expect(r.errors).toBeUndefined();
    const altered = r.data!.prepareHandover;
    expect(altered).toMatchObject({ status: 'AWAITING_SIGNATURES', recordCount: RECORDS, handedOver: 0, archiveNo: null });
    expect(altered.linesDigest).toMatch(/^[0-9a-f]{64}$/);
    const stored = await lines().find({ registerId: new mongoose.Types.ObjectId(altered.id) }).sort({ seq: 1 }).toArray();
    expect(stored.map((l) => [l.seq, l.archiveNo, l.outcome])).toEqual(archiveNos.map((no, i) => [i, no, 'LISTED']));
    expect(await a.connection.collection('archive_transfer_registers').countDocuments({ lines: { $exists: true } })).toBe(0);

    expect((await a.gql(accountant, SIGN, { id: altered.id, s: 'ACCOUNTING' })).errors).toBeUndefined();
    const files = await a.connection.collection('archive_files.files').countDocuments();
    await lines().updateOne({ registerId: stored[2].registerId, seq: 2 }, { $set: { title: '已被改动' } });
    // Larger than the inline limit: the signature answers TRANSFERRING; the printing (the worker loop's first step) finds it.
    expect((await a.gql<{ signHandover: Register }>(archivist, SIGN, { id: altered.id, s: 'ARCHIVES' })).data?.signHandover.status).toBe('TRANSFERRING');
    expect(await continueHandover(a.services, new mongoose.Types.ObjectId(altered.id))).toBe(true);
    expect(await registerOf(altered.id)).toMatchObject({ status: 'VOID', voidReason: 'the stored lines of this transfer register are not the ones it listed when prepared' });
    // Nothing of it stays but the register, VOID: no record, no printed file, no custody moved.
    expect(await a.connection.collection('archive_records').countDocuments({ kind: 'TRANSFER_REGISTER' })).toBe(0);
    expect(await a.connection.collection('archive_files.files').countDocuments()).toBe(files);
    expect(await registerOf(altered.id)).toMatchObject({ status: 'VOID', archiveNo: null, handedOver: 0 });
    expect(Object.values(await custodyOf())).toEqual(Array(RECORDS).fill('ACCOUNTING'));

    const next = await a.gql<{ prepareHandover: Register }>(archivist, PREPARE, { y: 2025 });
    expect(next.errors).toBeUndefined();
    register = next.data!.prepareHandover;
    expect(register).toMatchObject({ recordCount: RECORDS, linesDigest: altered.linesDigest });
  });

  it('the second signature files the printed register; a register larger than the inline limit passes custody in the background', async () => {
    expect((await a.gql(accountant, SIGN, { id: register.id, s: 'ACCOUNTING' })).errors).toBeUndefined();
    const r = await a.gql<{ signHandover: Register }>(archivist, SIGN, { id: register.id, s: 'ARCHIVES' });
    expect(r.errors).toBeUndefined();
    // 13 records > 5: the signature answers at once; nothing runs the transfer in this fixture (no worker loop).
    expect(r.data!.signHandover).toMatchObject({ status: 'TRANSFERRING', handedOver: 0, archiveNo: null });
    // What the worker loop would do first: print and file the register (no batch yet).
    expect(await continueHandover(a.services, new mongoose.Types.ObjectId(register.id), { maxBatches: 0 })).toBe(false);
    register = await registerOf(register.id);
    expect(register).toMatchObject({ status: 'TRANSFERRING', handedOver: 0, archiveNo: 'Q001-2025-D30-QT-00001', archiveRecord: { custody: 'ARCHIVES', filingReport: { passed: true } } });
    expect(Object.values(await custodyOf())).toEqual(Array(RECORDS).fill('ACCOUNTING'));
  });

  it('the filed register is a PDF/A whose text a reader extracts: the company, every 档号 and digest, the count', async () => {
    const record = await a.connection.collection('archive_records').findOne({ kind: 'TRANSFER_REGISTER' });
    expect(record!.files).toHaveLength(1);
    expect(record!.files[0]).toMatchObject({ mediaType: 'application/pdf', name: `2025-transfer-register-${register.id}.pdf` });
    expect(JSON.parse(record!.content)).toMatchObject({ records: RECORDS, linesDigest: register.linesDigest });
    const pdf = (await new ArchiveFiles(a.connection).read(record!.files[0].fileId))!;
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const text = (await pdfText(pdf)).join('\n');
    expect(text).toContain('2025 年度会计档案移交清册');
    expect(text).toContain('示例集团有限公司');
    expect(text).toContain(`共 ${RECORDS} 件`);
    expect(text).toContain(register.linesDigest);
    for (const l of await lines().find({ registerId: new mongoose.Types.ObjectId(register.id) }).toArray()) {
      expect(text).toContain(l.archiveNo);
      expect(text).toContain(l.digest);
    }
  });

  it('a transfer cut short after one batch leaves a consistent archive; a restarted archive goes on by itself, each record handed over once', async () => {
    expect(await continueHandover(a.services, new mongoose.Types.ObjectId(register.id), { maxBatches: 1 })).toBe(false);
    expect(await registerOf(register.id)).toMatchObject({ status: 'TRANSFERRING', handedOver: 4 });
    const custody = await custodyOf();
    expect(archiveNos.map((no) => custody[no])).toEqual([...Array(4).fill('ARCHIVES'), ...Array(RECORDS - 4).fill('ACCOUNTING')]);
    expect((await a.gql<{ verifyArchiveChain: { ok: boolean } }>(archivist, '{ verifyArchiveChain { ok } }')).data?.verifyArchiveChain.ok).toBe(true);
    expect(await a.connection.collection('domain_events').countDocuments({ type: 'HANDOVER_SIGNED' })).toBe(0);

    // The record of line 9 is no longer as listed (here its listed digest is what differs).
    await lines().updateOne({ registerId: new mongoose.Types.ObjectId(register.id), seq: 9 }, { $set: { digest: '0'.repeat(64) } });
    // A restarted archive process resumes by itself (its worker loop runs at start).
    const connection = await mongoose.createConnection(a.uri).asPromise();
    const restarted = await startArchiveSubgraph({ connection, logger: createLogger({ level: 'silent' }), internalSecret: SECRET, production: false, directory, settings, port: 0, host: '127.0.0.1', overdueIntervalMs: 60_000 });
    try {
      await until(async () => (await registerOf(register.id)).status === 'SIGNED', 'the register SIGNED', 60_000);
    } finally {
      await restarted.close();
      await connection.close();
    }
    expect(await registerOf(register.id)).toMatchObject({ status: 'SIGNED', handedOver: RECORDS - 1, excluded: 1 });
    const history = await a.connection.collection('archive_record_history').find({ action: 'HANDED_OVER' }).toArray();
    expect(history.map((h) => h.archiveNo).sort()).toEqual([...archiveNos.filter((_, i) => i !== 9), 'Q001-2025-D30-QT-00001'].sort());
    const events = await a.connection.collection('domain_events').find({ type: 'HANDOVER_SIGNED' }).toArray();
    expect(events.map((e) => e.payload.detail)).toEqual([`2025: ${RECORDS - 1} records handed over to the archive department (Q001-2025-D30-QT-00001), 1 excluded (changed since listed: they stay with the accounting department)`]);
    expect((await a.gql<{ verifyArchiveChain: { ok: boolean } }>(archivist, '{ verifyArchiveChain { ok } }')).data?.verifyArchiveChain.ok).toBe(true);
    // Nothing is left to resume.
    expect(await resumeHandovers(a.services)).toBe(0);
  }, 90_000);

  it('the lines are read a page at a time with their outcome', async () => {
    const seen: LinePage['edges'] = [];
    let after: string | null = null;
    const pages: boolean[] = [];
    do {
      const r: { data?: { transferRegisters: Array<{ id: string; lines: LinePage }> }; errors?: unknown } = await a.gql(archivist, LINES, { y: 2025, after });
      expect(r.errors).toBeUndefined();
      const page = r.data!.transferRegisters.find((x) => x.id === register.id)!.lines;
      expect(page.totalCount).toBe(RECORDS);
      seen.push(...page.edges);
      pages.push(page.pageInfo.hasNextPage);
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    expect(pages).toEqual([true, true, false]);
    expect(seen.map((e) => e.node.seq)).toEqual([...Array(RECORDS).keys()]);
    expect(seen[9].node).toMatchObject({ outcome: 'EXCLUDED', exclusion: 'CHANGED', record: { custody: 'ACCOUNTING' } });
    expect(seen.filter((e) => e.node.outcome === 'HANDED_OVER' && e.node.record.custody === 'ARCHIVES')).toHaveLength(RECORDS - 1);
    expect((await a.gql(archivist, `query { transferRegisters(fiscalYear: 2025) { lines(first: 101) { totalCount } } }`)).errors?.[0]?.message).toBe('first must be between 1 and 100');
  });

  it('the next register lists what the last one excluded', async () => {
    const r = await a.gql<{ prepareHandover: Register }>(archivist, PREPARE, { y: 2025 });
    expect(r.data?.prepareHandover).toMatchObject({ recordCount: 1, status: 'AWAITING_SIGNATURES' });
    const next = await lines().find({ registerId: new mongoose.Types.ObjectId(r.data!.prepareHandover.id) }).toArray();
    expect(next.map((l) => l.archiveNo)).toEqual([archiveNos[9]]);
  });
});
