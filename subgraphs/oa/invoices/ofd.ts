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
//   2. the fields the document tags on its pages (Tags/CustomTag.xml: ofd:ObjectRef → the page's text objects,
//      ./ofd-tags.ts), the form of the e-invoice OFDs the tax system issues: every field the check needs, the
//      buyer's tax id among them;
//   3. OFD.xml's ofd:DocInfo/ofd:CustomDatas (ofd:CustomData Name="发票号码" …), a few fields only; 合计金额 there is the
//      amount WITHOUT tax, so the total is 价税合计, or 合计金额 + 合计税额.
// Where a file carries both 2 and 3, they must agree on the number, the date and the total (an OFD whose data says
// one thing and whose page another is refused as inconsistent); a field the tags lack is taken from the data.
// Without any of them the OFD is checked for structure only (`invoice: null`).
//
// The ZIP itself is read by ./ofd-package.ts, with its limits.
import path from 'node:path/posix';
import { parseFullyDigitalInvoice, invoiceDate } from './fully-digital.ts';
import { InvoiceParseError, attribute, child, children, parseXml, textAt, type XmlValue } from './xml.ts';
import { OFD_LIMITS, type PartReader, listEntries, openZip, packagePath, readEntry } from './ofd-package.ts';
import { type TaggedField, taggedInvoiceText } from './ofd-tags.ts';
import { MoneyError, parseMoney } from '../../../platform/money.ts';

export { OFD_LIMITS };

export type OfdInvoiceSource = 'ATTACHMENT_EINVOICE' | 'ATTACHMENT_LEGACY' | 'CUSTOM_TAG' | 'CUSTOM_DATA';

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
      invoice ??= agreeing(fromTags(await taggedInvoiceText(document, docPath, read), docPath), fromCustomDatas(child(body, 'DocInfo')));
    }
    return { documents, invoice };
  } finally {
    zip.close();
  }
}

async function fromAttachments(document: XmlValue, docDir: string, read: PartReader, entries: ReadonlyMap<string, unknown>): Promise<OfdInvoiceData | null> {
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
    const data = invoiceFromXml(bytes, name);
    if (data !== null) return data;
  }
  return null;
}

/**
 * An attached invoice XML (in an OFD's attachments, or a PDF's embedded files): a 数电票 (root EInvoice) or the older
 * e-invoice XML (root eInvoice); null for any other XML.
 */
export function invoiceFromXml(bytes: Uint8Array, name: string): OfdInvoiceData | null {
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

/** The tagged fields as invoice data: used only when they give the number, the date and a total. */
function fromTags(text: Map<TaggedField, string> | null, docPath: string): OfdInvoiceData | null {
  if (text === null) return null;
  const where = `${docPath} custom tag`;
  const invoiceNumber = text.get('InvoiceNo')?.replace(/\s/g, '');
  const rawDate = text.get('IssueDate')?.replace(/\s/g, '');
  if (invoiceNumber === undefined || rawDate === undefined || !/^\d{8,20}$/.test(invoiceNumber)) return null;
  const issueDate = invoiceDate(rawDate);
  if (issueDate === null) return null;
  const amount = (field: TaggedField) => fenOrNull(text.get(field)?.replace(/\s/g, ''), `${where} ${field}`);
  const amountFen = amount('TaxExclusiveTotalAmount');
  const taxFen = amount('TaxTotalAmount');
  const stated = amount('TaxInclusiveTotalAmount');
  if (stated !== null && amountFen !== null && taxFen !== null && amountFen + taxFen !== stated) {
    throw new InvoiceParseError(`${where}: TaxExclusiveTotalAmount + TaxTotalAmount differs from TaxInclusiveTotalAmount`);
  }
  const totalFen = stated ?? (amountFen !== null && taxFen !== null ? amountFen + taxFen : null);
  if (totalFen === null) return null;
  return {
    source: 'CUSTOM_TAG',
    invoiceNumber,
    issueDate,
    buyer: { name: text.get('Buyer/BuyerName') ?? null, taxId: text.get('Buyer/BuyerTaxID')?.replace(/\s/g, '').toUpperCase() ?? null },
    seller: { name: text.get('Seller/SellerName') ?? null, taxId: text.get('Seller/SellerTaxID')?.replace(/\s/g, '').toUpperCase() ?? null },
    amountFen,
    taxFen,
    totalFen,
  };
}

/** The tagged invoice, its gaps filled from DocInfo/CustomDatas; the two must not contradict each other. */
function agreeing(tagged: OfdInvoiceData | null, data: OfdInvoiceData | null): OfdInvoiceData | null {
  if (tagged === null || data === null) return tagged ?? data;
  for (const [field, a, b] of [['invoice number', tagged.invoiceNumber, data.invoiceNumber], ['issue date', tagged.issueDate, data.issueDate], ['total', tagged.totalFen, data.totalFen]] as const) {
    if (a !== b) throw new InvoiceParseError(`the OFD's custom tags and DocInfo/CustomDatas disagree on the ${field}`);
  }
  return {
    ...tagged,
    buyer: { name: tagged.buyer.name ?? data.buyer.name, taxId: tagged.buyer.taxId ?? data.buyer.taxId },
    seller: { name: tagged.seller.name ?? data.seller.name, taxId: tagged.seller.taxId ?? data.seller.taxId },
    amountFen: tagged.amountFen ?? data.amountFen,
    taxFen: tagged.taxFen ?? data.taxFen,
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
