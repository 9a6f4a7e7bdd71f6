// Authenticity of an invoice, asked of a verification interface (INVOICE_VERIFIER_URL) once per invoice.
//
// The interface is ours: real deployments put an adapter to the tax authority's 查验 service (全国增值税发票查验平台,
// or a licensed provider) behind it, so this service never holds the credentials of that service.
//
//   POST <INVOICE_VERIFIER_URL>
//   Content-Type: application/json
//   { "invoiceNumber": "26442000000012345678", "issueDate": "2026-09-01", "totalAmount": "1272.00",
//     "buyerTaxId": "91440300MA5G0000XX" | null, "sellerTaxId": "91110105MA00P8L2RU" | null }
//
//   200 application/json  { "status": "VERIFIED" }                     the authority knows this invoice as given
//                         { "status": "FAILED", "reason": "..." }      it does not (unknown, other amounts, voided, red-flushed)
//   anything else (another status code, a body over 16 KiB, not this JSON) counts as no answer.
//
// One request per check, no retries inside it, a timeout (INVOICE_VERIFIER_TIMEOUT_MS, default 5 s): the caller
// stores the outcome, NOT_CHECKED included, with its reason, and can ask again later. Amounts travel as decimal
// strings (platform/money.ts), never floats.
import { z } from 'zod';
import { formatMoney } from '../../../platform/money.ts';

export const MAX_VERIFIER_REPLY_BYTES = 16 * 1024;
export const DEFAULT_VERIFIER_TIMEOUT_MS = 5000;

export type VerificationStatus = 'VERIFIED' | 'FAILED' | 'NOT_CHECKED';

export interface Verification {
  readonly status: VerificationStatus;
  /** Why it FAILED (the verifier's words) or was NOT_CHECKED (ours); absent when VERIFIED. */
  readonly reason?: string;
  /** When the answer was received or given up on. */
  readonly checkedAt: Date;
}

export interface InvoiceToVerify {
  readonly invoiceNumber: string;
  readonly issueDate: string;
  readonly totalFen: number;
  readonly buyer: { readonly taxId: string | null };
  readonly seller: { readonly taxId: string | null };
}

export interface VerifierOptions {
  /** INVOICE_VERIFIER_URL; null or undefined: every invoice is NOT_CHECKED. */
  readonly url: string | null | undefined;
  readonly timeoutMs?: number;
  readonly now?: () => Date;
}

const Reply = z.discriminatedUnion('status', [
  z.object({ status: z.literal('VERIFIED'), reason: z.string().max(500).optional() }),
  z.object({ status: z.literal('FAILED'), reason: z.string().max(500).optional() }),
]);

export type InvoiceVerifier = (invoice: InvoiceToVerify) => Promise<Verification>;

/** A verifier bound to the configured interface; never throws: every failure is NOT_CHECKED with its reason. */
export function invoiceVerifier(options: VerifierOptions): InvoiceVerifier {
  const timeoutMs = options.timeoutMs ?? DEFAULT_VERIFIER_TIMEOUT_MS;
  const now = options.now ?? (() => new Date());
  return async (invoice) => {
    const notChecked = (reason: string): Verification => ({ status: 'NOT_CHECKED', reason, checkedAt: now() });
    if (!options.url) return notChecked('no verification interface is configured (INVOICE_VERIFIER_URL)');
    const body = JSON.stringify({
      invoiceNumber: invoice.invoiceNumber,
      issueDate: invoice.issueDate,
      totalAmount: formatMoney(invoice.totalFen),
      buyerTaxId: invoice.buyer.taxId,
      sellerTaxId: invoice.seller.taxId,
    });
    let text: string;
    try {
      const reply = await fetch(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      if (reply.status !== 200) {
        await reply.body?.cancel().catch(() => undefined);
        return notChecked(`the verification interface answered HTTP ${reply.status}`);
      }
      const bytes = await readCapped(reply.body, MAX_VERIFIER_REPLY_BYTES);
      if (bytes === null) return notChecked(`the verification interface answered more than ${MAX_VERIFIER_REPLY_BYTES} bytes`);
      text = new TextDecoder().decode(bytes);
    } catch (err) {
      const name = (err as Error).name;
      return notChecked(name === 'TimeoutError' || name === 'AbortError' ? `the verification interface did not answer within ${timeoutMs} ms` : 'the verification interface could not be reached');
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return notChecked('the verification interface answered something that is not JSON');
    }
    const parsed = Reply.safeParse(json);
    if (!parsed.success) return notChecked('the verification interface answered JSON without a valid status (VERIFIED or FAILED)');
    if (parsed.data.status === 'VERIFIED') return { status: 'VERIFIED', checkedAt: now() };
    // The verifier's words are stored and shown: control characters become spaces.
    const reason = parsed.data.reason?.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
    return { status: 'FAILED', reason: reason || 'the tax authority does not confirm this invoice', checkedAt: now() };
  };
}

async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (body) {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > max) return null; // leaving the loop cancels the stream
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}
