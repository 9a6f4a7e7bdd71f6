// Handover packages (issue 17 §6; README "Handover packages"): on the real stack, two claims with originals are
// filed, the fiscal year is exported over HTTP at GET /archive/packages/<year>.zip as ARCHIVIST, and the offline
// check (`npm run verify-package`, subgraphs/archive/handover/verify.ts) accepts the package, then rejects it after
// one byte of one file is changed, or one entry removed, naming the entry.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { ZipFile } from 'yazl';
import type { ArchiveRecordDoc } from '../../subgraphs/archive/models.ts';
import { safeName } from '../../subgraphs/archive/handover/layout.ts';
import { verifyPackage } from '../../subgraphs/archive/handover/verify.ts';
import { repoRoot } from '../engine/child.ts';
import { ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, type Org, item } from '../oa/seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';
import { until } from '../helpers/wait.ts';
import { uploadOriginal } from '../helpers/originals.ts';

const PDF_A = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n% claim A\ntrailer << /Root 1 0 R >>\n%%EOF\n');
const PDF_B = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n% claim B, another invoice\ntrailer << /Root 1 0 R >>\n%%EOF\n');
const XML = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<EInvoice><Header><InvoiceNumber>24312000000012345678</InvoiceNumber></Header><TotalAmount>100.00</TotalAmount></EInvoice>\n');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const run = promisify(execFile);
const cli = (file: string) =>
  run(process.execPath, ['--import', 'tsx', 'scripts/verify-package.ts', file], { cwd: repoRoot }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );

let stack: Stack;
let org: Org;
let base: string;
let dir: string;
let archivist: string;
let year: number;
const records: ArchiveRecordDoc[] = [];
const bearer = async (sub: string, roles: string[] = []) => `Bearer ${await stack.token(sub, roles as never)}`;
const db = () => stack.connection.db as unknown as Db;

const upload = async (token: string, name: string, bytes: Buffer): Promise<string> => (await uploadOriginal(base, token, name, bytes)).id;

/** A claim with these uploads, approved and filed: its record. */
async function fileClaim(title: string, files: Array<[string, Buffer]>): Promise<ArchiveRecordDoc> {
  const alice = await bearer(org.ids.alice);
  const ids = [];
  for (const [name, bytes] of files) ids.push(await upload(alice, name, bytes));
  const claim = ok(await stack.oa.gql<{ createExpenseClaim: { id: string } }>(org.as.alice, CREATE_CLAIM, { input: { title, category: 'TRAVEL', items: [{ ...item('100.00'), attachmentIds: ids }] } })).createExpenseClaim;
  ok(await stack.oa.gql(org.as.alice, SUBMIT, { id: claim.id }));
  ok(await stack.oa.gql(org.as.salesManager, DECIDE, { id: claim.id, d: 'APPROVE' }));
  ok(await stack.oa.gql(org.as.accountant, DECIDE, { id: claim.id, d: 'APPROVE' }));
  const claimNo = (await stack.oa.gql<{ expenseClaim: { claimNo: string } }>(org.as.alice, `query($id: ID!) { expenseClaim(id: $id) { claimNo } }`, { id: claim.id })).data!.expenseClaim.claimNo;
  await until(async () => (await db().collection('archive_records').countDocuments({ sourceClaimNo: claimNo })) === 1, `${title} filed with its originals`);
  return (await db().collection<ArchiveRecordDoc>('archive_records').findOne({ sourceClaimNo: claimNo }))!;
}

/** Saves an export to a file; its status and path. */
async function exportTo(name: string, query: string, token = archivist): Promise<{ status: number; file: string; res: Response }> {
  const res = await fetch(`${base}/archive/packages/${query}`, { headers: { authorization: token } });
  const file = path.join(dir, name);
  if (res.status === 200) await pipeline(Readable.fromWeb(res.body as never), createWriteStream(file));
  return { status: res.status, file, res };
}

/** Every entry of a ZIP with its bytes (test packages are small). */
async function entriesOf(file: string): Promise<Map<string, Buffer>> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true });
  const out = new Map<string, Buffer>();
  for await (const entry of zip.eachEntry()) {
    const parts: Buffer[] = [];
    for await (const c of await zip.openReadStreamPromise(entry)) parts.push(c as Buffer);
    out.set(entry.fileName, Buffer.concat(parts));
  }
  zip.close();
  return out;
}

/** The ZIP rewritten with the same entries less `drop`, after `edit`. */
async function rewrite(from: string, to: string, drop: string, edit: (entries: Map<string, Buffer>) => void = () => {}): Promise<void> {
  const zip = new ZipFile();
  const entries = await entriesOf(from);
  edit(entries);
  for (const [name, bytes] of entries) if (name !== drop) zip.addBuffer(bytes, name);
  zip.end();
  await pipeline(zip.outputStream as Readable, createWriteStream(to));
}

let full: string;
let pdfPath: string;

beforeAll(async () => {
  stack = await startStack({ label: 'handover' });
  org = await seed(stack);
  base = stack.gateways[0].url.replace(/\/graphql$/, '');
  dir = await mkdtemp(path.join(tmpdir(), 'handover-'));
  archivist = await bearer('archivist-1', ['ARCHIVIST']);
  records.push(await fileClaim('Taxi', [['发票 2026.pdf', PDF_A], ['einvoice.xml', XML]]));
  records.push(await fileClaim('Hotel', [['发票 2026.pdf', PDF_B]]));
  year = records[0].fiscalYear;
  // A ledger of the same year, in another category (ZB), without originals.
  ok(await stack.gql(archivist.slice(7), `mutation($input: FileRecordInput!) { fileArchiveRecord(input: $input) { id } }`, { input: { kind: 'GENERAL_LEDGER', title: `General ledger ${year}`, fiscalYear: year, content: '{"ledger":true}', mediaType: 'application/json' } }));
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('names in a package', () => {
  it('are safe on every file system and unique within their folder', () => {
    const taken = new Set<string>();
    expect(['a/b\\c:d?.pdf', 'CON.pdf', 'x.pdf', 'X.pdf', 'x.pdf', 'tab\tname. ', '..', '发票 2026.pdf'].map((n) => safeName(n, taken))).toEqual([
      'a_b_c_d_.pdf', '_CON.pdf', 'x.pdf', 'X (2).pdf', 'x (3).pdf', 'tab_name', 'file', '发票 2026.pdf',
    ]);
  });
});

describe('GET /archive/packages/<fiscalYear>.zip', () => {
  it('exports the year as a BagIt package with each record’s metadata, fixity and originals, logging every record', async () => {
    const inYear = await db().collection<ArchiveRecordDoc>('archive_records').find({ fiscalYear: year }).sort({ archiveNo: 1 }).toArray();
    const logged = () => db().collection('archive_access_log').countDocuments({ actorId: 'archivist-1', purpose: `handover package export (fiscal year ${year})` });
    expect(await logged()).toBe(0);
    const { status, file, res } = await exportTo('full.zip', `${year}.zip`);
    expect(status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="archive-${year}.zip"`);
    // Streamed as it is written: no length known up front.
    expect(res.headers.get('content-length')).toBeNull();
    full = file;
    const entries = await entriesOf(file);
    const recordDir = (r: ArchiveRecordDoc) => `data/电子档案/${year}/${r.category}/${r.archiveNo}`;
    const [a, b] = records.map(recordDir);
    pdfPath = `${a}/files/发票 2026.pdf`;
    expect(entries.get(pdfPath)!.equals(PDF_A)).toBe(true);
    expect(entries.get(`${a}/files/einvoice.xml`)!.equals(XML)).toBe(true);
    expect(entries.get(`${b}/files/发票 2026.pdf`)!.equals(PDF_B)).toBe(true);
    expect(entries.get(`${a}/voucher.json`)!.toString('utf8')).toBe(records[0].content);
    const metadata = entries.get(`${a}/metadata.xml`)!.toString('utf8');
    expect(metadata).toContain(`<archiveNo>${records[0].archiveNo}</archiveNo>`);
    expect(metadata).toContain(`<retention>${records[0].retention}</retention>`);
    expect(metadata).toContain(`digest="${records[0].fixity.digest}"`);
    expect(metadata).toContain(`sha256="${sha256(PDF_A)}"`);
    expect(JSON.parse(entries.get(`${a}/fixity.json`)!.toString('utf8'))).toMatchObject({ chainSeq: records[0].chainSeq, archiveNo: records[0].archiveNo, previousDigest: records[0].fixity.previousDigest });
    // The tag files, the description and the catalogue; every record of the year in its year/category folder.
    expect([...entries.keys()].filter((n) => !n.startsWith('data/电子档案/')).sort()).toEqual(['bag-info.txt', 'bagit.txt', 'data/文件目录.xml', 'data/说明文件.txt', 'manifest-sha256.txt', 'tagmanifest-sha256.txt']);
    expect(new Set([...entries.keys()].filter((n) => n.endsWith('/metadata.xml')))).toEqual(new Set(inYear.map((r) => `${recordDir(r)}/metadata.xml`)));
    expect(entries.get('manifest-sha256.txt')!.toString('utf8')).toContain(`${sha256(PDF_A)}  ${pdfPath}\n`);
    expect((entries.get('data/文件目录.xml')!.toString('utf8').match(/<档号>/g) ?? []).length).toBe(inYear.length);
    // One access-log entry per record exported.
    expect(await logged()).toBe(inYear.length);

    const verified = await verifyPackage(file);
    expect(verified.problems).toEqual([]);
    expect(verified).toMatchObject({ ok: true, records: inYear.length, files: 3 });
    const byCli = await cli(file);
    expect(byCli.code).toBe(0);
    expect(byCli.stdout).toContain(`${inYear.length} records, 3 original files`);
    // The export is in the audit trail.
    await until(async () => (await db().collection('audit_log').countDocuments({ action: 'export archivePackage', actor: 'archivist-1', outcome: 'OK' })) >= 1, 'the export audited');
  });

  it('is rejected after one byte of one file is changed, naming the file (function and CLI)', async () => {
    const altered = path.join(dir, 'altered.zip');
    await writeFile(altered, await readFile(full));
    // The originals are stored uncompressed: flip a byte of the PDF's data in place and fix nothing else.
    const zip = await yauzl.openPromise(altered, { lazyEntries: true });
    let start = -1;
    for await (const entry of zip.eachEntry()) if (entry.fileName === pdfPath) start = (await zip.readLocalFileHeaderPromise(entry, { minimal: true })).fileDataStart;
    zip.close();
    expect(start).toBeGreaterThan(0);
    const handle = await open(altered, 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, start + 20);
    byte[0] ^= 0x01;
    await handle.write(byte, 0, 1, start + 20);
    await handle.close();
    const verified = await verifyPackage(altered);
    expect(verified.ok).toBe(false);
    expect(new Set(verified.problems.map((p) => `${p.kind} ${p.path}`))).toEqual(new Set([`ALTERED ${pdfPath}`]));
    const byCli = await cli(altered);
    expect(byCli.code).toBe(1);
    expect(byCli.stdout).toContain(`ALTERED ${pdfPath}`);
  });

  it('is rejected when an entry is removed, naming it', async () => {
    const cut = path.join(dir, 'cut.zip');
    await rewrite(full, cut, pdfPath);
    const verified = await verifyPackage(cut);
    expect(verified.ok).toBe(false);
    expect(new Set(verified.problems.map((p) => `${p.kind} ${p.path}`))).toEqual(new Set([`MISSING ${pdfPath}`]));
    // The same entries rewritten, none left out, still verify: the check is of the content, not of one ZIP's bytes.
    const same = path.join(dir, 'same.zip');
    await rewrite(full, same, '');
    expect((await verifyPackage(same)).ok).toBe(true);
    // A file slipped into a record's folder (and into the manifest) is named too.
    const extra = path.join(dir, 'extra.zip');
    const slipped = pdfPath.replace(/[^/]+$/, 'later.pdf');
    await rewrite(full, extra, '', (entries) => {
      entries.set(slipped, PDF_B);
      entries.set('manifest-sha256.txt', Buffer.concat([entries.get('manifest-sha256.txt')!, Buffer.from(`${sha256(PDF_B)}  ${slipped}\n`)]));
    });
    expect((await verifyPackage(extra)).problems.map((p) => `${p.kind} ${p.path}`)).toContain(`EXTRA ${slipped}`);
  });

  it('recomputes each record’s fixity digest: a description changed with every manifest recomputed is still caught', async () => {
    const forged = path.join(dir, 'forged.zip');
    const fixityPath = pdfPath.replace(/files\/[^/]+$/, 'fixity.json');
    await rewrite(full, forged, '', (entries) => {
      const fixed = JSON.parse(entries.get(fixityPath)!.toString('utf8')) as { title: string };
      entries.set(fixityPath, Buffer.from(JSON.stringify({ ...fixed, title: 'Something else' })));
      const relist = (manifest: string, paths: string[]) => Buffer.from(paths.map((p) => `${sha256(entries.get(p)!)}  ${p}\n`).join(''));
      const payload = [...entries.keys()].filter((n) => n.startsWith('data/'));
      entries.set('manifest-sha256.txt', relist('manifest-sha256.txt', payload));
      const oxum = `Payload-Oxum: ${payload.reduce((n, p) => n + entries.get(p)!.length, 0)}.${payload.length}`;
      entries.set('bag-info.txt', Buffer.from(entries.get('bag-info.txt')!.toString('utf8').replace(/^Payload-Oxum: .*$/m, oxum)));
      entries.set('tagmanifest-sha256.txt', relist('tagmanifest-sha256.txt', ['bagit.txt', 'bag-info.txt', 'manifest-sha256.txt']));
    });
    const verified = await verifyPackage(forged);
    expect(verified.problems.map((p) => `${p.kind} ${p.path}`)).toEqual([`ALTERED ${fixityPath}`]);
  });

  it('exports one category, and an empty but valid package for a year without records', async () => {
    const ledgers = await exportTo('zb.zip', `${year}.zip?category=ZB`);
    expect(ledgers.status).toBe(200);
    const names = [...(await entriesOf(ledgers.file)).keys()].filter((n) => n.endsWith('/metadata.xml'));
    const zb = await db().collection<ArchiveRecordDoc>('archive_records').find({ fiscalYear: year, category: 'ZB' }).toArray();
    expect(zb.length).toBeGreaterThan(0);
    expect(names.sort()).toEqual(zb.map((r) => `data/电子档案/${year}/ZB/${r.archiveNo}/metadata.xml`).sort());
    expect(await verifyPackage(ledgers.file)).toMatchObject({ ok: true, records: zb.length, files: 0 });

    const empty = await exportTo('empty.zip', '1999.zip');
    expect(empty.status).toBe(200);
    expect(await verifyPackage(empty.file)).toMatchObject({ ok: true, records: 0, files: 0, problems: [] });
  });

  it('is for ARCHIVIST only, and refuses a bad year or category naming it', async () => {
    const employee = await exportTo('x.zip', `${year}.zip`, await bearer(org.ids.bob));
    expect(employee.status).toBe(403);
    expect(((await employee.res.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code).toBe('FORBIDDEN');
    expect((await exportTo('x.zip', `${year}.zip`, await bearer(org.ids.auditor, ['EMPLOYEE', 'AUDITOR']))).status).toBe(403);
    expect((await fetch(`${base}/archive/packages/${year}.zip`)).status).toBe(401);
    const badYear = await exportTo('x.zip', '26.zip');
    expect(badYear.status).toBe(400);
    expect(JSON.stringify(await badYear.res.json())).toContain('fiscalYear');
    const badCategory = await exportTo('x.zip', `${year}.zip?category=XX`);
    expect(badCategory.status).toBe(400);
    expect(JSON.stringify(await badCategory.res.json())).toContain('category');
    expect((await fetch(`${base}/archive/packages/${year}.zip`, { method: 'POST', headers: { authorization: archivist } })).status).toBe(405);
  });
});
