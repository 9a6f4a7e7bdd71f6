// A claim item checked against the invoice file it carries (issue 17, point 2; docs/api.md#electronic-invoices), in
// the claim's transaction (./references.ts bindAttachments). The invoice number itself is booked with the item's
// invoiceNo (claims.ts bookInvoices: no invoice twice), which this check makes equal to the invoice's.
import { badInput } from '../../../platform/graphql.ts';
import { checkAgainstItem } from '../invoices/check-item.ts';
import type { AttachmentFile, ItemCheck } from './store.ts';

export interface InvoiceSettings {
  /** COMPANY_TAX_ID: the buyer every invoice must name; null: the buyer is not checked (and the check records so). */
  companyTaxId: string | null;
  /** INVOICE_VERIFIER_URL and its timeout; null: every invoice is NOT_CHECKED. */
  verifier: { url: string; timeoutMs: number } | null;
}

export const NO_INVOICE_SETTINGS: InvoiceSettings = Object.freeze({ companyTaxId: null, verifier: null });

export interface ItemFacts {
  invoiceNo?: string | null;
  amountFen: number;
  occurredOn: string;
  attachmentIds?: readonly string[];
}

const BUYER_SKIPPED = 'COMPANY_TAX_ID is not configured: the buyer tax id was not checked';

/**
 * For each item: at most one of its files carries an invoice; that invoice was not FAILED by the verifier (NOT_CHECKED
 * passes, and shows); and it supports the item (check-item.ts). The first problem of an item is BAD_USER_INPUT naming
 * its field, with every mismatch of the item in the message. Answers the itemCheck to store on each invoice file.
 */
export function checkItemInvoices(items: readonly ItemFacts[], files: ReadonlyMap<string, AttachmentFile>, settings: InvoiceSettings, now: Date): Map<string, ItemCheck> {
  const company = settings.companyTaxId === null ? null : { taxId: settings.companyTaxId };
  const checks = new Map<string, ItemCheck>();
  items.forEach((item, i) => {
    const invoices = (item.attachmentIds ?? []).flatMap((id, j) => {
      const invoice = files.get(id)?.metadata.invoice;
      return invoice ? [{ id, j, invoice, verification: files.get(id)!.metadata.verification ?? null }] : [];
    });
    if (invoices.length === 0) return;
    const [first, second] = invoices;
    if (second) {
      const field = `items[${i}].attachmentIds[${second.j}]`;
      throw badInput(`${field}: items[${i}] already carries invoice ${first.invoice.invoiceNumber} (attachmentIds[${first.j}]); one item carries one invoice`, field);
    }
    const { invoice, verification } = first;
    if (verification?.status === 'FAILED') {
      const field = `items[${i}].attachmentIds[${first.j}]`;
      throw badInput(`${field}: invoice ${invoice.invoiceNumber} failed verification: ${verification.reason ?? 'not confirmed by the tax authority'}`, field);
    }
    const mismatches = checkAgainstItem(invoice, { invoiceNo: item.invoiceNo, amountFen: item.amountFen, occurredOn: item.occurredOn }, company, `items[${i}]`);
    if (mismatches.length) throw badInput(mismatches.map((m) => m.message).join('; '), mismatches[0].field);
    checks.set(first.id, { checkedAt: now, buyerChecked: company !== null, note: company === null ? BUYER_SKIPPED : null });
  });
  return checks;
}
