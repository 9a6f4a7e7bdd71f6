// OFD invoices (GB/T 33190-2016, 电子文件存储与交换格式 版式文档): the package structure checked, and the invoice data
// read where the file carries it as data.
//
// An OFD is a ZIP whose root holds OFD.xml (root element ofd:OFD, namespace http://www.ofdspec.org/2016); each
// ofd:DocBody names its document with ofd:DocRoot (e.g. Doc_0/Document.xml), which must exist. Invoice data, by
// decreasing reliability (as in open-source readers of real e-invoice OFDs):
//   1. an XML attachment listed by the document's ofd:Attachments (Doc_0/Attachs/Attachments.xml → ofd:Attachment/
//      ofd:FileLoc): either the 数电票 XML itself (root EInvoice, read by fully-digital.ts) or the older e-invoice XML
//      (root eInvoice: InvoiceNo, IssueDate, Buyer/BuyerName, Buyer/BuyerTaxID, Seller/SellerName, Seller/SellerTaxID,
//      TaxExclusiveTotalAmount, TaxTotalAmount, TaxInclusiveTotalAmount);
//   2. OFD.xml's ofd:DocInfo/ofd:CustomDatas (ofd:CustomData Name="发票号码" …), a few fields only; 合计金额 there is the
//      amount WITHOUT tax, so the total is 价税合计, or 合计金额 + 合计税额.
// Doc_0/Tags/CustomTag.xml only points at text objects on the page (ObjectRef); reading them means laying out page
// content, which is not done here: such an OFD is checked for structure only (`invoice: null`).
//
// The ZIP is read with yauzl: names with "..", absolute paths or backslashes are refused by it; entry sizes are
// checked against the declared ones while inflating (validateEntrySizes), so the limits below on declared sizes bound
// what is really inflated (zip bombs), and only the few XML parts needed are inflated at all.
import path from 'node:path/posix';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { parseFullyDigitalInvoice, invoiceDate } from './fully-digital.ts';
import { InvoiceParseError, attribute, child, children, parseXml, textAt, MAX_XML_BYTES, type XmlValue } from './xml.ts';
import { MoneyError, parseMoney } from '../../../platform/money.ts';

export const OFD_LIMITS = Object.freeze({
  /** Entries in the ZIP's central directory. */
  maxEntries: 2000,
  /** Sum of the declared uncompressed sizes. */
  maxTotalUncompressed: 200 * 1024 * 1024,
  /** Declared uncompressed / compressed size of one entry (real OFD parts stay far below). */
  maxRatio: 200,
  /** Attachments read for invoice data. */
  maxAttachments: 20,
});

export type OfdInvoiceSource = 'ATTACHMENT_EINVOICE' | 'ATTACHMENT_LEGACY' | 'CUSTOM_DATA';

export interface OfdInvoiceData {
  readonly source: OfdInvoiceSource;
  readonly invoiceNumber: string;
  readonly issueDate: string;
  readonly buyer: { readonly name: string | null; readonly taxId: string | null };
  readonly seller: { readonly name: string | null; readonly taxId: string | null };
  readonly amountFen: number | null;
  readonly taxFen: number | null;
  readonly totalFen: number;
}

export interface OfdCheck {
  /** The DocRoot paths, each an existing Document.xml. */
  readonly documents: readonly string[];
  /** Invoice data the file carries, or null: structure checked only. */
  readonly invoice: OfdInvoiceData | null;
}

/** Checks an OFD package; throws InvoiceParseError naming what is wrong. */
export async function checkOfd(bytes: Uint8Array): Promise<OfdCheck> {
  const zip = await openZip(bytes);
  try {
    const entries = await listEntries(zip);
    const read = (name: string) => readEntry(zip, entries, name);
    const ofdXml = await read('OFD.xml');
    if (ofdXml === null) throw new InvoiceParseError('OFD.xml missing at the root of the package: not an OFD file');
    const ofd = child(parseXml(ofdXml, 'OFD.xml'), 'OFD');
    if (ofd === undefined || typeof ofd === 'string') throw new InvoiceParseError('OFD.xml: root element ofd:OFD missing');
    const bodies = children(ofd, 'DocBody');
    if (bodies.length === 0) throw new InvoiceParseError('OFD.xml: ofd:DocBody missing');

    const documents: string[] = [];
    let invoice: OfdInvoiceData | null = null;
    for (const body of bodies) {
      const docRoot = textAt(body, 'DocRoot');
      if (docRoot === undefined) throw new InvoiceParseError('OFD.xml: ofd:DocBody/ofd:DocRoot missing');
      const docPath = packagePath('', docRoot);
      const docXml = docPath === null ? null : await read(docPath);
      if (docPath === null || docXml === null) throw new InvoiceParseError(`OFD.xml: DocRoot ${docRoot.slice(0, 100)} names no file in the package`);
      const document = child(parseXml(docXml, docPath), 'Document');
      if (document === undefined) throw new InvoiceParseError(`${docPath}: root element ofd:Document missing`);
      documents.push(docPath);
      invoice ??= await fromAttachments(document, path.dirname(docPath), read, entries);
      invoice ??= fromCustomDatas(child(body, 'DocInfo'));
    }
    return { documents, invoice };
  } finally {
    zip.close();
  }
}

async function openZip(bytes: Uint8Array): Promise<yauzl.ZipFile> {
  try {
    return await yauzl.fromBufferPromise(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { lazyEntries: true, decodeStrings: true, validateEntrySizes: true, strictFileNames: true });
  } catch (err) {
    throw new InvoiceParseError(`not a ZIP package, so not an OFD file: ${(err as Error).message.slice(0, 120)}`);
  }
}

async function listEntries(zip: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  if (zip.entryCount > OFD_LIMITS.maxEntries) throw new InvoiceParseError(`the OFD package has ${zip.entryCount} entries, more than ${OFD_LIMITS.maxEntries}`);
  const entries = new Map<string, yauzl.Entry>();
  let total = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      // yauzl refused "..", absolute paths and backslashes already; control characters are refused here.
      if (/[\u0000-\u001f\u007f]/.test(name) || name.length > 512) throw new InvoiceParseError('the OFD package has an entry with an unusable name');
      if (entry.isEncrypted()) throw new InvoiceParseError(`the OFD package entry ${name.slice(0, 100)} is encrypted`);
      total += entry.uncompressedSize;
      if (total > OFD_LIMITS.maxTotalUncompressed) throw new InvoiceParseError(`the OFD package would inflate to more than ${OFD_LIMITS.maxTotalUncompressed} bytes`);
      if (entry.uncompressedSize > 1024 * 1024 && entry.uncompressedSize > OFD_LIMITS.maxRatio * Math.max(entry.compressedSize, 1)) {
        throw new InvoiceParseError(`the OFD package entry ${name.slice(0, 100)} is compressed more than ${OFD_LIMITS.maxRatio}:1 (a zip bomb?)`);
      }
      if (entries.has(name)) throw new InvoiceParseError(`the OFD package holds ${name.slice(0, 100)} twice`);
      entries.set(name, entry);
    }
  } catch (err) {
    if (err instanceof InvoiceParseError) throw err;
    throw new InvoiceParseError(`the OFD package is not a valid ZIP: ${(err as Error).message.slice(0, 120)}`);
  }
  return entries;
}

/** The bytes of entry `name`, or null when absent; XML parts only, so bounded by MAX_XML_BYTES. */
async function readEntry(zip: yauzl.ZipFile, entries: Map<string, yauzl.Entry>, name: string): Promise<Uint8Array | null> {
  const entry = entries.get(name);
  if (entry === undefined) return null;
  if (entry.uncompressedSize > MAX_XML_BYTES) throw new InvoiceParseError(`${name.slice(0, 100)} is larger than ${MAX_XML_BYTES} bytes`);
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) throw new InvoiceParseError(`${name.slice(0, 100)} uses an unsupported compression method`);
  try {
    const stream: Readable = await zip.openReadStreamPromise(entry);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > MAX_XML_BYTES) {
        stream.destroy();
        throw new InvoiceParseError(`${name.slice(0, 100)} is larger than ${MAX_XML_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof InvoiceParseError) throw err;
    throw new InvoiceParseError(`${name.slice(0, 100)} could not be inflated: ${(err as Error).message.slice(0, 120)}`);
  }
}

/** A path inside the package from a reference in a part under `base` (OFD references are relative, or absolute from the root). */
function packagePath(base: string, ref: string): string | null {
  const joined = ref.startsWith('/') ? ref.slice(1) : path.join(base, ref);
  const normal = path.normalize(joined);
  return normal.startsWith('..') || normal.startsWith('/') || normal === '.' ? null : normal;
}

type Reader = (name: string) => Promise<Uint8Array | null>;

async function fromAttachments(document: XmlValue, docDir: string, read: Reader, entries: Map<string, yauzl.Entry>): Promise<OfdInvoiceData | null> {
  const listRef = textAt(document, 'Attachments');
  const candidates: string[] = [];
  if (listRef !== undefined) {
    const listPath = packagePath(docDir, listRef);
    const listXml = listPath === null ? null : await read(listPath);
    if (listPath !== null && listXml !== null) {
      const list = child(parseXml(listXml, listPath), 'Attachments');
      for (const attachment of children(list, 'Attachment')) {
        const loc = textAt(attachment, 'FileLoc');
        const format = attribute(attachment, 'Format')?.toLowerCase();
        const target = loc === undefined ? null : packagePath(path.dirname(listPath), loc);
        if (target !== null && (format === 'xml' || target.toLowerCase().endsWith('.xml'))) candidates.push(target);
      }
    }
  }
  // Some issuers put the XML beside the list without listing it.
  for (const name of entries.keys()) {
    if (name.startsWith(`${docDir}/Attachs/`) && name.toLowerCase().endsWith('.xml') && !candidates.includes(name) && !name.endsWith('/Attachments.xml')) candidates.push(name);
  }
  for (const name of candidates.slice(0, OFD_LIMITS.maxAttachments)) {
    const bytes = await read(name);
    if (bytes === null) continue;
    const data = fromAttachment(bytes, name);
    if (data !== null) return data;
  }
  return null;
}

function fromAttachment(bytes: Uint8Array, name: string): OfdInvoiceData | null {
  const doc = parseXml(bytes, name);
  if (child(doc, 'EInvoice') !== undefined) {
    const inv = parseFullyDigitalInvoice(bytes);
    return { source: 'ATTACHMENT_EINVOICE', invoiceNumber: inv.invoiceNumber, issueDate: inv.issueDate, buyer: inv.buyer, seller: inv.seller, amountFen: inv.amountFen, taxFen: inv.taxFen, totalFen: inv.totalFen };
  }
  const legacy = child(doc, 'eInvoice');
  if (legacy === undefined) return null;
  const where = `${name} (eInvoice)`;
  const invoiceNumber = required(textAt(legacy, 'InvoiceNo'), `${where}/InvoiceNo`);
  if (!/^\d{8,20}$/.test(invoiceNumber)) throw new InvoiceParseError(`${where}/InvoiceNo must be 8 to 20 digits`);
  const issueDate = invoiceDate(required(textAt(legacy, 'IssueDate'), `${where}/IssueDate`));
  if (issueDate === null) throw new InvoiceParseError(`${where}/IssueDate is not a date`);
  const total = fenOrNull(textAt(legacy, 'TaxInclusiveTotalAmount'), `${where}/TaxInclusiveTotalAmount`);
  if (total === null) throw new InvoiceParseError(`${where}/TaxInclusiveTotalAmount missing`);
  const amountFen = fenOrNull(textAt(legacy, 'TaxExclusiveTotalAmount'), `${where}/TaxExclusiveTotalAmount`);
  const taxFen = fenOrNull(textAt(legacy, 'TaxTotalAmount'), `${where}/TaxTotalAmount`);
  if (amountFen !== null && taxFen !== null && amountFen + taxFen !== total) throw new InvoiceParseError(`${where}: TaxExclusiveTotalAmount + TaxTotalAmount differs from TaxInclusiveTotalAmount`);
  return {
    source: 'ATTACHMENT_LEGACY',
    invoiceNumber,
    issueDate,
    buyer: { name: textAt(legacy, 'Buyer', 'BuyerName') ?? null, taxId: textAt(legacy, 'Buyer', 'BuyerTaxID')?.toUpperCase() ?? null },
    seller: { name: textAt(legacy, 'Seller', 'SellerName') ?? null, taxId: textAt(legacy, 'Seller', 'SellerTaxID')?.toUpperCase() ?? null },
    amountFen,
    taxFen,
    totalFen: total,
  };
}

/** OFD.xml DocInfo/CustomDatas: used only when it names the number, the date and a total. */
function fromCustomDatas(docInfo: XmlValue | undefined): OfdInvoiceData | null {
  const values = new Map<string, string>();
  for (const item of children(child(docInfo, 'CustomDatas'), 'CustomData')) {
    const name = attribute(item, 'Name');
    const value = typeof item === 'string' ? item.trim() : textAt({ v: item }, 'v');
    if (name !== undefined && value !== undefined && value !== '') values.set(name, value);
  }
  const invoiceNumber = values.get('发票号码');
  const rawDate = values.get('开票日期');
  if (invoiceNumber === undefined || rawDate === undefined || !/^\d{8,20}$/.test(invoiceNumber)) return null;
  const issueDate = invoiceDate(rawDate);
  if (issueDate === null) return null;
  const amountFen = fenOrNull(values.get('合计金额'), 'CustomData 合计金额');
  const taxFen = fenOrNull(values.get('合计税额'), 'CustomData 合计税额');
  const stated = fenOrNull(values.get('价税合计'), 'CustomData 价税合计');
  const totalFen = stated ?? (amountFen !== null && taxFen !== null ? amountFen + taxFen : null);
  if (totalFen === null) return null;
  return {
    source: 'CUSTOM_DATA',
    invoiceNumber,
    issueDate,
    buyer: { name: values.get('购买方名称') ?? null, taxId: values.get('购买方纳税人识别号')?.toUpperCase() ?? null },
    seller: { name: values.get('销售方名称') ?? null, taxId: values.get('销售方纳税人识别号')?.toUpperCase() ?? null },
    amountFen,
    taxFen,
    totalFen,
  };
}

function required(value: string | undefined, where: string): string {
  if (value === undefined) throw new InvoiceParseError(`${where} missing`);
  return value;
}

function fenOrNull(text: string | undefined, where: string): number | null {
  if (text === undefined) return null;
  try {
    return parseMoney(text.replace(/^[¥￥]/, '').replace(/,/g, ''));
  } catch (err) {
    if (err instanceof MoneyError) throw new InvoiceParseError(`${where} is not an amount with at most two decimals`);
    throw err;
  }
}
