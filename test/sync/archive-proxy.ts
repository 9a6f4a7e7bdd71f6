// Stands between the sync service and the archive subgraph in tests: forwards, answers 503 ('down'), or answers
// with a GraphQL error that retrying cannot fix ('refuse', or for a request naming one of `refusedClaims`, as the
// archive refuses a claim it cannot book, and a batch holding it). Counts the calls, so it also counts those to oa in
// front of that subgraph (claim-snapshot.test.ts), and names the operations forwarded. While `hold` is set, requests
// wait for it before going on (an archive that is slow to answer).
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export class ArchiveProxy {
  mode: 'forward' | 'down' | 'refuse' = 'forward';
  calls = 0;
  /** Claim ids whose generateVoucher or generateVouchers request is refused. */
  readonly refusedClaims = new Set<string>();
  /** The operation name of every request received, in order. */
  readonly operations: string[] = [];
  /** The claims of each generateVouchers request (SyncVouchers), in order. */
  readonly voucherBatches: string[][] = [];
  hold: Promise<void> | null = null;
  readonly server: Server;
  target = '';

  constructor() {
    this.server = createServer((req, res) => {
      this.calls++;
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', async () => {
        if (this.mode === 'down') return void res.writeHead(503, { 'content-type': 'text/plain' }).end('maintenance');
        let query = '';
        try {
          query = String((JSON.parse(body) as { query?: unknown }).query ?? '');
        } catch {
          // not a GraphQL request: forwarded as it is
        }
        const operation = /^\s*(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? '';
        this.operations.push(operation);
        if (operation === 'SyncVouchers') this.voucherBatches.push((JSON.parse(body) as { variables: { claims: { claimId: string }[] } }).variables.claims.map((c) => c.claimId));
        if (this.hold) await this.hold;
        if (this.mode === 'refuse' || [...this.refusedClaims].some((id) => /generateVouchers?\b/.test(query) && body.includes(`"${id}"`))) {
          return void res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ errors: [{ message: 'voucher refused: the claim has no items', extensions: { code: 'BAD_USER_INPUT' } }] }));
        }
        const upstream = await fetch(this.target, { method: 'POST', headers: req.headers as Record<string, string>, body });
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(await upstream.text());
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/graphql`;
  }
}

