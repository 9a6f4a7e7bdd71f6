// What an uploaded original says about itself (issue 17, point 2; docs/api.md#electronic-invoices): an XML is read as
// a 数电票 (./fully-digital.ts), an OFD's package checked and its invoice data read where it carries it (./ofd.ts), a
// PDF's structure checked and flagged for encryption and active content (./pdf.ts); a parsed invoice is then put to
// the verification interface (./verifier.ts). Images are not inspected. Each module bounds its own input.
//
// A file that fails its check is still stored (it is the original the user holds, and the archive keeps originals):
// the outcome is recorded as structure.ok false with the problem named, and such a file supports no invoice check
// on a claim (invoice null). Only files the gateway recognised reach this point (platform/file-kind.ts).
import { checkOfd, invoiceFromXml } from './ofd.ts';
import { checkPdf } from './pdf.ts';
import { parseFullyDigitalInvoice, type InvoiceLine } from './fully-digital.ts';
import type { InvoiceVerifier, VerificationStatus } from './verifier.ts';
import { InvoiceParseError } from './xml.ts';

/** The invoice data stored with a file (metadata.invoice), whichever format carried it. */
export interface StoredInvoice {
  readonly invoiceNumber: string;
  /** YYYY-MM-DD. */
  readonly issueDate: string;
  readonly kind: 'BLUE' | 'RED';
  /** Where the data came from: the 数电票 XML itself, what an OFD carried (ofd.ts OfdInvoiceSource), or a PDF's embedded XML. */
  readonly source: 'EINVOICE_XML' | 'OFD_ATTACHMENT_EINVOICE' | 'OFD_ATTACHMENT_LEGACY' | 'OFD_CUSTOM_TAG' | 'OFD_CUSTOM_DATA' | 'PDF_ATTACHMENT_EINVOICE' | 'PDF_ATTACHMENT_LEGACY';
  readonly buyer: { readonly name: string | null; readonly taxId: string | null };
  readonly seller: { readonly name: string | null; readonly taxId: string | null };
  /** Null when an OFD's data does not state it. */
  readonly amountFen: number | null;
  readonly taxFen: number | null;
  readonly totalFen: number;
  /** Empty when only summary data was read (an OFD's, or an XML embedded in an OFD or a PDF). */
  readonly lines: readonly InvoiceLine[];
}

/** metadata.structure: the format check of an XML, OFD or PDF. */
export interface StoredStructure {
  readonly ok: boolean;
  /** What is wrong, in the parser's words (at most one: the checks stop at the first). */
  readonly problems: readonly string[];
  readonly encrypted: boolean;
  /** A PDF runs scripts or launches programs (/JavaScript, /JS, /Launch, /OpenAction with a script). */
  readonly activeContent: boolean;
}

/** metadata.verification. */
export interface StoredVerification {
  readonly status: VerificationStatus;
  readonly reason: string | null;
  readonly checkedAt: Date;
}

export interface Inspection {
  readonly invoice: StoredInvoice | null;
  readonly structure: StoredStructure | null;
  readonly verification: StoredVerification | null;
}

export const NOT_INSPECTED: Inspection = Object.freeze({ invoice: null, structure: null, verification: null });

/** The media types inspected; anything else (images) is NOT_INSPECTED. */
export const INSPECTED_TYPES: readonly string[] = ['application/xml', 'application/ofd', 'application/pdf'];

// Hostile bytes may also break a library below the modules (a ZIP that fails while inflating): still a problem of
// the file, never a server error, and no library message (it may name internals) is stored.
const failed = (err: unknown, mediaType: string): StoredStructure => ({
  ok: false,
  problems: [err instanceof InvoiceParseError ? err.message : `the ${mediaType === 'application/ofd' ? 'OFD package' : 'file'} could not be read`],
  encrypted: false,
  activeContent: false,
});

/** Reads `bytes` as `mediaType` says; never throws for a malformed file (structure.ok false instead). */
export async function inspectOriginal(bytes: Uint8Array, mediaType: string, verify: InvoiceVerifier): Promise<Inspection> {
  let invoice: StoredInvoice | null = null;
  let structure: StoredStructure;
  try {
    if (mediaType === 'application/xml') {
      const inv = parseFullyDigitalInvoice(bytes);
      invoice = { ...inv, source: 'EINVOICE_XML', buyer: { ...inv.buyer }, seller: { ...inv.seller }, lines: inv.lines };
      structure = { ok: true, problems: [], encrypted: false, activeContent: false };
    } else if (mediaType === 'application/ofd') {
      const ofd = await checkOfd(bytes);
      const d = ofd.invoice;
      if (d) {
        const { source, ...rest } = d;
        invoice = { ...rest, source: `OFD_${source}`, kind: d.totalFen < 0 ? 'RED' : 'BLUE', lines: [] };
      }
      structure = { ok: true, problems: [], encrypted: false, activeContent: false };
    } else if (mediaType === 'application/pdf') {
      const pdf = checkPdf(bytes);
      structure = { ok: true, problems: [], encrypted: pdf.encrypted, activeContent: pdf.activeContent.length > 0 };
      for (const [i, xml] of pdf.embeddedXml.entries()) {
        const d = invoiceFromXml(xml, `embedded file ${i + 1}`);
        if (!d) continue;
        const { source, ...rest } = d;
        invoice = { ...rest, source: source === 'ATTACHMENT_EINVOICE' ? 'PDF_ATTACHMENT_EINVOICE' : 'PDF_ATTACHMENT_LEGACY', kind: d.totalFen < 0 ? 'RED' : 'BLUE', lines: [] };
        break;
      }
    } else {
      return NOT_INSPECTED;
    }
  } catch (err) {
    structure = failed(err, mediaType);
  }
  if (invoice === null) return { invoice, structure, verification: null };
  const v = await verify(invoice);
  return { invoice, structure, verification: { status: v.status, reason: v.reason ?? null, checkedAt: v.checkedAt } };
}
