// One request intake for every transport (gateway/intake.ts): a body over the limit is refused with 413 before it is
// read (declared too large: nothing read; streamed without a length: at most the limit read), a document over the
// token limit is refused before it is parsed, on HTTP, SSE and graphql-ws alike; batches are refused; a WebSocket
// message over the limit closes the socket. Real HTTP and WebSockets against the test stack's gateway.
import { type IncomingMessage, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MAX_BODY_BYTES, TOO_MANY_TOKENS } from '../../gateway/intake.ts';
import type { Org } from '../oa/seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';

let stack: Stack;
let org: Org;
let token: string;
beforeAll(async () => {
  stack = await startStack({ label: 'gateway_intake' });
  org = await seed(stack);
  token = await stack.token(org.ids.accountant);
});
afterAll(() => stack?.close());

interface Upload {
  status: number;
  body: string;
  /** Body bytes the client had handed to the socket when the answer came. */
  sent: number;
}

/**
 * POSTs up to `total` bytes in 64 KiB chunks, declaring the length or not (chunked), and stops writing as soon as the
 * answer arrives or the server closes the connection.
 */
function upload(url: string, total: number, declare: boolean, headers: Record<string, string> = {}): Promise<Upload> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const req = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(declare ? { 'content-length': String(total) } : {}), ...headers },
    });
    req.on('response', (res: IncomingMessage) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), sent });
        req.destroy();
      });
    });
    req.on('error', (err) => (answered ? undefined : reject(err)));
    const pump = () => {
      while (!answered && !req.destroyed && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered && sent >= total) req.end();
    };
    pump();
  });
}

const HUNDRED_MB = 100 * 1024 * 1024;

describe('bodies', () => {
  for (const [name, url] of [
    ['SSE', () => stack.gateways[0].sseUrl],
    ['HTTP', () => stack.gateways[0].url],
  ] as const) {
    it(`${name}: a declared 100 MB body is refused with 413 before a byte of it is read`, async () => {
      const r = await upload(url(), HUNDRED_MB, true, name === 'SSE' ? { accept: 'text/event-stream' } : {});
      expect(r.status).toBe(413);
      expect(JSON.parse(r.body).errors[0].message).toBe(`Request body larger than ${MAX_BODY_BYTES} bytes`);
      expect(r.sent).toBeLessThan(HUNDRED_MB / 4);
    });

    it(`${name}: a 100 MB body streamed without a length is cut at the limit with 413`, async () => {
      const r = await upload(url(), HUNDRED_MB, false, name === 'SSE' ? { accept: 'text/event-stream' } : {});
      expect(r.status).toBe(413);
      expect(r.sent).toBeLessThan(HUNDRED_MB / 4);
    });
  }

  it('a batch (a JSON array of operations) is refused: one operation per request', async () => {
    const res = await fetch(stack.gateways[0].url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('batch');
  });
});

describe('documents', () => {
  // ~1 MB of one field selected again and again: far more tokens than allowed, well inside the body limit.
  const huge = `{ ${'__typename '.repeat(90_000)}}`;
  const tooMany = TOO_MANY_TOKENS;

  it('HTTP: a 1 MB document is refused at the token limit, before it is parsed', async () => {
    expect(huge.length).toBeGreaterThan(990_000);
    const res = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: huge }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { message: string }[] }).errors[0].message).toBe(tooMany);
  });

  it('SSE: the same document is refused the same way', async () => {
    const res = await fetch(stack.gateways[0].sseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: huge }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { message: string }[] }).errors[0].message).toBe(tooMany);
  });

  it('graphql-ws: the same document is refused; a message over the body limit closes the socket (1009)', async () => {
    const ws = new WebSocket(stack.gateways[0].wsUrl, 'graphql-transport-ws');
    const messages: { type: string; payload?: unknown }[] = [];
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('message', (m) => messages.push(JSON.parse(m.toString())));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    const until = async (pred: () => boolean) => {
      for (const deadline = Date.now() + 10_000; !pred(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > deadline) throw new Error(`no such message: ${JSON.stringify(messages)}`);
    };
    await until(() => messages.some((m) => m.type === 'connection_ack'));
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: huge } }));
    await until(() => messages.some((m) => m.type === 'error'));
    expect(JSON.stringify(messages.find((m) => m.type === 'error')!.payload)).toContain(tooMany);
    ws.send(JSON.stringify({ id: '2', type: 'subscribe', payload: { query: `{ __typename }`, variables: { pad: 'x'.repeat(MAX_BODY_BYTES) } } }));
    expect(await closed).toBe(1009);
  });
});
