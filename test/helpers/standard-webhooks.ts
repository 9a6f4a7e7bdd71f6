// Verifying a delivery as a receiver would, with the Standard Webhooks reference library (`standardwebhooks`):
// `new Webhook(secret)` for a secret in the specification's form (`whsec_` and base64), the UTF-8 bytes of any other
// secret in `raw` format (README.md, "Webhooks"). The library checks the timestamp against the clock: `at` sets the
// clock for tests whose service runs on a moved one.
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { vi } from 'vitest';

/** README.md's rule, as written there: a whsec_ secret as is, any other as its UTF-8 bytes. */
export function receiverWebhook(secret: string): Webhook {
  return secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(Buffer.from(secret), { format: 'raw' });
}

/** The parsed body when the delivery verifies with `secret`; throws the library's WebhookVerificationError otherwise. */
export function verifyStandard(secret: string, headers: IncomingHttpHeaders | Record<string, string>, body: string, at?: number): unknown {
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') flat[k] = v;
  if (at === undefined) return receiverWebhook(secret).verify(body, flat);
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    vi.setSystemTime(at);
    return receiverWebhook(secret).verify(body, flat);
  } finally {
    vi.useRealTimers();
  }
}

/** Whether the delivery verifies with `secret`. */
export function verifiesWith(secret: string, headers: IncomingHttpHeaders | Record<string, string>, body: string, at?: number): boolean {
  try {
    verifyStandard(secret, headers, body, at);
    return true;
  } catch {
    return false;
  }
}
