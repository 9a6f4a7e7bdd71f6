// A claim item checked against the invoice that supports it (issue 17, point 2). Pure: the caller turns each
// mismatch into BAD_USER_INPUT naming its field, and books the invoice number (no invoice twice) itself.
import { creditCodeProblem, normaliseTaxId } from '../../../platform/credit-code.ts';
import { formatMoney } from '../../../platform/money.ts';

/** What check-item needs of an invoice: a parsed 数电票, or the data an OFD carried. */
export interface InvoiceFacts {
  readonly invoiceNumber: string;
  /** YYYY-MM-DD. */
  readonly issueDate: string;
  readonly buyer: { readonly taxId: string | null };
  readonly totalFen: number;
}

export interface ClaimItemFacts {
  readonly invoiceNo: string | null | undefined;
  readonly amountFen: number;
  /** YYYY-MM-DD, the day of the expense. */
  readonly occurredOn: string;
}

export interface InvoiceMismatch {
  /** The input field the caller names, e.g. `input.items[1].amount`; `input.items[1].invoice.buyerTaxId` for the buyer. */
  readonly field: string;
  readonly message: string;
}

/** Field suffix named when the invoice's buyer is not the company (COMPANY_TAX_ID itself is no input). */
export const BUYER_FIELD = 'invoice.buyerTaxId';

/**
 * Every way `invoice` fails to support `item` (empty when it does):
 * - the invoice number equals the item's (`<prefix>.invoiceNo`);
 * - the total equals the item's amount, to the fen (`<prefix>.amount`); a red (negative) invoice supports nothing;
 * - the buyer's tax id equals the company's, compared trimmed and upper-cased (`<prefix>.invoice.buyerTaxId`);
 * - the invoice was not issued after the expense (`<prefix>.occurredOn`).
 * `company.taxId` must be a valid 统一社会信用代码 (GB 32100-2015); config.ts checks COMPANY_TAX_ID at start-up.
 * `company` null (COMPANY_TAX_ID not configured): the buyer is not checked; the caller records that it was not.
 */
export function checkAgainstItem(invoice: InvoiceFacts, item: ClaimItemFacts, company: { taxId: string } | null, fieldPrefix: string): InvoiceMismatch[] {
  const mismatches: InvoiceMismatch[] = [];
  const itemNo = item.invoiceNo?.trim().toUpperCase() ?? '';
  if (itemNo === '') {
    mismatches.push({ field: `${fieldPrefix}.invoiceNo`, message: `${fieldPrefix}.invoiceNo is required with an invoice file: the invoice is number ${invoice.invoiceNumber}` });
  } else if (itemNo !== invoice.invoiceNumber.toUpperCase()) {
    mismatches.push({ field: `${fieldPrefix}.invoiceNo`, message: `${fieldPrefix}.invoiceNo ${itemNo} differs from the invoice's number ${invoice.invoiceNumber}` });
  }

  if (invoice.totalFen <= 0) {
    mismatches.push({ field: `${fieldPrefix}.amount`, message: `invoice ${invoice.invoiceNumber} is a red (credit) invoice of ${formatMoney(invoice.totalFen)}: it supports no expense` });
  } else if (invoice.totalFen !== item.amountFen) {
    mismatches.push({ field: `${fieldPrefix}.amount`, message: `${fieldPrefix}.amount ${formatMoney(item.amountFen)} differs from the invoice total ${formatMoney(invoice.totalFen)}` });
  }

  const companyId = company === null ? null : normaliseTaxId(company.taxId);
  const companyProblem = companyId === null ? null : creditCodeProblem(companyId);
  if (companyProblem !== null) throw new Error(`COMPANY_TAX_ID is not a unified social credit code: ${companyProblem}`);
  const buyerId = invoice.buyer.taxId === null ? null : normaliseTaxId(invoice.buyer.taxId);
  if (companyId !== null && buyerId !== companyId) {
    mismatches.push({
      field: `${fieldPrefix}.${BUYER_FIELD}`,
      message: buyerId === null ? `invoice ${invoice.invoiceNumber} names no buyer tax id: it was not issued to the company` : `invoice ${invoice.invoiceNumber} was issued to buyer tax id ${buyerId}, not to the company (${companyId})`,
    });
  }

  if (invoice.issueDate > item.occurredOn) {
    mismatches.push({ field: `${fieldPrefix}.occurredOn`, message: `invoice ${invoice.invoiceNumber} was issued on ${invoice.issueDate}, after the expense on ${item.occurredOn}` });
  }
  return mismatches;
}
