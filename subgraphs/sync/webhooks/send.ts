// One HTTP attempt of one delivery. Outcomes are plain data with a short, storable error text: it ends up in
// the delivery record and in operators' logs, so it names what happened (status, timeout, refused) and never
// carries request headers (the signature) or the receiver's response body.
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { forbiddenReason, refusalHint } from './target-addresses.ts';
import { guardedLookup, type Resolve } from './targets.ts';

/** The receiver's response body is read (so the connection ends cleanly) but not kept; beyond this we hang up. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export type SendOutcome = { ok: true; statusCode: number } | { ok: false; statusCode: number | null; error: string };

export interface SendOptions {
  timeoutMs: number;
  allowPrivate: boolean;
  resolve?: Resolve;
}

function describe(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EWEBHOOKTARGET':
      return `target refused: ${err.message}`;
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      if (err.code?.startsWith('ERR_TLS') || err.code?.includes('CERT')) return `TLS error (${err.code})`;
      return `request failed (${err.code ?? 'unknown error'})`;
  }
}

function outcomeOf(statusCode: number): SendOutcome {
  if (statusCode >= 200 && statusCode < 300) return { ok: true, statusCode };
  // Following a redirect would send the signed event to a target nobody validated.
  if (statusCode >= 300 && statusCode < 400) return { ok: false, statusCode, error: `HTTP ${statusCode}: redirects are not followed` };
  return { ok: false, statusCode, error: `HTTP ${statusCode}` };
}

/** POSTs `body` to `target`; never rejects. */
export function send(target: URL, body: string, headers: Record<string, string>, opts: SendOptions): Promise<SendOutcome> {
  // Node connects to IP-literal hosts without calling `lookup`, so those are checked here.
  const literal = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const literalReason = isIP(literal) ? forbiddenReason(literal, opts.allowPrivate) : null;
  if (literalReason) return Promise.resolve({ ok: false, statusCode: null, error: `target refused: ${literal} is ${literalReason} (${refusalHint(literal)})` });

  return new Promise((resolve) => {
    let settled = false;
    let known: SendOutcome | undefined;
    const finish = (outcome: SendOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(outcome);
    };
    const req = (target.protocol === 'https:' ? https : http).request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
        lookup: guardedLookup(opts.allowPrivate, opts.resolve),
        // No pooled sockets: every attempt resolves (and checks) the host afresh.
        agent: false,
      },
      (res) => {
        known = outcomeOf(res.statusCode ?? 0);
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > MAX_RESPONSE_BYTES) finish(known!);
        });
        res.on('end', () => finish(known!));
        res.on('error', () => finish(known!));
      },
    );
    // One deadline for the whole exchange (connect, send, status); a status already received still counts.
    const deadline = setTimeout(() => finish(known ?? { ok: false, statusCode: null, error: `timeout after ${opts.timeoutMs} ms` }), opts.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish(known ?? { ok: false, statusCode: null, error: describe(err) }));
    req.end(body);
  });
}
