// 全面数字化的电子发票 (数电票) XML → invoice data, with its internal consistency checked.
//
// Structure followed: the XML file the national e-invoice service platform (全国统一电子发票服务平台) of the State
// Taxation Administration issues with every 数电票 (root EInvoice; Header/EIid; EInvoiceData with SellerInformation,
// BuyerInformation, BasicInformation, IssuItemInformation (one per line), SpecificInformation, AdditionalInformation;
// SellerAuthentication; TaxSupervisionInfo with InvoiceNumber, IssueTime, TaxBureauCode, TaxBureauName;
// TaxBureauSignature). The STA publishes no XSD for it openly; the element names here were cross-checked against
// several independent open-source readers of real 数电票 files (Python, Java, C#, Rust and TypeScript projects on
// GitHub that read EInvoice/TaxSupervisionInfo/InvoiceNumber, EInvoiceData/BuyerInformation/BuyerIdNum,
// BasicInformation/TotalTax-includedAmount, IssuItemInformation/ComTaxAm, …) and a published 数电票 XML
// checklist (required parts: Header/EIid of 20 digits, EInvoiceTag, Version, InherentLabel; SellerIdNum/SellerName;
// BuyerIdNum/BuyerName; TaxSupervisionInfo/InvoiceNumber of 20 digits, IssueTime). Note the two look-alike names:
// BasicInformation/TotalTax-includedAmount is the invoice's 价税合计, IssuItemInformation/TotaltaxIncludedAmount a
// line's; only the first is read as the total. Fixtures: test/oa/invoices/fixtures/.
//
// Red (红字) credit invoices are accepted: their amounts are negative (the whole invoice negates a blue one, named in
// SpecificInformation/RedEInvoice or the remark); `kind` says RED when the total is below zero. check-item.ts refuses a
// red invoice as support for an expense. Discount lines (negative Amount on a blue invoice) are lines like any other.
import { MoneyError, parseMoney, sumFen } from '../../../platform/money.ts';
import { InvoiceParseError, child, children, parseXml, textAt, type XmlValue } from './xml.ts';

export { InvoiceParseError } from './xml.ts';

export interface InvoiceParty {
  readonly name: string;
  /** 统一社会信用代码/纳税人识别号, upper-cased; null when the buyer is a natural person without one. */
  readonly taxId: string | null;
}

export interface InvoiceLine {
  readonly name: string;
  readonly specification?: string;
  readonly unit?: string;
  /** Decimal strings as printed (quantities and unit prices carry up to 15 decimals on real invoices). */
  readonly quantity?: string;
  readonly unitPrice?: string;
  readonly amountFen: number;
  /** As written: a fraction ("0.06"), a percentage ("6%"), or a word such as 免税 / 不征税. */
  readonly taxRate: string;
  readonly taxFen: number;
}

export interface FullyDigitalInvoice {
  /** 20 digits. */
  readonly invoiceNumber: string;
  /** YYYY-MM-DD. */
  readonly issueDate: string;
  readonly kind: 'BLUE' | 'RED';
  readonly buyer: InvoiceParty;
  readonly seller: InvoiceParty & { readonly taxId: string };
  readonly amountFen: number;
  readonly taxFen: number;
  readonly totalFen: number;
  readonly lines: readonly InvoiceLine[];
}

/** Most lines one invoice may carry (the platform allows 2000 on a 数电票 with a list). */
export const MAX_INVOICE_LINES = 2000;
const MAX_NAME = 300;
const TAX_ID_RE = /^[0-9A-Z]{15,20}$/;
const DECIMAL_RE = /^-?\d{1,15}(?:\.\d{1,20})?$/;

/** Parses a 数电票 XML file; throws InvoiceParseError naming the first missing or malformed element. */
export function parseFullyDigitalInvoice(bytes: Uint8Array): FullyDigitalInvoice {
  const doc = parseXml(bytes, 'invoice XML');
  const root = child(doc, 'EInvoice');
  if (root === undefined || typeof root === 'string') throw new InvoiceParseError('EInvoice root element missing: not a 数电票 XML file');
  const data = child(root, 'EInvoiceData');
  if (data === undefined) throw new InvoiceParseError('EInvoiceData missing');

  const invoiceNumber = textAt(root, 'TaxSupervisionInfo', 'InvoiceNumber') ?? textAt(root, 'Header', 'EIid');
  if (invoiceNumber === undefined) throw new InvoiceParseError('TaxSupervisionInfo/InvoiceNumber missing');
  if (!/^\d{20}$/.test(invoiceNumber)) throw new InvoiceParseError('TaxSupervisionInfo/InvoiceNumber must be 20 digits');

  const issueTime = textAt(root, 'TaxSupervisionInfo', 'IssueTime') ?? textAt(data, 'BasicInformation', 'RequestTime');
  if (issueTime === undefined) throw new InvoiceParseError('TaxSupervisionInfo/IssueTime missing');
  const issueDate = invoiceDate(issueTime);
  if (issueDate === null) throw new InvoiceParseError('TaxSupervisionInfo/IssueTime is not a date');

  const seller = party(data, 'SellerInformation', 'Seller');
  if (seller.taxId === null) throw new InvoiceParseError('SellerInformation/SellerIdNum missing');
  const buyer = party(data, 'BuyerInformation', 'Buyer');

  const basic = child(data, 'BasicInformation');
  if (basic === undefined) throw new InvoiceParseError('BasicInformation missing');
  const amountFen = money(basic, 'BasicInformation', 'TotalAmWithoutTax');
  const taxFen = money(basic, 'BasicInformation', 'TotalTaxAm');
  const totalFen = money(basic, 'BasicInformation', 'TotalTax-includedAmount');

  const lineNodes = children(data, 'IssuItemInformation');
  if (lineNodes.length === 0) throw new InvoiceParseError('IssuItemInformation missing: an invoice has at least one line');
  if (lineNodes.length > MAX_INVOICE_LINES) throw new InvoiceParseError(`more than ${MAX_INVOICE_LINES} IssuItemInformation lines`);
  const lines = lineNodes.map((node, i) => line(node, i + 1));

  const invoice: FullyDigitalInvoice = { invoiceNumber, issueDate, kind: totalFen < 0 ? 'RED' : 'BLUE', buyer, seller: { name: seller.name, taxId: seller.taxId }, amountFen, taxFen, totalFen, lines };
  checkConsistency(invoice);
  return invoice;
}

/** amount + tax = total to the fen, and the lines add up to the amount and the tax. */
export function checkConsistency(invoice: FullyDigitalInvoice): void {
  const { amountFen, taxFen, totalFen, lines } = invoice;
  if (amountFen + taxFen !== totalFen) {
    throw new InvoiceParseError(`TotalAmWithoutTax + TotalTaxAm (${amountFen + taxFen} fen) differs from TotalTax-includedAmount (${totalFen} fen)`);
  }
  if (totalFen === 0) throw new InvoiceParseError('TotalTax-includedAmount is zero');
  const sign = Math.sign(totalFen);
  if (Math.sign(amountFen) === -sign || Math.sign(taxFen) === -sign) {
    throw new InvoiceParseError('BasicInformation amounts mix signs: a red invoice is negative throughout, a blue one positive');
  }
  const lineAmount = sumFen(lines.map((l) => l.amountFen));
  if (lineAmount !== amountFen) throw new InvoiceParseError(`the IssuItemInformation Amount values add up to ${lineAmount} fen, TotalAmWithoutTax says ${amountFen}`);
  const lineTax = sumFen(lines.map((l) => l.taxFen));
  if (lineTax !== taxFen) throw new InvoiceParseError(`the IssuItemInformation ComTaxAm values add up to ${lineTax} fen, TotalTaxAm says ${taxFen}`);
}

/**
 * "2026-03-18", "2026-03-18 16:05:42", "2026-03-18T16:05:42", "20260318" or "2026年03月18日" → "2026-03-18";
 * null when it is none of these or no calendar date.
 */
export function invoiceDate(text: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.exec(text)
    ?? /^(\d{4})(\d{2})(\d{2})(?:\d{6,9})?$/.exec(text)
    ?? /^(\d{4})年(\d{1,2})月(\d{1,2})日$/.exec(text);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (y < 2000 || date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  return `${m[1]}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

function party(data: XmlValue, section: string, prefix: 'Buyer' | 'Seller'): InvoiceParty {
  const node = child(data, section);
  if (node === undefined) throw new InvoiceParseError(`${section} missing`);
  const name = textAt(node, `${prefix}Name`);
  if (name === undefined) throw new InvoiceParseError(`${section}/${prefix}Name missing`);
  if (name.length > MAX_NAME) throw new InvoiceParseError(`${section}/${prefix}Name is longer than ${MAX_NAME} characters`);
  const raw = textAt(node, `${prefix}IdNum`);
  const taxId = raw === undefined ? null : raw.toUpperCase();
  if (taxId !== null && !TAX_ID_RE.test(taxId)) throw new InvoiceParseError(`${section}/${prefix}IdNum must be 15 to 20 letters or digits`);
  return { name, taxId };
}

/** A decimal amount in yuan → integer fen, exactly (platform/money.ts); "¥" and thousands separators are tolerated. */
function money(node: XmlValue, section: string, name: string): number {
  const text = textAt(node, name);
  if (text === undefined) throw new InvoiceParseError(`${section}/${name} missing`);
  return fen(text, `${section}/${name}`);
}

function fen(text: string, where: string): number {
  const cleaned = text.replace(/^[¥￥]/, '').replace(/,/g, '');
  try {
    return parseMoney(cleaned);
  } catch (err) {
    if (err instanceof MoneyError) throw new InvoiceParseError(`${where} is not an amount with at most two decimals`);
    throw err;
  }
}

function line(node: XmlValue, n: number): InvoiceLine {
  const where = `IssuItemInformation[${n}]`;
  const name = textAt(node, 'ItemName');
  if (name === undefined) throw new InvoiceParseError(`${where}/ItemName missing`);
  if (name.length > MAX_NAME) throw new InvoiceParseError(`${where}/ItemName is longer than ${MAX_NAME} characters`);
  const amount = textAt(node, 'Amount');
  if (amount === undefined) throw new InvoiceParseError(`${where}/Amount missing`);
  const taxRate = textAt(node, 'TaxRate');
  if (taxRate === undefined) throw new InvoiceParseError(`${where}/TaxRate missing`);
  const tax = textAt(node, 'ComTaxAm');
  if (tax === undefined) throw new InvoiceParseError(`${where}/ComTaxAm missing`);
  const quantity = textAt(node, 'Quantity');
  const unitPrice = textAt(node, 'UnPrice');
  for (const [label, value] of [['Quantity', quantity], ['UnPrice', unitPrice]] as const) {
    if (value !== undefined && !DECIMAL_RE.test(value)) throw new InvoiceParseError(`${where}/${label} is not a decimal number`);
  }
  const specification = textAt(node, 'SpecMod');
  const unit = textAt(node, 'MeaUnits');
  return {
    name,
    ...(specification !== undefined && { specification }),
    ...(unit !== undefined && { unit }),
    ...(quantity !== undefined && { quantity }),
    ...(unitPrice !== undefined && { unitPrice }),
    amountFen: fen(amount, `${where}/Amount`),
    taxRate,
    // Tax-exempt lines print "***" as their tax; it is no tax.
    taxFen: tax === '***' ? 0 : fen(tax, `${where}/ComTaxAm`),
  };
}
