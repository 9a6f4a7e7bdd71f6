import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { healthRoutes, type HealthRoutesOptions } from '../../gateway/health.ts';

let server: Server | undefined;

async function serve(options: HealthRoutesOptions): Promise<string> {
  const routes = healthRoutes(options);
  server = createServer((req, res) => {
    if (routes(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"fallthrough":true}');
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

describe('healthRoutes over HTTP', () => {
  it('/healthz answers 200 while the process runs, whatever the checks say', async () => {
    const base = await serve({ checks: { database: () => Promise.reject(new Error('down')) } });
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 when every check passes', async () => {
    let calls = 0;
    const base = await serve({
      checks: {
        database: async () => {
          calls += 1;
        },
        cache: async () => undefined,
      },
    });
    const res = await fetch(`${base}/readyz?probe=1`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { database: 'ok', cache: 'ok' } });
    expect(calls).toBe(1);
  });

  it('/readyz answers 503 naming the failed dependency, without internals', async () => {
    const warnings: object[] = [];
    const base = await serve({
      checks: {
        database: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.5:27017 secret-internal-detail')),
        cache: async () => undefined,
      },
      logger: { warn: (obj) => warnings.push(obj) },
    });
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ status: 'unavailable', checks: { database: 'failed', cache: 'ok' } });
    expect(text).not.toContain('ECONNREFUSED');
    expect(text).not.toContain('secret-internal-detail');
    expect(warnings).toEqual([expect.objectContaining({ check: 'database' })]);
  });

  it('/readyz treats a synchronous throw as a failure', async () => {
    const base = await serve({
      checks: {
        database: () => {
          throw new Error('not connected');
        },
      },
    });
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable', checks: { database: 'failed' } });
  });

  it('/readyz answers 503 timeout when a check does not answer in time', async () => {
    const base = await serve({ checks: { database: () => new Promise<void>(() => undefined) }, timeoutMs: 100 });
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable', checks: { database: 'timeout' } });
  });

  it('/readyz answers 503 draining during shutdown', async () => {
    let draining = false;
    const base = await serve({ checks: { database: async () => undefined }, draining: () => draining });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    draining = true;
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'draining' });
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const base = await serve({ checks: {} });
    const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${base}/readyz`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('leaves every other path to the next handler', async () => {
    const base = await serve({ checks: {} });
    for (const path of ['/', '/graphql', '/healthz/extra', '/readyzz']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ fallthrough: true });
    }
  });
});
