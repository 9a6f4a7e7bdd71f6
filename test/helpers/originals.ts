// Originals as the tests upload them (docs/api.md#attachments, #electronic-invoices): POST /files through a gateway,
// a 数电票 XML issued to the company, the same XML carried by an OFD, and a JPEG receipt photo.
import { readFileSync } from 'node:fs';
import { strToU8, zipSync } from 'fflate';
import { creditCodeCheckCharacter } from '../../platform/credit-code.ts';

/** The buyer tax id the tests configure as COMPANY_TAX_ID. */
export const COMPANY = `91310000MA1FL0000${creditCodeCheckCharacter('91310000MA1FL0000')}`;
const NORMAL = readFileSync(new URL('../oa/invoices/fixtures/normal.xml', import.meta.url), 'utf8');

/** The normal fixture (total 1272.00, issued 2026-09-01) with its number, buyer and issue date replaced. */
export function invoiceXml(number: string, buyer = COMPANY, issued = '2026-09-01'): Buffer {
  return Buffer.from(
    NORMAL.replaceAll('26442000000012345678', number)
      .replace('<BuyerIdNum>91440300MA5G12345L</BuyerIdNum>', `<BuyerIdNum>${buyer}</BuyerIdNum>`)
      .replaceAll('2026-09-01', issued),
  );
}

const NS = 'xmlns:ofd="http://www.ofdspec.org/2016"';
/** A minimal OFD (GB/T 33190) carrying `invoice` as its original_invoice attachment, as 数电票 OFDs do. */
export function ofdWith(invoice: Buffer): Buffer {
  const files = {
    'OFD.xml': `<?xml version="1.0" encoding="UTF-8"?><ofd:OFD ${NS} Version="1.1" DocType="OFD"><ofd:DocBody><ofd:DocInfo><ofd:DocID>1</ofd:DocID></ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>`,
    'Doc_0/Document.xml': `<?xml version="1.0" encoding="UTF-8"?><ofd:Document ${NS}><ofd:CommonData><ofd:MaxUnitID>20</ofd:MaxUnitID></ofd:CommonData><ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages><ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments></ofd:Document>`,
    'Doc_0/Pages/Page_0/Content.xml': `<?xml version="1.0" encoding="UTF-8"?><ofd:Page ${NS}><ofd:Content><ofd:Layer ID="2"/></ofd:Content></ofd:Page>`,
    'Doc_0/Attachs/Attachments.xml': `<?xml version="1.0" encoding="UTF-8"?><ofd:Attachments ${NS}><ofd:Attachment ID="30" Name="original_invoice" Format="xml"><ofd:FileLoc>original_invoice.xml</ofd:FileLoc></ofd:Attachment></ofd:Attachments>`,
  };
  return Buffer.from(zipSync({ ...Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)])), 'Doc_0/Attachs/original_invoice.xml': invoice }));
}

/** A JPEG as a receipt photo: SOI, a JFIF APP0, a comment of `bytes` filler (recognised from its magic), EOI. */
export function receiptJpeg(label: string, bytes = 2048): Buffer {
  const comment = Buffer.alloc(bytes, `receipt ${label} `);
  const com = Buffer.concat([Buffer.from([0xff, 0xfe, (comment.length + 2) >> 8, (comment.length + 2) & 0xff]), comment]);
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, com, Buffer.from([0xff, 0xd9])]);
}

export interface Uploaded {
  id: string;
  sha256: string;
  size: number;
  invoice: { number: string; issueDate: string; total: string } | null;
  verification: { status: string; reason: string | null; checkedAt: string } | null;
  structure: { ok: boolean; problems: string[]; encrypted: boolean; activeContent: boolean } | null;
  [field: string]: unknown;
}

/** POST /files on the gateway at `base` (its origin) as `authorization`; throws unless it answers 201. */
export async function uploadOriginal(base: string, authorization: string, name: string, bytes: Buffer): Promise<Uploaded> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  const res = await fetch(`${base}/files`, { method: 'POST', headers: { authorization }, body: form });
  const body = (await res.json()) as Uploaded;
  if (res.status !== 201) throw new Error(`POST /files ${name}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}
