// Issue 17's "Done when", walked once end to end on the real stack through the gateway over HTTP: a claim with a 数电票
// XML, an OFD and a receipt photo from upload to a filed package, a download logged in the access log, and an
// exported package that `npm run verify-package` accepts, then rejects after one byte of one file is changed.
// The parts in detail: test/oa/invoice-claims.test.ts, test/archive/originals.test.ts, test/archive/package.test.ts.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { repoRoot } from '../engine/child.ts';
import { ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, type Org } from '../oa/seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';
import { COMPANY, type Uploaded, invoiceXml, ofdWith, receiptJpeg, uploadOriginal } from '../helpers/originals.ts';
import { until } from '../helpers/wait.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const run = promisify(execFile);
/** `npm run verify-package -- <file>` as the CLI runs (scripts/verify-package.ts): exit code and output. */
const verifyCli = (file: string) =>
  run(process.execPath, ['--import', 'tsx', 'scripts/verify-package.ts', file], { cwd: repoRoot }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );

const stamp = String(Date.now() % 1e6).padStart(6, '0');
const XML_NUMBER = `2644200000${stamp}0001`;
const OFD_NUMBER = `2644200000${stamp}0002`;
const XML = invoiceXml(XML_NUMBER);
const OFD = ofdWith(invoiceXml(OFD_NUMBER));
const JPEG = receiptJpeg('taxi 2026-09-02', 4096);

let verifier: Server;
const asked: string[] = [];
let stack: Stack;
let org: Org;
let base: string;
let dir: string;
const token: Record<'alice' | 'manager' | 'accountant' | 'archivist', string> = { alice: '', manager: '', accountant: '', archivist: '' };
const uploads: Record<'xml' | 'ofd' | 'jpeg', Uploaded> = {} as never;

interface FiledRecord {
  id: string;
  archiveNo: string;
  category: string;
  fiscalYear: number;
  sourceClaimNo: string;
  files: Array<{ id: string; name: string; mediaType: string; size: number; sha256: string }>;
}
let claim: { id: string; claimNo: string };
let record: FiledRecord;
let packageFile: string;

beforeAll(async () => {
  // The invoice verification interface: answers VERIFIED to every invoice it is asked about.
  verifier = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      asked.push(String((JSON.parse(Buffer.concat(chunks).toString()) as { invoiceNumber: unknown }).invoiceNumber));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'VERIFIED' }));
    });
  });
  await new Promise<void>((r) => verifier.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(verifier.address() as AddressInfo).port}/verify`;
  stack = await startStack({ label: 'documents-walk', invoices: { companyTaxId: COMPANY, verifier: { url, timeoutMs: 2000 } } });
  org = await seed(stack);
  base = stack.gateways[0].url.replace(/\/graphql$/, '');
  dir = await mkdtemp(path.join(tmpdir(), 'documents-walk-'));
  token.alice = await stack.token(org.ids.alice);
  token.manager = await stack.token(org.ids.salesManager);
  token.accountant = await stack.token(org.ids.accountant);
  token.archivist = await stack.token('archivist-1', ['ARCHIVIST']);
}, 60_000);

afterAll(async () => {
  await stack?.close();
  verifier?.closeAllConnections();
  await new Promise((r) => verifier?.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a claim with a 数电票 XML, an OFD and a receipt photo, from upload to a verified handover package', () => {
  it('uploads the three originals: both invoices read and VERIFIED, the photo stored as it is', async () => {
    const as = `Bearer ${token.alice}`;
    uploads.xml = await uploadOriginal(base, as, '数电票.xml', XML);
    uploads.ofd = await uploadOriginal(base, as, '数电票.ofd', OFD);
    uploads.jpeg = await uploadOriginal(base, as, 'taxi receipt.jpg', JPEG);
    expect(uploads.xml).toMatchObject({ sha256: sha256(XML), size: XML.length, invoice: { number: XML_NUMBER, issueDate: '2026-09-01', total: '1272.00' }, verification: { status: 'VERIFIED', reason: null } });
    expect(uploads.ofd).toMatchObject({ sha256: sha256(OFD), size: OFD.length, invoice: { number: OFD_NUMBER, total: '1272.00' }, verification: { status: 'VERIFIED' } });
    expect(uploads.jpeg).toMatchObject({ sha256: sha256(JPEG), size: JPEG.length, invoice: null, verification: null });
    expect(asked).toEqual([XML_NUMBER, OFD_NUMBER]);
  });

  it('creates the claim, each invoice item checked against its invoice, and takes it through approval to ARCHIVE_FILED', async () => {
    const items = [
      { description: 'software maintenance', amount: '1272.00', occurredOn: '2026-09-02', invoiceNo: XML_NUMBER, attachmentIds: [uploads.xml.id] },
      { description: 'consulting', amount: '1272.00', occurredOn: '2026-09-02', invoiceNo: OFD_NUMBER, attachmentIds: [uploads.ofd.id] },
      { description: 'taxi', amount: '35.00', occurredOn: '2026-09-02', attachmentIds: [uploads.jpeg.id] },
    ];
    // An amount the invoice does not support is refused, naming the item's field.
    const wrong = await stack.gql(token.alice, CREATE_CLAIM, { input: { title: 'Client visit', category: 'TRAVEL', items: [{ ...items[0], amount: '1200.00' }] } });
    expect(wrong.errors?.map((e) => [e.extensions?.code, (e.extensions as { field?: string })?.field])).toEqual([['BAD_USER_INPUT', 'items[0].amount']]);

    const created = ok(await stack.gql<{ createExpenseClaim: { id: string; claimNo: string; total: string } }>(token.alice, CREATE_CLAIM, { input: { title: 'Client visit', category: 'TRAVEL', items } }));
    expect(created.createExpenseClaim.total).toBe('2579.00');
    claim = created.createExpenseClaim;
    ok(await stack.gql(token.alice, SUBMIT, { id: claim.id }));
    ok(await stack.gql(token.manager, DECIDE, { id: claim.id, d: 'APPROVE' }));
    expect(ok(await stack.gql<{ decideApproval: { status: string } }>(token.accountant, DECIDE, { id: claim.id, d: 'APPROVE' })).decideApproval.status).toBe('APPROVED');

    const FILED = `query($id: ID!) { syncEvents(claimId: $id, types: [ARCHIVE_FILED]) { type archiveRecordId } }`;
    let filed: Array<{ type: string; archiveRecordId: string }> = [];
    await until(async () => (filed = ok(await stack.gql<{ syncEvents: typeof filed }>(token.alice, FILED, { id: claim.id })).syncEvents).length > 0, 'ARCHIVE_FILED for the claim', 30_000);
    expect(filed).toHaveLength(1);
    const read = ok(
      await stack.gql<{ archiveRecord: FiledRecord }>(token.archivist, `query($id: ID!) { archiveRecord(id: $id) { id archiveNo category fiscalYear sourceClaimNo files { id name mediaType size sha256 } } }`, { id: filed[0].archiveRecordId }),
    );
    record = read.archiveRecord;
    expect(record.sourceClaimNo).toBe(claim.claimNo);
    expect(record.category).toBe('PZ');
  });

  it('lists the three originals on the record, each with its upload’s SHA-256', () => {
    expect(record.files.map((f) => [f.name, f.mediaType, f.size, f.sha256])).toEqual([
      ['数电票.xml', 'application/xml', XML.length, uploads.xml.sha256],
      ['数电票.ofd', 'application/ofd', OFD.length, uploads.ofd.sha256],
      ['taxi receipt.jpg', 'image/jpeg', JPEG.length, uploads.jpeg.sha256],
    ]);
    // The archive's own copies, not oa's uploads.
    expect(record.files.map((f) => f.id)).not.toContain(uploads.jpeg.id);
  });

  it('streams the receipt photo to ARCHIVIST and logs the download in the access log', async () => {
    const photo = record.files[2];
    const LOG = `query($r: ID!) { accessLog(recordId: $r, actorId: "archivist-1", first: 50) { totalCount edges { node { action archiveNo purpose actorId } } } }`;
    const before = ok(await stack.gql<{ accessLog: { totalCount: number } }>(token.archivist, LOG, { r: record.id })).accessLog.totalCount;
    const res = await fetch(`${base}/archive/files/${photo.id}`, { headers: { authorization: `Bearer ${token.archivist}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('etag')).toBe(`"${sha256(JPEG)}"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(JPEG)).toBe(true);
    const log = ok(await stack.gql<{ accessLog: { totalCount: number; edges: Array<{ node: Record<string, string> }> } }>(token.archivist, LOG, { r: record.id })).accessLog;
    expect(log.totalCount).toBe(before + 1);
    expect(log.edges.at(-1)!.node).toEqual({ action: 'READ_CONTENT', archiveNo: record.archiveNo, purpose: `download of original taxi receipt.jpg (${photo.id})`, actorId: 'archivist-1' });
    expect(ok(await stack.gql<{ verifyAccessLog: { ok: boolean } }>(token.archivist, `{ verifyAccessLog { ok } }`)).verifyAccessLog.ok).toBe(true);
  });

  it('exports the fiscal year’s package as ARCHIVIST, which verify-package accepts', async () => {
    const res = await fetch(`${base}/archive/packages/${record.fiscalYear}.zip`, { headers: { authorization: `Bearer ${token.archivist}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    packageFile = path.join(dir, `archive-${record.fiscalYear}.zip`);
    await pipeline(Readable.fromWeb(res.body as never), createWriteStream(packageFile));
    const byCli = await verifyCli(packageFile);
    expect(byCli.stdout).toContain('1 records, 3 original files');
    expect(byCli.code).toBe(0);
  });

  it('is rejected by verify-package after one byte of the photo inside the ZIP is changed, naming it', async () => {
    const photoPath = `data/电子档案/${record.fiscalYear}/PZ/${record.archiveNo}/files/taxi receipt.jpg`;
    // The originals are stored uncompressed: flip one byte of the photo's data in place, fixing nothing else.
    const zip = await yauzl.openPromise(packageFile, { lazyEntries: true });
    let start = -1;
    let size = -1;
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName !== photoPath) continue;
      start = (await zip.readLocalFileHeaderPromise(entry, { minimal: true })).fileDataStart;
      size = entry.compressedSize;
    }
    zip.close();
    expect(size).toBe(JPEG.length);
    const handle = await open(packageFile, 'r+');
    const byte = Buffer.alloc(1);
    const at = start + Math.floor(JPEG.length / 2);
    await handle.read(byte, 0, 1, at);
    expect(byte[0]).toBe(JPEG[Math.floor(JPEG.length / 2)]);
    byte[0] ^= 0x01;
    await handle.write(byte, 0, 1, at);
    await handle.close();
    const byCli = await verifyCli(packageFile);
    expect(byCli.code).toBe(1);
    // Each check that reads the photo (the bag's manifest, its record's metadata.xml) names it, and nothing else.
    expect(byCli.stdout).toMatch(/^REJECTED .*: \d+ problem\(s\)$/m);
    expect(new Set(byCli.stdout.split('\n').filter((l) => /^[A-Z]+ data\//.test(l)).map((l) => l.split(':')[0]))).toEqual(new Set([`ALTERED ${photoPath}`]));
  });
});
