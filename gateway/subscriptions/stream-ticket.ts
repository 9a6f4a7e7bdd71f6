// Stream tickets (POST /graphql/stream/ticket): a browser's EventSource cannot send an Authorization header, and a
// token in a URL lands in histories and proxy logs. A ticket is the caller's Authorization header sealed with
// AES-256-GCM under a key derived from INTERNAL_SECRET (so every gateway instance opens the tickets of the others),
// valid for 60 s; the stream that presents it (`?ticket=`) is authenticated with the header inside, by the same
// checks as any request. Nothing in the ticket is readable or forgeable without the secret.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const INFO = 'oa-archive gateway stream ticket v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export const STREAM_TICKET_TTL_MS = 60_000;

export class StreamTickets {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly ttlMs = STREAM_TICKET_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), INFO, 32));
  }

  /** A ticket carrying `authorization`, and when it stops opening streams. */
  issue(authorization: string): { ticket: string; expiresAt: string } {
    const expiresAt = this.now() + this.ttlMs;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([cipher.update(JSON.stringify({ a: authorization, e: expiresAt }), 'utf8'), cipher.final()]);
    return { ticket: Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url'), expiresAt: new Date(expiresAt).toISOString() };
  }

  /** The Authorization header a ticket carries; null when it is not one of ours, was altered, or has expired. */
  open(ticket: string): string | null {
    if (!/^[A-Za-z0-9_-]{40,4096}$/.test(ticket)) return null;
    const raw = Buffer.from(ticket, 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      const { a, e } = JSON.parse(plain) as { a?: unknown; e?: unknown };
      return typeof a === 'string' && typeof e === 'number' && this.now() < e ? a : null;
    } catch {
      return null;
    }
  }
}
