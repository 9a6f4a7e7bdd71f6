// /metrics (issue 14): client-chosen operation names never become labels beyond a bounded set (1,000 distinct names
// of 1 to 20 KB leave the exposition's size unchanged); METRICS_TOKEN requires a Bearer token; METRICS_PORT serves
// it on 127.0.0.1 only; production with neither serves it nowhere; the names follow Prometheus' conventions.
import { randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../gateway/auth.ts';
import { GatewayMetrics } from '../../gateway/metrics.ts';
import { type GatewayServer, createGatewayServer } from '../../gateway/server.ts';
import { ConfigError, loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { type MetricsAccess, type MetricsListener, bearerMatches, metricsAccess } from '../../platform/metrics-http.ts';
import { conventionProblems, parseExposition } from '../helpers/prometheus.ts';
import { useGateway } from './fixture.ts';

const gw = useGateway('gateway_metrics');
const JWT_SECRET = 'client-jwt-secret-for-the-metrics-tests-0123456789';
const METRICS_TOKEN = 'metrics-scrape-token-0123456789-abcdefghijkl';
const logger = createLogger({ level: 'silent' });
let token: string;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  token = await new SignJWT({ roles: ['AUDITOR'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('auditor-metrics').setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
});
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
});

/** The gateway over real HTTP, with /metrics mounted as scripts/start.ts mounts it. */
async function serve(metrics: GatewayMetrics): Promise<{ base: string; server: GatewayServer }> {
  const { schema, directory } = gw.guarded();
  const server = await createGatewayServer({ schema, directory, authenticate: createAuthenticator({ jwtSecret: JWT_SECRET, lookup: directory }), logger, production: false, metrics });
  const http: Server = createServer((req, res) => {
    void server
      .handle(req, res)
      .then(async (handled) => handled || (await metrics.handle(req, res)) || res.writeHead(404).end())
      .catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
    await server.stop();
  });
  return { base: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, server };
}

const post = (base: string, body: unknown) =>
  fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });

/** A random GraphQL name of 1 to 20 KB. */
const hugeName = (): string => `N${randomBytes(Math.ceil((1024 + Math.floor(Math.random() * 19 * 1024)) / 2)).toString('hex')}`;

describe('operation labels', () => {
  it('1,000 distinct operation names of 1 to 20 KB leave the size of /metrics unchanged', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    const { base } = await serve(metrics);
    // Both ways a client picks a name: the operationName field naming no operation of the document, and an
    // operation of the document with that name. One of each first, so every series exists before measuring.
    const send = async (i: number, name: string) => {
      const res = await post(base, i % 2 === 0 ? { query: '{ __typename }', operationName: name } : { query: `query ${name} { __typename }`, operationName: name });
      await res.arrayBuffer();
      return res.status;
    };
    expect(await send(0, hugeName())).toBe(400); // Unknown operation named …
    expect(await send(1, hugeName())).toBe(200);
    expect(await send(1, 'anon')).toBe(200);
    const before = await (await fetch(`${base}/metrics`)).text();
    const names = new Set<string>();
    while (names.size < 1000) names.add(hugeName());
    const list = [...names];
    for (let i = 0; i < list.length; i += 25) await Promise.all(list.slice(i, i + 25).map((name, j) => send(i + j, name)));
    const after = await (await fetch(`${base}/metrics`)).text();

    // Only counter digits and the latency sums change: the same lines, the same size within a few bytes.
    expect(after.split('\n').length).toBe(before.split('\n').length);
    expect(Math.abs(after.length - before.length)).toBeLessThan(200);
    expect(Math.max(...after.split('\n').map((l) => l.length))).toBeLessThan(300);
    expect(after).toMatch(/^gateway_requests_total\{operation="other",code="OK"\} 501$/m);
    expect(after).toMatch(/^gateway_requests_total\{operation="other",code="[A-Z_]+"\} 501$/m);
    expect(after).toMatch(/^gateway_requests_total\{operation="anon",code="OK"\} 1$/m);
  }, 120_000);

  it('labels known-looking names only up to the bound; the rest are `other`', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false, maxOperationLabels: 3 });
    const { base } = await serve(metrics);
    for (const name of ['First', 'Second', 'Third', 'Fourth', 'Fifth', 'First']) expect((await post(base, { query: `query ${name} { __typename }` })).status).toBe(200);
    expect((await post(base, { query: '{ __typename }' })).status).toBe(200);
    const text = await (await fetch(`${base}/metrics`)).text();
    const operations = parseExposition(text).find((f) => f.name === 'gateway_requests_total')!.samples.map((s) => `${s.labels.operation}=${s.value}`);
    expect(operations.sort()).toEqual(['First=2', 'Second=1', 'Third=1', 'anonymous=1', 'other=2']);
  });
});

describe('who may read /metrics', () => {
  it('METRICS_TOKEN: 401 without the Bearer token or with a wrong one, 200 with it', async () => {
    const { base } = await serve(new GatewayMetrics({ processMetrics: false, access: { kind: 'token', token: METRICS_TOKEN } }));
    const scrape = (authorization?: string) => fetch(`${base}/metrics`, { headers: authorization ? { authorization } : {} });
    const none = await scrape();
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(await none.text()).not.toContain('gateway_');
    for (const wrong of [`Bearer ${METRICS_TOKEN.slice(0, -1)}x`, `Bearer ${METRICS_TOKEN}x`, 'Bearer ', METRICS_TOKEN, `Basic ${METRICS_TOKEN}`]) expect((await scrape(wrong)).status).toBe(401);
    const ok = await scrape(`Bearer ${METRICS_TOKEN}`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await ok.text()).toContain('# TYPE gateway_requests_total counter');
    expect([bearerMatches(`Bearer ${METRICS_TOKEN}`, METRICS_TOKEN), bearerMatches(undefined, METRICS_TOKEN), bearerMatches('Bearer', METRICS_TOKEN)]).toEqual([true, false, false]);
  });

  it('METRICS_PORT: served on 127.0.0.1 on its own port, and no longer on the main port', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false, access: { kind: 'port', port: 0 } });
    const { base } = await serve(metrics);
    const listener = (await metrics.listen(logger)) as MetricsListener;
    closers.push(() => listener.close());
    expect(listener.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(listener.port).not.toBe(Number(new URL(base).port));
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const res = await fetch(listener.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE gateway_requests_total counter');
    expect((await fetch(listener.url.replace('/metrics', '/graphql'))).status).toBe(404);
  });

  it('METRICS_PORT with METRICS_TOKEN: the token on that port too', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false, access: { kind: 'port', port: 0, token: METRICS_TOKEN } });
    const listener = (await metrics.listen(logger)) as MetricsListener;
    closers.push(() => listener.close());
    expect((await fetch(listener.url)).status).toBe(401);
    expect((await fetch(listener.url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
  });

  it('production with neither variable: /metrics is served nowhere (404); development serves it open', async () => {
    const env = { INTERNAL_SECRET: 'i'.repeat(40), JWT_SECRET: 'j'.repeat(40) };
    const production = metricsAccess(loadConfig({ ...env, NODE_ENV: 'production' }));
    expect(production).toEqual({ kind: 'closed' });
    const { base } = await serve(new GatewayMetrics({ processMetrics: false, access: production }));
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect(metricsAccess(loadConfig({ ...env, NODE_ENV: 'development' }))).toEqual({ kind: 'open' });
    expect(metricsAccess(loadConfig({ ...env, NODE_ENV: 'production', METRICS_TOKEN }))).toEqual({ kind: 'token', token: METRICS_TOKEN } satisfies MetricsAccess);
    expect(metricsAccess(loadConfig({ ...env, NODE_ENV: 'production', METRICS_PORT: '9464' }))).toEqual({ kind: 'port', port: 9464 });
  });

  it('validates METRICS_TOKEN and METRICS_PORT', () => {
    const issues = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).issues.map((i) => i.variable);
      }
    };
    expect(issues({ METRICS_TOKEN: 'short' })).toEqual(['METRICS_TOKEN']);
    expect(issues({ METRICS_PORT: 'abc' })).toEqual(['METRICS_PORT']);
    expect(issues({ METRICS_PORT: '4000' })).toEqual(['METRICS_PORT']); // the same as PORT
    expect(issues({ METRICS_PORT: '9464', METRICS_TOKEN })).toEqual([]);
  });
});

describe('names', () => {
  it('the gateway exports conventional names, each once, with no gauge carrying a quantile label', async () => {
    const metrics = new GatewayMetrics();
    metrics.trackSubscriptions(() => 0);
    const { base } = await serve(metrics);
    expect((await post(base, { query: 'query Named { __typename }' })).status).toBe(200);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(conventionProblems(text)).toEqual([]);
    const names = parseExposition(text).map((f) => `${f.name} ${f.type}`);
    expect(names).toEqual(expect.arrayContaining(['gateway_requests_total counter', 'gateway_errors_total counter', 'gateway_request_duration_seconds histogram', 'gateway_subgraph_request_duration_seconds histogram', 'gateway_subscriptions_open gauge']));
  });
});
