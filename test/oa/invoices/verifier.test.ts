import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invoiceVerifier, type InvoiceToVerify } from '../../../subgraphs/oa/invoices/verifier.ts';

const invoice: InvoiceToVerify = {
  invoiceNumber: '26442000000012345678',
  issueDate: '2026-09-01',
  totalFen: 127200,
  buyer: { taxId: '91440300MA5G12345L' },
  seller: { taxId: '91110105MA00P8L2RU' },
};
const at = new Date('2026-09-02T01:02:03Z');

/** A local verification interface: answers by path, records what it was sent. */
let server: Server;
let base: string;
const received: Array<{ path: string; contentType: string | undefined; body: unknown }> = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url!, contentType: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      switch (req.url) {
        case '/verified': return json(200, { status: 'VERIFIED' });
        case '/failed': return json(200, { status: 'FAILED', reason: '查无此票' });
        case '/failed-bare': return json(200, { status: 'FAILED', reason: '\u0007\n' });
        case '/slow': return; // never answers
        case '/malformed': return json(200, { status: 'MAYBE' });
        case '/not-json': return res.writeHead(200).end('<html>ok</html>');
        case '/huge': return json(200, { status: 'VERIFIED', padding: 'x'.repeat(100_000) });
        default: return json(503, { status: 'VERIFIED' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const verify = (path: string | null, timeoutMs = 5000) => invoiceVerifier({ url: path === null ? null : `${base}${path}`, timeoutMs, now: () => at })(invoice);

describe('invoice verifier', () => {
  it('posts the invoice facts as JSON, amounts as decimal strings, and stores VERIFIED', async () => {
    expect(await verify('/verified')).toEqual({ status: 'VERIFIED', checkedAt: at });
    expect(received.at(-1)).toEqual({
      path: '/verified',
      contentType: 'application/json',
      body: { invoiceNumber: '26442000000012345678', issueDate: '2026-09-01', totalAmount: '1272.00', buyerTaxId: '91440300MA5G12345L', sellerTaxId: '91110105MA00P8L2RU' },
    });
  });

  it('stores FAILED with the verifier\'s reason', async () => {
    expect(await verify('/failed')).toEqual({ status: 'FAILED', reason: '查无此票', checkedAt: at });
    expect(await verify('/failed-bare')).toEqual({ status: 'FAILED', reason: 'the tax authority does not confirm this invoice', checkedAt: at });
  });

  it('gives up after the timeout: NOT_CHECKED', async () => {
    const started = Date.now();
    expect(await verify('/slow', 300)).toEqual({ status: 'NOT_CHECKED', reason: 'the verification interface did not answer within 300 ms', checkedAt: at });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('treats a malformed, non-JSON, oversized or non-200 answer as NOT_CHECKED', async () => {
    expect(await verify('/malformed')).toEqual({ status: 'NOT_CHECKED', reason: 'the verification interface answered JSON without a valid status (VERIFIED or FAILED)', checkedAt: at });
    expect(await verify('/not-json')).toEqual({ status: 'NOT_CHECKED', reason: 'the verification interface answered something that is not JSON', checkedAt: at });
    expect(await verify('/huge')).toEqual({ status: 'NOT_CHECKED', reason: 'the verification interface answered more than 16384 bytes', checkedAt: at });
    expect(await verify('/down')).toEqual({ status: 'NOT_CHECKED', reason: 'the verification interface answered HTTP 503', checkedAt: at });
  });

  it('is NOT_CHECKED when no interface is configured or it cannot be reached, without a request', async () => {
    const before = received.length;
    expect(await verify(null)).toEqual({ status: 'NOT_CHECKED', reason: 'no verification interface is configured (INVOICE_VERIFIER_URL)', checkedAt: at });
    expect(received.length).toBe(before);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await invoiceVerifier({ url: `http://127.0.0.1:${port}/`, now: () => at })(invoice)).toEqual({ status: 'NOT_CHECKED', reason: 'the verification interface could not be reached', checkedAt: at });
  });
});
