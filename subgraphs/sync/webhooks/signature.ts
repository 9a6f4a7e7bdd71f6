// How deliveries are signed, and how a receiver checks them.
//
// Standard Webhooks (https://www.standardwebhooks.com): `webhook-id` (the delivery id, the same on every retry),
// `webhook-timestamp` (unix seconds of the attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of
// "<id>.<timestamp>.<raw body>">`, one signature per secret in force, space-separated (two while a rotation's
// overlap lasts). Signed with the specification's reference library (`standardwebhooks`), with which a receiver
// verifies: `new Webhook(secret)` for a `whsec_` secret, `new Webhook(Buffer.from(secret), { format: 'raw' })`
// for any other (signingKey below says which bytes key the HMAC).
//
// The headers of before (X-Delivery-Id, X-Timestamp, X-Signature-256 over "<timestamp>.<raw body>", current secret
// only) go along while a webhook keeps `legacyHeaders` (webhooks registered before default to it, for the
// deprecation period). verifyDelivery checks them and is written to be copied into a receiver as is: node:crypto
// only, no project imports. A receiver that refuses old timestamps and remembers the delivery ids it has seen within
// the tolerance also refuses replays.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

const WHSEC = /^whsec_((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)$/;

/** The bytes of a secret in the Standard Webhooks form (`whsec_` and standard base64), or null for any other secret. */
export function specSecretBytes(secret: string): Buffer | null {
  const m = WHSEC.exec(secret);
  return m ? Buffer.from(m[1], 'base64') : null;
}

/**
 * The HMAC key of a secret: a Standard Webhooks secret (`whsec_` and the standard base64 of at least 16 bytes; new
 * `whsec_` secrets must be, secrets.ts) is its decoded bytes, as the specification says; any other secret its UTF-8
 * bytes (a `whsec_` secret of another form, accepted before that rule, included).
 */
export function signingKey(secret: string): Uint8Array {
  const bytes = specSecretBytes(secret);
  if (bytes && bytes.length >= 16) return new Uint8Array(bytes);
  return new Uint8Array(Buffer.from(secret, 'utf8'));
}

/** The `webhook-signature` header: `v1,<signature>` per secret, space-separated. */
export function standardSignature(secrets: readonly string[], id: string, timestamp: number, rawBody: string): string {
  return secrets.map((secret) => new Webhook(signingKey(secret), { format: 'raw' }).sign(id, new Date(timestamp * 1000), rawBody)).join(' ');
}

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<rawBody>")>`, timestamp in unix seconds. */
export function signDelivery(secret: string, timestamp: number, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

export type VerifyResult = { ok: true; deliveryId: string } | { ok: false; reason: string };

export interface VerifyInput {
  secret: string;
  /** Request headers; names are matched case-insensitively (Node lower-cases them, other frameworks may not). */
  headers: Record<string, string | string[] | undefined>;
  /** The body exactly as received, before any JSON parsing. */
  rawBody: string;
  toleranceSeconds?: number;
  /** Current time in milliseconds. */
  now?: number;
}

function header(headers: VerifyInput['headers'], name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : headers[key];
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

export function verifyDelivery({ secret, headers, rawBody, toleranceSeconds = 300, now = Date.now() }: VerifyInput): VerifyResult {
  const deliveryId = header(headers, 'X-Delivery-Id');
  const timestamp = header(headers, 'X-Timestamp');
  const signature = header(headers, 'X-Signature-256');
  if (!deliveryId) return { ok: false, reason: 'missing X-Delivery-Id header' };
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'missing or malformed X-Timestamp header' };
  if (!signature || !/^sha256=[0-9a-f]{64}$/.test(signature)) return { ok: false, reason: 'missing or malformed X-Signature-256 header' };

  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceSeconds) return { ok: false, reason: 'timestamp outside the accepted tolerance' };

  // Constant-time comparison, so response timing does not reveal how much of a forged signature was right.
  const expected = Buffer.from(signDelivery(secret, Number(timestamp), rawBody));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'signature mismatch' };

  // The id header is not signed; trust only the id inside the signed body, and require them to agree.
  let bodyId: unknown;
  try {
    bodyId = (JSON.parse(rawBody) as { deliveryId?: unknown }).deliveryId;
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  if (bodyId !== deliveryId) return { ok: false, reason: 'X-Delivery-Id does not match the signed body' };
  return { ok: true, deliveryId };
}
