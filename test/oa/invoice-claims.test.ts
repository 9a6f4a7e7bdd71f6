// Electronic invoices on claims (issue 17 §2; docs/api.md#electronic-invoices): a 数电票 XML or an OFD uploaded through
// the real gateway is parsed and put to a verification interface (a local HTTP server here); a claim item carrying
// it is checked against it in the claim's transaction, and its number booked (no invoice twice).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Db, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkItemInvoices } from '../../subgraphs/oa/attachments/invoice-support.ts';
import type { AttachmentFile } from '../../subgraphs/oa/attachments/store.ts';
import { ok } from './fixture.ts';
import { type Org } from './seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';
import { COMPANY, invoiceXml, ofdWith, uploadOriginal } from '../helpers/originals.ts';

const OTHER_BUYER = '91440300MA5G12345L';

let serial = 0;
/** A fresh 20-digit invoice number per upload (numbers are booked once across the test). */
const nextNumber = () => `2644200000${String(Date.now() % 1e6).padStart(6, '0')}${String(++serial).padStart(4, '0')}`;

/** A PDF with real cross-reference offsets whose catalogue runs JavaScript when opened. */
function pdfWithScript(): Buffer {
  const objects = ['<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>', '<< /Type /Pages /Kids [3 0 R] /Count 1 >>', '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>', '<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>'];
  let body = '%PDF-1.7\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xrefAt = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

// The verification interface: VERIFIED unless the number is listed as failing or "down" (the connection is dropped).
const failing = new Map<string, string>();
const down = new Set<string>();
const asked: Array<Record<string, unknown>> = [];
let verifier: Server;

type Errors = { message: string; extensions?: { code?: string; field?: string } }[];

let stack: Stack;
let org: Org;
let base: string;
let alice: string;
const db = () => stack.connection.db as unknown as Db;

const upload = (name: string, bytes: Buffer) => uploadOriginal(base, `Bearer ${alice}`, name, bytes);

const CLAIM = `mutation($input: CreateExpenseClaimInput!) {
  createExpenseClaim(input: $input) {
    id
    items { invoiceNo attachments { id invoice { number issueDate kind total amount tax buyer { name taxId } seller { name taxId } lines { name amount tax taxRate quantity } } verification { status reason checkedAt } structure { ok problems encrypted activeContent } } }
  }
}`;

const claim = (items: Array<{ amount: string; occurredOn: string; invoiceNo?: string; attachmentIds: string[] }>) =>
  stack.gql<{ createExpenseClaim: { id: string; items: { invoiceNo: string | null; attachments: Array<Record<string, any>> }[] } }>(alice, CLAIM, {
    input: { title: 'Invoice claim', category: 'OFFICE', items: items.map((i, n) => ({ description: `item ${n}`, ...i })) },
  });

function refused(r: { errors?: Errors }, code: string, field?: string): string {
  expect(r.errors, JSON.stringify(r)).toHaveLength(1);
  expect(r.errors![0].extensions?.code).toBe(code);
  if (field !== undefined) expect(r.errors![0].extensions?.field).toBe(field);
  return r.errors![0].message;
}

beforeAll(async () => {
  verifier = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
      asked.push(body);
      const number = String(body.invoiceNumber);
      if (down.has(number)) return void req.socket.destroy();
      const reason = failing.get(number);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reason ? { status: 'FAILED', reason } : { status: 'VERIFIED' }));
    });
  });
  await new Promise<void>((r) => verifier.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(verifier.address() as AddressInfo).port}/verify`;
  stack = await startStack({ label: 'invoice-claims', invoices: { companyTaxId: COMPANY, verifier: { url, timeoutMs: 2000 } } });
  org = await seed(stack);
  base = stack.gateways[0].url.replace(/\/graphql$/, '');
  alice = await stack.token(org.ids.alice);
}, 60_000);

afterAll(async () => {
  await stack?.close();
  verifier?.closeAllConnections();
  await new Promise((r) => verifier?.close(r));
});

describe('an uploaded 数电票 XML', () => {
  it('is parsed and verified at upload, supports a matching item, and reads back in full', async () => {
    const number = nextNumber();
    const up = await upload('发票.xml', invoiceXml(number));
    expect(up.invoice).toEqual({ number, issueDate: '2026-09-01', total: '1272.00' });
    expect(up.structure).toEqual({ ok: true, problems: [], encrypted: false, activeContent: false });
    expect(up.verification).toEqual({ status: 'VERIFIED', reason: null, checkedAt: expect.any(String) });
    expect(asked.find((a) => a.invoiceNumber === number)).toEqual({ invoiceNumber: number, issueDate: '2026-09-01', totalAmount: '1272.00', buyerTaxId: COMPANY, sellerTaxId: '91110105MA00P8L2RU' });

    const r = await claim([{ amount: '1272.00', occurredOn: '2026-09-02', invoiceNo: number, attachmentIds: [up.id] }]);
    const [att] = ok(r).createExpenseClaim.items[0].attachments;
    expect(att.invoice).toEqual({
      number,
      issueDate: '2026-09-01',
      kind: 'BLUE',
      total: '1272.00',
      amount: '1200.00',
      tax: '72.00',
      buyer: { name: '深圳市示例科技有限公司', taxId: COMPANY },
      seller: { name: '北京示例软件服务有限公司', taxId: '91110105MA00P8L2RU' },
      lines: [
        { name: '*信息技术服务*软件维护服务费', amount: '1000.00', tax: '60.00', taxRate: '0.06', quantity: '1' },
        { name: '*现代服务*咨询费', amount: '200.00', tax: '12.00', taxRate: '6%', quantity: '3' },
      ],
    });
    expect(att.verification).toMatchObject({ status: 'VERIFIED', reason: null });
    // The check against the item is stored with the file, the buyer included (COMPANY_TAX_ID is configured).
    const doc = await db().collection<AttachmentFile>('attachments.files').findOne({ _id: new ObjectId(up.id) });
    expect(doc!.metadata).toMatchObject({ claimId: r.data!.createExpenseClaim.id, itemCheck: { buyerChecked: true, note: null } });

    // The same invoice again (a second upload of it) on another claim: refused by the invoice booking.
    const again = await upload('again.xml', invoiceXml(number));
    const second = await claim([{ amount: '1272.00', occurredOn: '2026-09-02', invoiceNo: number, attachmentIds: [again.id] }]);
    expect(refused(second, 'CONFLICT')).toBe(`invoice ${number} is already booked on claim ${(await db().collection('expense_claims').findOne({ _id: new ObjectId(r.data!.createExpenseClaim.id) }))?.claimNo}`);
  });

  it('refuses an item the invoice does not support, naming each field', async () => {
    const number = nextNumber();
    const up = await upload('i.xml', invoiceXml(number));
    const good = { amount: '1272.00', occurredOn: '2026-09-02', invoiceNo: number, attachmentIds: [up.id] };
    const plain = { amount: '5.00', occurredOn: '2026-09-02', attachmentIds: [] };
    expect(refused(await claim([plain, { ...good, invoiceNo: '26442000000099999999' }]), 'BAD_USER_INPUT', 'items[1].invoiceNo')).toContain(`differs from the invoice's number ${number}`);
    expect(refused(await claim([plain, { ...good, invoiceNo: undefined }]), 'BAD_USER_INPUT', 'items[1].invoiceNo')).toContain('is required with an invoice file');
    expect(refused(await claim([{ ...good, amount: '1272.01' }]), 'BAD_USER_INPUT', 'items[0].amount')).toBe('items[0].amount 1272.01 differs from the invoice total 1272.00');
    expect(refused(await claim([{ ...good, occurredOn: '2026-08-31' }]), 'BAD_USER_INPUT', 'items[0].occurredOn')).toBe(`invoice ${number} was issued on 2026-09-01, after the expense on 2026-08-31`);
    // Every mismatch of the item in one answer, the first named.
    const both = refused(await claim([{ ...good, amount: '1.00', occurredOn: '2026-08-31' }]), 'BAD_USER_INPUT', 'items[0].amount');
    expect(both).toBe(`items[0].amount 1.00 differs from the invoice total 1272.00; invoice ${number} was issued on 2026-09-01, after the expense on 2026-08-31`);

    const otherNumber = nextNumber();
    const other = await upload('other-buyer.xml', invoiceXml(otherNumber, OTHER_BUYER));
    expect(refused(await claim([{ ...good, invoiceNo: otherNumber, attachmentIds: [other.id] }]), 'BAD_USER_INPUT', 'items[0].invoice.buyerTaxId')).toBe(
      `invoice ${otherNumber} was issued to buyer tax id ${OTHER_BUYER}, not to the company (${COMPANY})`,
    );
    // One item, one invoice.
    expect(refused(await claim([{ ...good, attachmentIds: [up.id, other.id] }]), 'BAD_USER_INPUT', 'items[0].attachmentIds[1]')).toContain('one item carries one invoice');
    // Nothing was bound or booked by the refused claims: the matching item is still accepted.
    ok(await claim([good]));
  });

  it('refuses an invoice the verifier FAILED, and accepts one it could not check (NOT_CHECKED, shown)', async () => {
    const bad = nextNumber();
    failing.set(bad, '查无此票');
    const failed = await upload('failed.xml', invoiceXml(bad));
    expect(failed.verification).toMatchObject({ status: 'FAILED', reason: '查无此票' });
    expect(refused(await claim([{ amount: '1272.00', occurredOn: '2026-09-02', invoiceNo: bad, attachmentIds: [failed.id] }]), 'BAD_USER_INPUT', 'items[0].attachmentIds[0]')).toBe(
      `items[0].attachmentIds[0]: invoice ${bad} failed verification: 查无此票`,
    );

    const unchecked = nextNumber();
    down.add(unchecked);
    const up = await upload('unchecked.xml', invoiceXml(unchecked));
    expect(up.verification).toMatchObject({ status: 'NOT_CHECKED', reason: 'the verification interface could not be reached' });
    const r = await claim([{ amount: '1272.00', occurredOn: '2026-09-02', invoiceNo: unchecked, attachmentIds: [up.id] }]);
    expect(ok(r).createExpenseClaim.items[0].attachments[0].verification).toMatchObject({ status: 'NOT_CHECKED', reason: 'the verification interface could not be reached' });
  });

  it('stores a malformed XML that claims to be an invoice, marked, supporting no check', async () => {
    const up = await upload('broken.xml', Buffer.from('<?xml version="1.0" encoding="UTF-8"?><EInvoice><TaxSupervisionInfo><InvoiceNumber>1</InvoiceNumber></TaxSupervisionInfo></EInvoice>'));
    expect(up).toMatchObject({ invoice: null, verification: null, structure: { ok: false, problems: ['EInvoiceData missing'], encrypted: false, activeContent: false } });
    const r = await claim([{ amount: '3.00', occurredOn: '2026-09-02', attachmentIds: [up.id] }]);
    expect(ok(r).createExpenseClaim.items[0].attachments[0]).toMatchObject({ invoice: null, structure: { ok: false, problems: ['EInvoiceData missing'] } });
  });
});

describe('OFD and PDF originals', () => {
  it('reads the 数电票 XML an OFD carries as an attachment, and checks the item against it the same way', async () => {
    const number = nextNumber();
    const up = await upload('发票.ofd', ofdWith(invoiceXml(number)));
    expect(up).toMatchObject({ invoice: { number, issueDate: '2026-09-01', total: '1272.00' }, structure: { ok: true, problems: [] }, verification: { status: 'VERIFIED' } });
    expect(refused(await claim([{ amount: '1000.00', occurredOn: '2026-09-02', invoiceNo: number, attachmentIds: [up.id] }]), 'BAD_USER_INPUT', 'items[0].amount')).toContain('differs from the invoice total 1272.00');
    const r = await claim([{ amount: '1272.00', occurredOn: '2026-09-02', invoiceNo: number, attachmentIds: [up.id] }]);
    // An OFD's summary: parties, amounts and total; no lines.
    expect(ok(r).createExpenseClaim.items[0].attachments[0].invoice).toMatchObject({ number, total: '1272.00', amount: '1200.00', tax: '72.00', buyer: { taxId: COMPANY }, lines: [] });
  });

  it('stores a PDF with JavaScript flagged as active content (kept: the four-properties check reads the flag)', async () => {
    const up = await upload('invoice.pdf', pdfWithScript());
    expect(up).toMatchObject({ invoice: null, verification: null, structure: { ok: true, problems: [], encrypted: false, activeContent: true } });
    const doc = await db().collection<AttachmentFile>('attachments.files').findOne({ _id: new ObjectId(up.id) });
    expect(doc!.metadata.structure).toEqual({ ok: true, problems: [], encrypted: false, activeContent: true });
  });
});

describe('checkItemInvoices without COMPANY_TAX_ID', () => {
  it('skips the buyer check and records that it did', () => {
    const now = new Date('2026-10-01T00:00:00Z');
    const id = new ObjectId();
    const invoice = { invoiceNumber: '26442000000012345678', issueDate: '2026-09-01', kind: 'BLUE' as const, source: 'EINVOICE_XML' as const, buyer: { name: 'x', taxId: OTHER_BUYER }, seller: { name: 'y', taxId: '91110105MA00P8L2RU' }, amountFen: 120000, taxFen: 7200, totalFen: 127200, lines: [] };
    const file = { _id: id, length: 1, filename: 'i.xml', metadata: { invoice, verification: { status: 'VERIFIED', reason: null, checkedAt: now } } } as unknown as AttachmentFile;
    const items = [{ invoiceNo: '26442000000012345678', amountFen: 127200, occurredOn: '2026-09-01', attachmentIds: [id.toHexString()] }];
    const checks = checkItemInvoices(items, new Map([[id.toHexString(), file]]), { companyTaxId: null, verifier: null }, now);
    expect(checks.get(id.toHexString())).toEqual({ checkedAt: now, buyerChecked: false, note: 'COMPANY_TAX_ID is not configured: the buyer tax id was not checked' });
    // With it configured, the same invoice names the buyer.
    expect(() => checkItemInvoices(items, new Map([[id.toHexString(), file]]), { companyTaxId: COMPANY, verifier: null }, now)).toThrow(/issued to buyer tax id/);
  });
});
