// The archive keeps the originals (issue 17 §4, §5; docs/api.md#original-documents): on the real stack, a claim's
// uploads travel with its approval to the archive, which copies them into its own GridFS bucket `archive_files`,
// lists them in the record's manifest (covered by its fixity), checks each file, and serves them from
// GET /archive/files/<id> to ARCHIVIST, AUDITOR and borrowers, logging each download.
import { createHash } from 'node:crypto';
import { GridFSBucket, type Db, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixityDigest } from '../../subgraphs/archive/fixity.ts';
import type { ArchiveRecordDoc } from '../../subgraphs/archive/models.ts';
import { ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, type Org, item } from '../oa/seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';
import { until } from '../helpers/wait.ts';
import { uploadOriginal } from '../helpers/originals.ts';

const PDF = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
const XML = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<EInvoice><Header><InvoiceNumber>24312000000012345678</InvoiceNumber></Header><TotalAmount>100.00</TotalAmount></EInvoice>\n');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let stack: Stack;
let org: Org;
let base: string;
const bearer = async (sub: string, roles: string[] = []) => `Bearer ${await stack.token(sub, roles as never)}`;
const db = () => stack.connection.db as unknown as Db;

const upload = (token: string, name: string, bytes: Buffer) => uploadOriginal(base, token, name, bytes);

async function bytesOf(bucketName: string, id: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of new GridFSBucket(db(), { bucketName }).openDownloadStream(new ObjectId(id))) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const download = (token: string, id: string, headers: Record<string, string> = {}) => fetch(`${base}/archive/files/${id}`, { headers: { authorization: token, ...headers } });
const downloads = (recordId: string) => db().collection('archive_access_log').countDocuments({ recordId, action: 'READ_CONTENT', purpose: { $regex: '^download of original' } });

let archivist: string;
let auditor: string;
let record: ArchiveRecordDoc;
let pdf: { id: string; sha256: string; size: number };
let xml: { id: string; sha256: string; size: number };
let older: ArchiveRecordDoc;

beforeAll(async () => {
  stack = await startStack({ label: 'originals' });
  org = await seed(stack);
  base = stack.gateways[0].url.replace(/\/graphql$/, '');
  archivist = await bearer('archivist-1', ['ARCHIVIST']);
  auditor = await bearer(org.ids.auditor, ['EMPLOYEE', 'AUDITOR']);
  // A record filed without originals, as every record before them was.
  const filed = ok(
    await stack.gql(archivist.slice(7), `mutation($input: FileRecordInput!) { fileArchiveRecord(input: $input) { id } }`, {
      input: { kind: 'GENERAL_LEDGER', title: 'General ledger 2025', fiscalYear: 2025, content: '{"ledger":"2025"}', mediaType: 'application/json' },
    }),
  ) as { fileArchiveRecord: { id: string } };
  older = (await db().collection<ArchiveRecordDoc>('archive_records').findOne({ _id: new ObjectId(filed.fileArchiveRecord.id) as never }))!;

  const alice = await bearer(org.ids.alice);
  pdf = await upload(alice, '发票 2026.pdf', PDF);
  xml = await upload(alice, 'einvoice.xml', XML);
  const claim = ok(
    await stack.oa.gql<{ createExpenseClaim: { id: string } }>(org.as.alice, CREATE_CLAIM, {
      input: { title: 'Taxi', category: 'TRAVEL', items: [{ ...item('100.00'), attachmentIds: [pdf.id, xml.id] }] },
    }),
  ).createExpenseClaim;
  ok(await stack.oa.gql(org.as.alice, SUBMIT, { id: claim.id }));
  ok(await stack.oa.gql(org.as.salesManager, DECIDE, { id: claim.id, d: 'APPROVE' }));
  ok(await stack.oa.gql(org.as.accountant, DECIDE, { id: claim.id, d: 'APPROVE' }));
  const claimNo = (await stack.oa.gql<{ expenseClaim: { claimNo: string } }>(org.as.alice, `query($id: ID!) { expenseClaim(id: $id) { claimNo } }`, { id: claim.id })).data!.expenseClaim.claimNo;
  await until(async () => (await db().collection('archive_records').countDocuments({ sourceClaimNo: claimNo })) === 1, 'the claim filed with its originals');
  record = (await db().collection<ArchiveRecordDoc>('archive_records').findOne({ sourceClaimNo: claimNo }))!;
}, 90_000);

afterAll(async () => {
  await stack?.close();
});

describe('the archive package', () => {
  it('lists each original in the record and its manifest, with the uploads’ SHA-256, copied into archive_files', async () => {
    const r = (await stack.gql(archivist.slice(7), `query($id: ID!) { archiveRecord(id: $id) { files { id name mediaType size sha256 } } }`, { id: record._id.toString() })) as {
      data: { archiveRecord: { files: Array<{ id: string; name: string; mediaType: string; size: number; sha256: string }> } };
    };
    const files = r.data.archiveRecord.files;
    expect(files.map((f) => [f.name, f.mediaType, f.size, f.sha256])).toEqual([
      ['发票 2026.pdf', 'application/pdf', PDF.length, sha256(PDF)],
      ['einvoice.xml', 'application/xml', XML.length, sha256(XML)],
    ]);
    expect(record.files!.map((f) => [f.sourceAttachmentId, f.sha256])).toEqual([
      [pdf.id, pdf.sha256],
      [xml.id, xml.sha256],
    ]);
    for (const [i, f] of record.files!.entries()) {
      // The archive's own copy: another GridFS file, the same bytes.
      expect(f.fileId).not.toBe(f.sourceAttachmentId);
      expect(await db().collection('archive_files.files').countDocuments({ _id: new ObjectId(f.fileId) })).toBe(1);
      expect((await bytesOf('archive_files', f.fileId)).equals(i === 0 ? PDF : XML)).toBe(true);
    }
    // The fixity digest covers the manifest: another manifest, another digest.
    const previous = await db().collection<ArchiveRecordDoc>('archive_records').findOne({ chainSeq: record.chainSeq - 1 });
    expect(fixityDigest(record, previous!.fixity.digest)).toBe(record.fixity.digest);
    expect(fixityDigest({ ...record, files: [{ ...record.files![0], sha256: '0'.repeat(64) }, record.files![1]] }, previous!.fixity.digest)).not.toBe(record.fixity.digest);
    // The filing report lists every file, every check passed.
    expect(record.filingReport!.passed).toBe(true);
    const fileResults = record.filingReport!.results.filter((x) => x.check.startsWith('file-'));
    expect(fileResults).toHaveLength(10);
    expect(fileResults.filter((x) => x.detail.startsWith('发票 2026.pdf')).map((x) => x.check)).toEqual(['file-present', 'file-digest', 'file-format', 'file-no-private-encoding', 'file-malware-scan']);
  });

  it('an older record without files keeps its fixity and the chain verifies', async () => {
    expect(older.files).toBeUndefined();
    const previous = older.chainSeq > 1 ? await db().collection<ArchiveRecordDoc>('archive_records').findOne({ chainSeq: older.chainSeq - 1 }) : null;
    expect(fixityDigest(older, previous?.fixity.digest ?? null)).toBe(older.fixity.digest);
    const v = (await stack.gql(archivist.slice(7), `{ verifyArchiveChain { ok checked problem } }`, {})) as { data: { verifyArchiveChain: { ok: boolean; checked: number } } };
    expect(v.data.verifyArchiveChain).toMatchObject({ ok: true, checked: 2 });
  });

  it('keeps its copy when oa’s original is deleted', async () => {
    const id = new ObjectId(pdf.id);
    await db().collection('attachments.files').deleteOne({ _id: id });
    await db().collection('attachments.chunks').deleteMany({ files_id: id });
    expect((await bytesOf('archive_files', record.files![0].fileId)).equals(PDF)).toBe(true);
  });
});

describe('GET /archive/files/<id>', () => {
  it('streams a file to ARCHIVIST and AUDITOR with its headers, a single range as 206, and logs each download', async () => {
    const file = record.files![0];
    const before = await downloads(record._id.toString());
    const whole = await download(archivist, file.fileId);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(PDF)).toBe(true);
    expect(whole.headers.get('content-type')).toBe('application/pdf');
    expect(whole.headers.get('content-length')).toBe(String(PDF.length));
    expect(whole.headers.get('etag')).toBe(`"${sha256(PDF)}"`);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-disposition')).toBe(`attachment; filename="__ 2026.pdf"; filename*=UTF-8''${encodeURIComponent('发票 2026.pdf')}`);
    const part = await download(auditor, file.fileId, { range: 'bytes=5-12' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 5-12/${PDF.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(PDF.subarray(5, 13))).toBe(true);
    const tail = await download(auditor, file.fileId, { range: 'bytes=-6' });
    expect(Buffer.from(await tail.arrayBuffer()).equals(PDF.subarray(PDF.length - 6))).toBe(true);
    const past = await download(archivist, file.fileId, { range: `bytes=${PDF.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${PDF.length}`);
    // Three downloads, three entries; the refused range is none.
    expect(await downloads(record._id.toString())).toBe(before + 3);
  });

  it('refuses an employee without a loan (403, as for a file that does not exist), unauthenticated callers (401), and answers 404 to ARCHIVIST for no file', async () => {
    const bob = await bearer(org.ids.bob);
    const before = await downloads(record._id.toString());
    const refused = await download(bob, record.files![0].fileId);
    expect(refused.status).toBe(403);
    const none = await download(bob, new ObjectId().toHexString());
    expect(none.status).toBe(403);
    expect(await none.json()).toEqual(await refused.json());
    expect((await download(archivist, new ObjectId().toHexString())).status).toBe(404);
    expect((await fetch(`${base}/archive/files/${record.files![0].fileId}`)).status).toBe(401);
    expect(await downloads(record._id.toString())).toBe(before);
  });

  it('finds the records that list a copy through an index, reading only those', async () => {
    const records = db().collection('archive_records');
    expect(await records.countDocuments()).toBeGreaterThan(1);
    const plan = (await records.find({ 'files.fileId': record.files![0].fileId, status: { $ne: 'DESTROYED' } }).explain('executionStats')) as { executionStats: { totalDocsExamined: number; nReturned: number } };
    expect(plan.executionStats.nReturned).toBe(1);
    expect(plan.executionStats.totalDocsExamined).toBe(1);
  });

  it('flags one altered byte of the archive’s copy in the four-properties check and the chain verification', async () => {
    const file = record.files![1];
    const chunks = db().collection('archive_files.chunks');
    const chunk = (await chunks.findOne({ files_id: new ObjectId(file.fileId), n: 0 }))!;
    const original = Buffer.from(chunk.data.buffer);
    const altered = Buffer.from(original);
    altered[10] ^= 0x01;
    await chunks.updateOne({ _id: chunk._id }, { $set: { data: altered } });
    try {
      const check = (await stack.gql(archivist.slice(7), `query($id: ID!) { checkArchiveRecord(id: $id) { passed results { check passed detail } } }`, { id: record._id.toString() })) as {
        data: { checkArchiveRecord: { passed: boolean; results: Array<{ check: string; passed: boolean; detail: string }> } };
      };
      expect(check.data.checkArchiveRecord.passed).toBe(false);
      const failed = check.data.checkArchiveRecord.results.filter((x) => !x.passed);
      expect(failed.map((x) => x.check)).toEqual(['file-digest']);
      expect(failed[0].detail).toContain(`einvoice.xml (${file.fileId})`);
      const v = (await stack.gql(archivist.slice(7), `{ verifyArchiveChain { ok firstBrokenArchiveNo problem } }`, {})) as { data: { verifyArchiveChain: object } };
      expect(v.data.verifyArchiveChain).toEqual({ ok: false, firstBrokenArchiveNo: record.archiveNo, problem: 'CHANGED' });
    } finally {
      await chunks.updateOne({ _id: chunk._id }, { $set: { data: original } });
    }
    const v = (await stack.gql(archivist.slice(7), `{ verifyArchiveChain { ok } }`, {})) as { data: { verifyArchiveChain: { ok: boolean } } };
    expect(v.data.verifyArchiveChain.ok).toBe(true);
  });

  it('streams a file to the borrower during an active loan of its record, logged with the loan', async () => {
    // The loan as the borrowing workflow leaves it when the archivist hands the record out (test/archive/lifecycle/borrowing.test.ts).
    const bob = await bearer(org.ids.bob);
    const loanId = new ObjectId();
    await db().collection('archive_loans').insertOne({
      _id: loanId, recordId: record._id.toString(), archiveNo: record.archiveNo, borrowerId: org.ids.bob, borrowerDepartmentId: org.sales, insideFinance: false,
      purpose: 'customer dispute', from: '2000-01-01', until: '2999-12-31', status: 'ON_LOAN', approvalId: null, requestedAt: new Date(), decidedAt: new Date(), startedAt: new Date(),
      handedOutBy: 'archivist-1', returnedAt: null, receivedBy: null, overdueAt: null,
    });
    await db().collection('archive_records').updateOne({ _id: record._id as never }, { $set: { status: 'BORROWED' } });
    const res = await download(bob, record.files![1].fileId);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(XML)).toBe(true);
    const entry = await db().collection('archive_access_log').find({ recordId: record._id.toString(), actorId: org.ids.bob }).toArray();
    expect(entry.map((e) => [e.action, e.loanId])).toEqual([['READ_CONTENT', loanId.toHexString()]]);
  });
});
