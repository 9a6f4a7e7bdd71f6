// PDF invoices: the file structure checked (ISO 32000-1/-2: header, cross-reference table or stream, trailer) and
// flags raised for the four-properties check (四性检测) of the archive: encryption and active content.
//
// No PDF library: a full one (pdf.js, pdf-lib) is large, and none of them reads a PDF e-invoice's data any better
// than this (数电票 PDFs carry their data as page text, not as structured data), so this module reads only what it
// checks: the header, the last `startxref` and what it points at, and the dictionary keys that mark encryption
// (/Encrypt) and active content (/JavaScript, /JS, /Launch, /OpenAction with a script). Names are compared after
// their #xx escapes are decoded (/J#61vaScript is /JavaScript), and object streams (/Type /ObjStm, FlateDecode) are
// inflated, bounded, so keys hidden in compressed objects are seen too.
// Invoice data is read where a PDF carries it as data: an embedded file (ISO 32000 §7.11.4: a stream of
// /Type /EmbeddedFile, or one a file specification's /EF names), as PDF/A-3 invoices embed their XML; the XML
// files found are handed to the caller (./inspect.ts reads a 数电票 or eInvoice XML among them). Page text is not read.
import { inflateSync } from 'node:zlib';
import { InvoiceParseError, MAX_XML_BYTES } from './xml.ts';

/** Largest PDF checked. */
export const MAX_PDF_BYTES = 20 * 1024 * 1024;
/** Most bytes inflated from object streams in all. */
export const MAX_INFLATED_BYTES = 50 * 1024 * 1024;

export type ActiveContent = 'JavaScript' | 'Launch' | 'OpenActionScript';

export interface PdfCheck {
  /** "1.7", "2.0", … from the header. */
  readonly version: string;
  readonly xref: 'table' | 'stream';
  /** The document is encrypted (/Encrypt in its trailer): its content cannot be checked or preserved as is. */
  readonly encrypted: boolean;
  /** Active content found; empty when none. */
  readonly activeContent: readonly ActiveContent[];
  /** Embedded files that are XML (unfiltered or FlateDecode), each at most MAX_XML_BYTES, at most MAX_EMBEDDED. */
  readonly embeddedXml: readonly Uint8Array[];
}

/** Embedded files looked at. */
export const MAX_EMBEDDED = 20;

export function checkPdf(bytes: Uint8Array): PdfCheck {
  if (bytes.byteLength > MAX_PDF_BYTES) throw new InvoiceParseError(`the PDF is larger than ${MAX_PDF_BYTES} bytes`);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const header = /^%PDF-(1\.[0-7]|2\.0)\s/.exec(text);
  if (!header) throw new InvoiceParseError('not a PDF file: the header %PDF-1.x or %PDF-2.0 is missing');
  const tail = text.slice(-1024);
  if (!/%%EOF\s*$/.test(tail)) throw new InvoiceParseError('the PDF is truncated: it does not end with %%EOF');
  const start = /startxref\s+(\d{1,12})\s+%%EOF\s*$/.exec(tail);
  if (!start) throw new InvoiceParseError('the PDF has no startxref before %%EOF');
  const offset = Number(start[1]);
  if (offset <= 0 || offset >= text.length) throw new InvoiceParseError('the PDF startxref points outside the file');
  const at = text.slice(offset, offset + 4096);
  let xref: PdfCheck['xref'];
  if (/^xref\s/.test(at)) {
    if (!/trailer\s*<</.test(text.slice(offset))) throw new InvoiceParseError('the PDF cross-reference table has no trailer');
    xref = 'table';
  } else if (/^\d+\s+\d+\s+obj\s*<<[\s\S]*?\/Type\s*\/XRef\b/.test(decodeNames(at))) {
    xref = 'stream';
  } else {
    throw new InvoiceParseError('the PDF startxref points at neither a cross-reference table nor a cross-reference stream');
  }

  const plain = decodeNames(text);
  const inflated = decodeNames(objectStreams(text));
  const all = `${plain}\n${inflated}`;
  const encrypted = /\/Encrypt\b/.test(plain);
  const javaScript = /\/(JavaScript|JS)\b/.test(all);
  const activeContent: ActiveContent[] = [];
  if (javaScript) activeContent.push('JavaScript');
  if (/\/Launch\b/.test(all)) activeContent.push('Launch');
  if (javaScript && /\/OpenAction\b/.test(all)) activeContent.push('OpenActionScript');
  return { version: header[1]!, xref, encrypted, activeContent, embeddedXml: encrypted ? [] : embeddedXml(text, all) };
}

/** The XML among the embedded files: streams typed /EmbeddedFile, or named by an /EF entry (`all`: decoded names). */
function embeddedXml(text: string, all: string): Uint8Array[] {
  const named = new Set<string>();
  for (const m of all.matchAll(/\/EF\s*<<[^>]*?\/U?F\s+(\d{1,10})\s+\d{1,5}\s+R/g)) named.add(m[1]!);
  const out: Uint8Array[] = [];
  let budget = MAX_INFLATED_BYTES;
  for (const { number, dict, begin, end } of streams(text)) {
    if (out.length >= MAX_EMBEDDED || budget <= 0) break;
    if (!/\/Type\s*\/EmbeddedFile\b/.test(dict) && !(number !== undefined && named.has(number))) continue;
    const filters = [...dict.matchAll(/\/(\w+Decode)\b/g)].map((f) => f[1]);
    if (filters.some((f) => f !== 'FlateDecode') || /\/DecodeParms\b/.test(dict) || end - begin > MAX_XML_BYTES) continue;
    let bytes: Buffer = Buffer.from(text.slice(begin, end), 'latin1');
    if (filters.length) {
      try {
        bytes = inflateSync(bytes, { maxOutputLength: Math.min(budget, MAX_XML_BYTES) });
      } catch {
        continue; // not inflatable, or larger than an invoice XML: not an invoice of ours
      }
      budget -= bytes.length;
    }
    if (/^\uFEFF?\s*<(\?xml|[A-Za-z_])/.test(bytes.subarray(0, 200).toString('utf8'))) out.push(bytes);
  }
  return out;
}

/** PDF name escapes (#xx) decoded, so /J#61vaScript reads /JavaScript. */
function decodeNames(text: string): string {
  return text.replace(/\/[^\s/<>[\]()%{}]*#[0-9A-Fa-f]{2}[^\s/<>[\]()%{}]*/g, (name) => name.replace(/#([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))));
}

/** Every stream of the file: its object number (when it is a direct object), its dictionary (names decoded), its bytes. */
function* streams(text: string): Generator<{ number: string | undefined; dict: string; begin: number; end: number }> {
  const re = /(?<!end)stream\r?\n/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    // The stream's dictionary: what precedes the keyword, back to its "obj" (bounded, so the scan stays linear).
    const before = text.slice(Math.max(0, m.index - 2000), m.index);
    const objAt = before.lastIndexOf('obj');
    const number = /(\d{1,10})\s+\d{1,5}\s+$/.exec(before.slice(0, Math.max(0, objAt)))?.[1];
    const dict = decodeNames(before.slice(objAt + 1));
    const begin = m.index + m[0].length;
    const declared = /\/Length\s+(\d{1,10})\b(?!\s+\d+\s+R)/.exec(dict);
    const end = declared ? begin + Number(declared[1]) : text.indexOf('endstream', begin);
    if (end < begin || end > text.length) continue;
    yield { number, dict, begin, end };
    re.lastIndex = end;
  }
}

/** The inflated content of the FlateDecode object streams, bounded by MAX_INFLATED_BYTES in all. */
function objectStreams(text: string): string {
  const parts: string[] = [];
  let budget = MAX_INFLATED_BYTES;
  for (const { dict, begin, end } of streams(text)) {
    if (!/\/Type\s*\/ObjStm\b/.test(dict) || !/\/FlateDecode\b/.test(dict)) continue;
    if (budget <= 0) throw new InvoiceParseError(`the PDF object streams inflate to more than ${MAX_INFLATED_BYTES} bytes`);
    try {
      const out = inflateSync(Buffer.from(text.slice(begin, end), 'latin1'), { maxOutputLength: budget });
      budget -= out.length;
      parts.push(out.toString('latin1'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new InvoiceParseError(`the PDF object streams inflate to more than ${MAX_INFLATED_BYTES} bytes`);
      throw new InvoiceParseError('the PDF has an object stream that does not inflate');
    }
  }
  return parts.join('\n');
}
