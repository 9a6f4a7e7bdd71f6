// Originals on claims (issue 17 §1; docs/api.md#attachments): POST /files on a real gateway over HTTP, stored by the
// oa subgraph in GridFS, referenced by claim items. Types come from the bytes (a renamed executable is refused),
// limits cut the stream (nothing stored, nothing left in the spool), and unreferenced uploads expire.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { zipSync } from 'fflate';
import { GridFSBucket, type Db, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttachmentStore } from '../../subgraphs/oa/attachments/store.ts';
import { ok } from './fixture.ts';
import { type Org, item } from './seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';
import { until } from '../helpers/wait.ts';

const ACCEPTED = ['application/pdf', 'application/ofd', 'application/xml', 'image/jpeg', 'image/png', 'image/tiff', 'image/heic'];
const PDF = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
const XML = Buffer.from('\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<EInvoice><Header><InvoiceNumber>24312000000012345678</InvoiceNumber></Header><TotalAmount>100.00</TotalAmount></EInvoice>\n');
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0'), Buffer.alloc(200, 7), Buffer.from([0xff, 0xd9])]);
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(60, 1)]);
const TIFF = Buffer.concat([Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0, 0, 0]), Buffer.alloc(60, 2)]);
const HEIC = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\0\0\0\0mif1heic'), Buffer.alloc(60, 3)]);
const OFD = Buffer.from(zipSync({ 'OFD.xml': Buffer.from('<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0"/>'), 'Doc_0/Document.xml': Buffer.from('<ofd:Document/>') }));
const ZIP = Buffer.from(zipSync({ 'readme.txt': Buffer.from('not an invoice') }));
const EXE = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(58), Buffer.from('PE\0\0'), Buffer.alloc(500, 0x90)]);
const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(100)]);
const SCRIPT = Buffer.from('#!/bin/sh\nrm -rf /\n');
const HTML = Buffer.from('<html><body><script>alert(1)</script></body></html>');

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const CLAIM = `mutation($input: CreateExpenseClaimInput!) {
  createExpenseClaim(input: $input) { id items { description attachments { id filename mediaType size sha256 uploadedAt } } }
}`;
const READ = `query($id: ID!) { expenseClaim(id: $id) { id items { attachments { id filename sha256 } } } }`;

interface Uploaded {
  id: string;
  filename: string;
  mediaType: string;
  size: number;
  sha256: string;
}
interface Answer {
  status: number;
  body: Record<string, unknown> & { errors?: { message: string; extensions: { code: string; accepted?: string[]; field?: string } }[] };
}

let stack: Stack;
let org: Org;
let base: string;
let alice: string;
let bob: string;

const db = () => stack.connection.db as unknown as Db;
const storedCount = () => db().collection('attachments.files').countDocuments();
const spoolEmpty = () => readdirSync(stack.gateways[0].gateway.files.spoolDir).length === 0;

async function multipart(token: string | null, name: string, bytes: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  const res = await fetch(`${base}/files`, { method: 'POST', headers: { ...(token && { authorization: token }), ...headers }, body: form });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

async function raw(token: string, name: string, bytes: Buffer): Promise<Answer> {
  const res = await fetch(`${base}/files`, {
    method: 'POST',
    headers: { authorization: token, 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}` },
    body: bytes,
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

/** A raw upload of `total` bytes (a PDF header, then a repeating pattern) streamed in 64 KiB chunks without Content-Length. */
function streamed(token: string, total: number, declared?: number): Promise<Answer & { sha256: string; sent: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let sent = 0;
    const req = request(`${base}/files`, {
      method: 'POST',
      headers: { authorization: token, 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="big.pdf"', ...(declared !== undefined && { 'content-length': String(declared) }) },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()), sha256: hash.digest('hex'), sent }));
    });
    req.on('error', (err) => (answered ? undefined : reject(err)));
    const pattern = Buffer.alloc(64 * 1024);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 31) & 0xff;
    const pump = () => {
      while (sent < total && !answered) {
        const chunk = sent === 0 ? Buffer.concat([Buffer.from('%PDF-1.4\n'), pattern.subarray(9)]) : pattern.subarray(0, Math.min(pattern.length, total - sent));
        hash.update(chunk);
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered && declared === undefined) req.end();
    };
    if (declared !== undefined && total === 0) req.flushHeaders();
    else pump();
  });
}

const upload = async (token: string, name: string, bytes: Buffer): Promise<Uploaded> => {
  const r = await multipart(token, name, bytes);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as unknown as Uploaded;
};

beforeAll(async () => {
  stack = await startStack({ label: 'attachments' });
  org = await seed(stack);
  base = stack.gateways[0].url.replace(/\/graphql$/, '');
  alice = `Bearer ${await stack.token(org.ids.alice)}`;
  bob = `Bearer ${await stack.token(org.ids.bob)}`;
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('POST /files', () => {
  it('stores a PDF, an XML, a JPEG and an OFD, multipart and raw, with their digest, size and type from the bytes', async () => {
    const cases: Array<[string, Buffer, string, 'multipart' | 'raw']> = [
      ['发票 2026.pdf', PDF, 'application/pdf', 'multipart'],
      ['einvoice.xml', XML, 'application/xml', 'raw'],
      ['receipt.jpg', JPEG, 'image/jpeg', 'raw'],
      ['invoice.ofd', OFD, 'application/ofd', 'multipart'],
      ['scan.png', PNG, 'image/png', 'raw'],
      ['scan.tif', TIFF, 'image/tiff', 'multipart'],
      ['photo.heic', HEIC, 'image/heic', 'raw'],
    ];
    for (const [name, bytes, mediaType, how] of cases) {
      const r = how === 'multipart' ? await multipart(alice, name, bytes) : await raw(alice, name, bytes);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      // These minimal XML, OFD and PDF files fail their format check: stored all the same, marked (test/oa/invoice-claims.test.ts).
      const structure = mediaType.startsWith('image/') ? null : expect.objectContaining({ ok: false, problems: [expect.any(String)] });
      expect(r.body).toEqual({ id: expect.stringMatching(/^[0-9a-f]{24}$/), filename: name, mediaType, size: bytes.length, sha256: sha256(bytes), invoice: null, structure, verification: null });
      // The bytes in GridFS are the bytes sent, with the owner and an expiry.
      const id = new ObjectId(r.body.id as string);
      const chunks: Buffer[] = [];
      for await (const c of new GridFSBucket(db(), { bucketName: 'attachments' }).openDownloadStream(id)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
      const doc = await db().collection('attachments.files').findOne({ _id: id });
      expect(doc!.metadata).toMatchObject({ ownerId: org.ids.alice, sha256: sha256(bytes), mediaType, size: bytes.length, filename: name, claimId: null });
      expect(doc!.metadata.expiresAt.getTime() - doc!.metadata.uploadedAt.getTime()).toBe(24 * 3_600_000);
    }
    expect(spoolEmpty()).toBe(true);
  });

  it('refuses a renamed executable and other types not accepted, from their bytes: 415 with the accepted list', async () => {
    const before = await storedCount();
    for (const [name, bytes] of [['invoice.pdf', EXE], ['invoice.pdf', ELF], ['invoice.xml', SCRIPT], ['invoice.ofd', ZIP], ['invoice.xml', HTML]] as const) {
      const r = await multipart(alice, name, bytes);
      expect(r.status, name).toBe(415);
      expect(r.body.errors![0].extensions.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(r.body.errors![0].extensions.accepted).toEqual(ACCEPTED);
      expect(r.body.errors![0].message).toContain('application/pdf');
    }
    const asRaw = await raw(alice, 'invoice.pdf', EXE);
    expect(asRaw.status).toBe(415);
    // One file part and nothing else.
    const two = new FormData();
    two.append('file', new Blob([PDF]), 'a.pdf');
    two.append('file', new Blob([PDF]), 'b.pdf');
    const twoParts = await fetch(`${base}/files`, { method: 'POST', headers: { authorization: alice }, body: two });
    expect(twoParts.status).toBe(400);
    const withField = new FormData();
    withField.append('note', 'hi');
    withField.append('file', new Blob([PDF]), 'a.pdf');
    expect((await fetch(`${base}/files`, { method: 'POST', headers: { authorization: alice }, body: withField })).status).toBe(400);
    expect(await storedCount()).toBe(before);
    expect(spoolEmpty()).toBe(true);
  });

  it('puts every upload in the audit trail: the file stored, or the refusal’s code', async () => {
    const stored = await multipart(alice, 'audited.pdf', Buffer.concat([PDF, Buffer.from('% audited\n')]));
    expect(stored.status).toBe(201);
    const refused = await multipart(alice, 'audited.pdf', EXE);
    expect(refused.status).toBe(415);
    const audit = db().collection('audit_log');
    await until(async () => (await audit.countDocuments({ action: `upload file ${stored.body.id as string}`, actor: org.ids.alice, outcome: 'OK' })) === 1, 'the upload audited');
    // The trail's outcomes are its fixed vocabulary (BAD_REQUEST for a 415); the action names the refusal's own code.
    await until(async () => (await audit.countDocuments({ action: 'upload file refused: UNSUPPORTED_MEDIA_TYPE', actor: org.ids.alice, outcome: 'BAD_REQUEST' })) >= 1, 'the refusal audited');
  });

  it('cuts a file past FILE_MAX_BYTES with 413, streamed or declared; nothing stored, nothing spooled', async () => {
    const before = await storedCount();
    const cut = await streamed(alice, 21 * 1024 * 1024);
    expect(cut.status).toBe(413);
    expect(cut.body.errors![0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    const declared = await streamed(alice, 0, 30 * 1024 * 1024);
    expect(declared.status).toBe(413);
    expect(await storedCount()).toBe(before);
    await expect.poll(spoolEmpty).toBe(true);
  });

  it('drops an upload whose client goes away mid-body: nothing stored, nothing spooled', async () => {
    const before = await storedCount();
    const boundary = 'x-boundary-1234';
    await new Promise<void>((resolve) => {
      const req = request(`${base}/files`, { method: 'POST', headers: { authorization: alice, 'content-type': `multipart/form-data; boundary=${boundary}` } });
      req.on('error', () => resolve());
      req.write(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.pdf"\r\ncontent-type: application/pdf\r\n\r\n`);
      req.write(Buffer.concat([PDF, Buffer.alloc(256 * 1024, 1)]), () => {
        // The spooled part exists on the gateway before the client leaves.
        void until(() => !spoolEmpty(), 'the part to be spooled').then(() => {
          req.destroy();
          resolve();
        });
      });
    });
    await until(spoolEmpty, 'the spool to be emptied');
    expect(await storedCount()).toBe(before);
  });

  it('streams a 15 MiB file through without holding it', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    const r = await streamed(alice, 15 * 1024 * 1024);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ size: 15 * 1024 * 1024, sha256: r.sha256, mediaType: 'application/pdf', filename: 'big.pdf' });
    // Loose: the client, the gateway and oa share this process; a buffered copy would be 15 MiB at once.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    expect(spoolEmpty()).toBe(true);
  });

  it('answers 401 without a valid token and 403 to an API key', async () => {
    expect((await multipart(null, 'a.pdf', PDF)).status).toBe(401);
    expect((await multipart('Bearer not-a-token', 'a.pdf', PDF)).body.errors![0].extensions.code).toBe('UNAUTHENTICATED');
    const admin = await stack.token('ops-admin', ['ADMIN']);
    const created = await stack.gql<{ createApiKey: { key: string } }>(admin, `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }`, { input: { name: 'uploader?', scopes: ['CLAIMS_READ'] } });
    const r = await multipart(`ApiKey ${created.data!.createApiKey.key}`, 'a.pdf', PDF);
    expect(r.status).toBe(403);
    expect(r.body.errors![0].extensions.code).toBe('FORBIDDEN');
    expect(spoolEmpty()).toBe(true);
  });
});

describe('attachments on claims', () => {
  it('binds the uploads to the claim item that references them, and shows them on it', async () => {
    const pdf = await upload(alice, 'a.pdf', PDF);
    const xml = await upload(alice, 'a.xml', XML);
    const jpg = await upload(alice, 'a.jpg', JPEG);
    const r = await stack.gql<{ createExpenseClaim: { id: string; items: { attachments: Uploaded[] }[] } }>(alice.slice(7), CLAIM, {
      input: { title: 'Trip', category: 'TRAVEL', items: [{ ...item('100.00'), attachmentIds: [pdf.id, xml.id] }, { ...item('20.00'), attachmentIds: [jpg.id] }, item('1.00')] },
    });
    expect(r.errors).toBeUndefined();
    const claim = r.data!.createExpenseClaim;
    expect(claim.items.map((i) => i.attachments.map((a) => a.id))).toEqual([[pdf.id, xml.id], [jpg.id], []]);
    expect(claim.items[0].attachments[0]).toMatchObject({ filename: 'a.pdf', mediaType: 'application/pdf', size: PDF.length, sha256: sha256(PDF) });
    const doc = await db().collection('attachments.files').findOne({ _id: new ObjectId(pdf.id) });
    expect(doc!.metadata).toMatchObject({ claimId: claim.id, expiresAt: null });
    // Whoever reads the claim reads its files' metadata: her manager.
    const manager = await stack.gql<{ expenseClaim: { items: { attachments: { sha256: string }[] }[] } }>(await stack.token(org.ids.salesManager), READ, { id: claim.id });
    expect(manager.errors).toBeUndefined();
    expect(manager.data!.expenseClaim.items[1].attachments[0].sha256).toBe(sha256(JPEG));

    // An upload on one claim cannot be referenced by another, not even by its owner.
    const again = await stack.gql(alice.slice(7), CLAIM, { input: { title: 'Again', category: 'TRAVEL', items: [{ ...item('5.00'), attachmentIds: [jpg.id] }] } });
    expect(again.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'items[0].attachmentIds[0]' } });
  });

  it("refuses another employee's upload exactly as a missing id, naming the field", async () => {
    const mine = await upload(alice, 'mine.pdf', PDF);
    const theirs = await stack.gql(bob.slice(7), CLAIM, { input: { title: 'x', category: 'TRAVEL', items: [item('1.00'), { ...item('2.00'), attachmentIds: [mine.id] }] } });
    const missing = await stack.gql(bob.slice(7), CLAIM, { input: { title: 'x', category: 'TRAVEL', items: [item('1.00'), { ...item('2.00'), attachmentIds: [new ObjectId().toHexString()] }] } });
    expect(theirs.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'items[1].attachmentIds[0]' } });
    expect(theirs.errors![0].message).toBe(missing.errors![0].message);
    expect(missing.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'items[1].attachmentIds[0]' });
    const doc = await db().collection('attachments.files').findOne({ _id: new ObjectId(mine.id) });
    expect(doc!.metadata.claimId).toBeNull();
    const tooMany = await stack.gql(alice.slice(7), CLAIM, { input: { title: 'x', category: 'TRAVEL', items: [{ ...item('1.00'), attachmentIds: Array.from({ length: 11 }, () => mine.id) }] } });
    expect(tooMany.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'items[0].attachmentIds' } });
  });

  it('expires unreferenced uploads (file and chunks) and keeps referenced ones', async () => {
    const loose = await upload(alice, 'loose.pdf', PDF);
    const kept = await upload(alice, 'kept.pdf', PDF);
    ok(await stack.oa.gql(org.as.alice, CLAIM, { input: { title: 'Kept', category: 'TRAVEL', items: [{ ...item('3.00'), attachmentIds: [kept.id] }] } }));
    const chunksOf = (id: string) => db().collection('attachments.chunks').countDocuments({ files_id: new ObjectId(id) });
    expect(await chunksOf(loose.id)).toBe(1);
    // Not yet due: nothing goes.
    const now = new AttachmentStore(stack.connection);
    await now.sweep(1000);
    expect(await db().collection('attachments.files').countDocuments({ _id: new ObjectId(loose.id) })).toBe(1);
    // A day and an hour later, as the oa process's sweeper would see it.
    const later = new AttachmentStore(stack.connection, {}, () => new Date(Date.now() + 25 * 3_600_000));
    let swept = 0;
    for (let n = await later.sweep(2); n > 0; n = await later.sweep(2)) swept += n;
    expect(swept).toBeGreaterThan(0);
    expect(await db().collection('attachments.files').countDocuments({ _id: new ObjectId(loose.id) })).toBe(0);
    expect(await chunksOf(loose.id)).toBe(0);
    expect(await db().collection('attachments.files').countDocuments({ 'metadata.claimId': null })).toBe(0);
    expect(await db().collection('attachments.files').countDocuments({ _id: new ObjectId(kept.id) })).toBe(1);
    expect(await chunksOf(kept.id)).toBe(1);
    // A swept id is refused as any unknown one.
    const late = await stack.gql(alice.slice(7), CLAIM, { input: { title: 'Late', category: 'TRAVEL', items: [{ ...item('3.00'), attachmentIds: [loose.id] }] } });
    expect(late.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'items[0].attachmentIds[0]' });
  });
});
