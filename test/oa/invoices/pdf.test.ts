import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InvoiceParseError } from '../../../subgraphs/oa/invoices/fully-digital.ts';
import { checkPdf } from '../../../subgraphs/oa/invoices/pdf.ts';
import { inspectOriginal } from '../../../subgraphs/oa/invoices/inspect.ts';
import type { InvoiceVerifier } from '../../../subgraphs/oa/invoices/verifier.ts';

/** A PDF whose cross-reference table has the real byte offsets of `objects` (1-based object numbers). */
function pdf(objects: string[], options: { version?: string; trailer?: string } = {}): Uint8Array {
  let body = `%PDF-${options.version ?? '1.7'}\n%\xe2\xe3\xcf\xd3\n`;
  const offsets: number[] = [];
  objects.forEach((object, i) => {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xrefAt = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R ${options.trailer ?? ''}>>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

const page = ['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [3 0 R] /Count 1 >>', '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>'];

function pdfError(bytes: Uint8Array): string {
  try {
    checkPdf(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(InvoiceParseError);
    return (err as Error).message;
  }
  throw new Error('expected an InvoiceParseError');
}

describe('PDF structure', () => {
  it('accepts a minimal valid PDF, with no flags', () => {
    expect(checkPdf(pdf(page))).toEqual({ version: '1.7', xref: 'table', encrypted: false, activeContent: [], embeddedXml: [] });
    expect(checkPdf(pdf(page, { version: '2.0' })).version).toBe('2.0');
  });

  it('accepts a cross-reference stream', () => {
    const head = '%PDF-1.5\n';
    const objects = page.map((o, i) => `${i + 1} 0 obj\n${o}\nendobj\n`);
    const offsets = objects.reduce<number[]>((acc, _, i) => [...acc, i === 0 ? head.length : acc[i - 1]! + objects[i - 1]!.length], []);
    const xrefAt = head.length + objects.join('').length;
    const rows = [Buffer.from([0, 0, 0, 0xff]), ...offsets.map((o) => Buffer.from([1, o >> 8, o & 0xff, 0])), Buffer.from([1, xrefAt >> 8, xrefAt & 0xff, 0])];
    const data = Buffer.concat(rows);
    const xref = `4 0 obj\n<< /Type /XRef /Size 5 /W [1 2 1] /Root 1 0 R /Length ${data.length} >>\nstream\n`;
    const bytes = Buffer.concat([Buffer.from(head + objects.join('') + xref, 'latin1'), data, Buffer.from(`\nendstream\nendobj\nstartxref\n${xrefAt}\n%%EOF\n`, 'latin1')]);
    expect(checkPdf(bytes)).toEqual({ version: '1.5', xref: 'stream', encrypted: false, activeContent: [], embeddedXml: [] });
  });

  it('flags an encrypted PDF', () => {
    const encrypted = pdf([...page, '<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 /O <00> /U <00> >>'], { trailer: '/Encrypt 4 0 R /ID [<01> <01>] ' });
    expect(checkPdf(encrypted)).toMatchObject({ encrypted: true, activeContent: [] });
  });

  it('flags JavaScript run when the document opens', () => {
    const js = pdf(['<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>', page[1]!, page[2]!, '<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>']);
    expect(checkPdf(js)).toMatchObject({ encrypted: false, activeContent: ['JavaScript', 'OpenActionScript'] });
  });

  it('flags a Launch action, and JavaScript hidden behind name escapes in a compressed object stream', () => {
    expect(checkPdf(pdf([...page, '<< /Type /Action /S /Launch /F (calc.exe) >>'])).activeContent).toEqual(['Launch']);
    const inner = Buffer.from('5 0 << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>', 'latin1');
    const packed = deflateSync(inner);
    const objStm = `<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length ${packed.length} >>\nstream\n${packed.toString('latin1')}\nendstream`;
    expect(checkPdf(pdf([...page, objStm])).activeContent).toEqual(['JavaScript']);
  });

  it('does not flag an OpenAction that only shows a page', () => {
    expect(checkPdf(pdf(['<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>', page[1]!, page[2]!])).activeContent).toEqual([]);
  });

  it('refuses a truncated PDF', () => {
    const whole = pdf(page);
    expect(pdfError(whole.subarray(0, whole.length - 200))).toBe('the PDF is truncated: it does not end with %%EOF');
  });

  it('refuses what is not a PDF, or points its startxref nowhere', () => {
    expect(pdfError(new TextEncoder().encode('PK\u0003\u0004 not a pdf'))).toBe('not a PDF file: the header %PDF-1.x or %PDF-2.0 is missing');
    expect(pdfError(new TextEncoder().encode('%PDF-1.9\n%%EOF\n'))).toBe('not a PDF file: the header %PDF-1.x or %PDF-2.0 is missing');
    const text = Buffer.from(pdf(page)).toString('latin1');
    const moved = text.replace(/startxref\n(\d+)/, (_, n: string) => `startxref\n${Number(n) - 7}`);
    expect(pdfError(Buffer.from(moved, 'latin1'))).toBe('the PDF startxref points at neither a cross-reference table nor a cross-reference stream');
    expect(pdfError(Buffer.from(text.replace(/startxref\n\d+/, 'startxref\n99999999'), 'latin1'))).toBe('the PDF startxref points outside the file');
    expect(pdfError(Buffer.from(text.replace(/startxref\n\d+\n/, ''), 'latin1'))).toBe('the PDF has no startxref before %%EOF');
  });
});

describe('invoice data a PDF carries as an embedded file', () => {
  const einvoice = readFileSync(new URL('./fixtures/normal.xml', import.meta.url));
  const legacy = Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?><eInvoice><InvoiceNo>12345678</InvoiceNo><IssueDate>2024年05月28日</IssueDate>' +
      '<Buyer><BuyerName>深圳市示例科技有限公司</BuyerName><BuyerTaxID>91440300MA5G12345L</BuyerTaxID></Buyer>' +
      '<TaxExclusiveTotalAmount>4197.17</TaxExclusiveTotalAmount><TaxTotalAmount>251.83</TaxTotalAmount><TaxInclusiveTotalAmount>4449.00</TaxInclusiveTotalAmount></eInvoice>',
    'utf8',
  );
  const notChecked: InvoiceVerifier = async () => ({ status: 'NOT_CHECKED', reason: 'no interface in this test', checkedAt: new Date(0) });
  const stream = (dict: string, bytes: Buffer) => `<< ${dict} /Length ${bytes.length} >>\nstream\n${bytes.toString('latin1')}\nendstream`;
  // PDF/A-3 style: the catalog's EmbeddedFiles name tree → a file specification → /EF /F → the (compressed) XML.
  const withAttachment = (file: Buffer, streamDict: string) =>
    pdf([
      '<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(invoice.xml) 4 0 R] >> >> /AF [4 0 R] >>',
      page[1]!,
      page[2]!,
      '<< /Type /Filespec /F (invoice.xml) /UF (invoice.xml) /AFRelationship /Data /EF << /F 5 0 R >> >>',
      stream(streamDict, file),
    ]);

  it('reads a 数电票 XML embedded compressed, found through the file specification', async () => {
    const bytes = withAttachment(deflateSync(einvoice), '/Subtype /text#2Fxml /Filter /FlateDecode');
    expect(checkPdf(bytes).embeddedXml.map((x) => Buffer.from(x).equals(einvoice))).toEqual([true]);
    const inspected = await inspectOriginal(bytes, 'application/pdf', notChecked);
    expect(inspected.structure).toEqual({ ok: true, problems: [], encrypted: false, activeContent: false });
    expect(inspected.invoice).toMatchObject({ source: 'PDF_ATTACHMENT_EINVOICE', invoiceNumber: '26442000000012345678', issueDate: '2026-09-01', totalFen: 127200, buyer: { taxId: '91440300MA5G12345L' } });
    expect(inspected.verification).toMatchObject({ status: 'NOT_CHECKED' });
  });

  it('reads the older eInvoice XML embedded uncompressed as /Type /EmbeddedFile', async () => {
    const inspected = await inspectOriginal(withAttachment(legacy, '/Type /EmbeddedFile'), 'application/pdf', notChecked);
    expect(inspected.invoice).toMatchObject({ source: 'PDF_ATTACHMENT_LEGACY', invoiceNumber: '12345678', issueDate: '2024-05-28', amountFen: 419717, taxFen: 25183, totalFen: 444900 });
  });

  it('reads no invoice from an embedded picture, a stream that does not inflate, another XML, or an encrypted PDF', async () => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(40, 1)]);
    for (const bytes of [
      withAttachment(png, '/Type /EmbeddedFile'),
      withAttachment(Buffer.from('not deflate data at all'), '/Type /EmbeddedFile /Filter /FlateDecode'),
      withAttachment(Buffer.from('<?xml version="1.0"?><Order><No>1</No></Order>'), '/Type /EmbeddedFile'),
    ]) {
      const inspected = await inspectOriginal(bytes, 'application/pdf', notChecked);
      expect(inspected).toMatchObject({ invoice: null, structure: { ok: true }, verification: null });
    }
    const encrypted = pdf([...page, '<< /Type /Filespec /F (i.xml) /EF << /F 5 0 R >> >>', stream('/Type /EmbeddedFile', legacy)], { trailer: '/Encrypt 9 0 R ' });
    expect(checkPdf(encrypted)).toMatchObject({ encrypted: true, embeddedXml: [] });
  });
});
