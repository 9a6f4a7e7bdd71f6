// Issue 16 §3, "done when": one trace holds spans of the gateway, the oa and archive subgraphs, the sync job and the
// webhook delivery an approval causes, collected by an OTLP/HTTP receiver started here; the webhook request carries
// that trace's traceparent, log lines carry its id, and error answers quote it (extensions.traceId).
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, logProcessWarnings } from '../../platform/logger.ts';
import { type Tracing, startTracing } from '../../platform/tracing.ts';
import { until } from '../helpers/wait.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, item, type Org } from '../oa/seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';

interface CollectedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
}

/** OTLP/JSON ids are hex; a protobuf-style base64 id is turned into hex all the same. */
const hex = (id: unknown): string => (typeof id !== 'string' || id === '' ? '' : /^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex'));

const spans: CollectedSpan[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('json')) return void res.writeHead(415).end();
    const request = JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
    for (const rs of request.resourceSpans) {
      const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) spans.push({ service, traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId), name: String(s.name), kind: Number(s.kind) });
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});

const deliveries: { headers: IncomingMessage['headers']; body: string }[] = [];
const hooks = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    deliveries.push({ headers: req.headers, body });
    res.writeHead(204).end();
  });
});

const logLines: Array<Record<string, unknown>> = [];
const logs = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line.startsWith('{')) logLines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});

let tracing: Tracing;
let stack: Stack;
let org: Org;

/** A client's own trace context, as a W3C client (or a browser's tracer) would send it. */
const clientTrace = () => {
  const ids = randomBytes(24).toString('hex');
  return { traceId: ids.slice(0, 32), spanId: ids.slice(32), traceparent: `00-${ids.slice(0, 32)}-${ids.slice(32)}-01` };
};

async function post<T>(token: string | null, traceparent: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(stack.gateways[0].url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...((await res.json()) as { data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }) };
}

const inTrace = (traceId: string) => spans.filter((s) => s.traceId === traceId);
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

beforeAll(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  // The standard variables, as an operator sets them; this test's process is the whole stack.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
  process.env.OTEL_BSP_SCHEDULE_DELAY = '200';
  tracing = await startTracing();
  expect(tracing.enabled).toBe(true);
  stack = await startStack({ label: 'tracing', logger: createLogger({ level: 'info' }, { destination: logs }) });
  org = await seed(stack);
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await tracing?.shutdown();
  receiver.close();
  hooks.close();
});

describe('tracing across the federation', () => {
  it('follows an approval from the gateway through oa, the sync job and the archive to its webhook delivery', async () => {
    const admin = await stack.token('ops-admin', ['ADMIN']);
    const registration = clientTrace();
    const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hooks/traced`;
    const registered = await post(admin, registration.traceparent, `mutation($url: String!, $types: [SyncEventType!]!, $secret: String!) { registerWebhook(url: $url, types: $types, secret: $secret) { id } }`, {
      url: hookUrl,
      types: ['CLAIM_APPROVED', 'ARCHIVE_FILED'],
      secret: 'receiver-shared-secret-0123456789',
    });
    expect(registered.errors).toBeUndefined();
    // The sync subgraph's log line of that request carries the client's trace id.
    const line = logLines.find((l) => l.msg === 'webhook registered');
    expect(line).toMatchObject({ trace_id: registration.traceId, trace_flags: '01' });
    expect(String(line!.span_id)).toMatch(/^[0-9a-f]{16}$/);

    const alice = await stack.token(org.ids.alice);
    const manager = await stack.token(org.ids.salesManager);
    const accountant = await stack.token(org.ids.accountant);
    const created = await stack.gql<{ createExpenseClaim: { id: string } }>(alice, CREATE_CLAIM, { input: { title: 'Traced taxi', category: 'TRAVEL', items: [item('88.00', 'INV-TRACE-1')] } });
    const claimId = created.data!.createExpenseClaim.id;
    expect((await stack.gql(alice, SUBMIT, { id: claimId })).errors).toBeUndefined();
    expect((await stack.gql(manager, DECIDE, { id: claimId, d: 'APPROVE' })).errors).toBeUndefined();
    // The approval that completes the route, in the client's trace.
    const approval = clientTrace();
    const decided = await post<{ decideApproval: { status: string } }>(accountant, approval.traceparent, DECIDE, { id: claimId, d: 'APPROVE' });
    expect(decided.data?.decideApproval.status).toBe('APPROVED');

    const approvedBody = (d: { body: string }) => (JSON.parse(d.body) as { type: string; event: { claimId: string } }).type === 'CLAIM_APPROVED';
    await until(() => deliveries.some(approvedBody) && deliveries.length >= 2, 'the CLAIM_APPROVED and ARCHIVE_FILED deliveries');
    const want = (s: CollectedSpan[]) =>
      ['gateway', 'oa', 'archive'].every((service) => s.some((x) => x.service === service && x.kind === SERVER)) && s.filter((x) => x.name === 'webhook delivery').length >= 2 && s.some((x) => x.name === 'sync job');
    await until(async () => (await tracing.forceFlush(), want(inTrace(approval.traceId))), 'the approval trace at the OTLP receiver');

    const trace = inTrace(approval.traceId);
    const one = (pred: (s: CollectedSpan) => boolean, what: string) => {
      const found = trace.filter(pred);
      expect(found, what).toHaveLength(1);
      return found[0];
    };
    // gateway: the request continues the client's span; its calls to oa (the directory's look-up of the caller, the
    // mutation) are children of the request, and each oa request span a child of its call.
    const gatewayServer = one((s) => s.service === 'gateway' && s.kind === SERVER, 'the gateway request span');
    expect(gatewayServer.parentSpanId).toBe(approval.spanId);
    const toOa = trace.filter((s) => s.service === 'gateway' && s.kind === CLIENT && s.name === 'POST oa');
    expect(toOa.length).toBeGreaterThanOrEqual(1);
    for (const call of toOa) expect(call.parentSpanId).toBe(gatewayServer.spanId);
    const oaServers = trace.filter((s) => s.service === 'oa' && s.kind === SERVER);
    expect(oaServers.map((s) => s.parentSpanId).sort()).toEqual(toOa.map((s) => s.spanId).sort());
    // sync: the job continues the approval's trace (the traceparent stored with its CLAIM_APPROVED event), under the
    // oa request that approved.
    const job = one((s) => s.service === 'sync' && s.name === 'sync job', 'the sync job span');
    expect(job.kind).toBe(CONSUMER);
    const oaServer = one((s) => s.service === 'oa' && s.kind === SERVER && s.spanId === job.parentSpanId, 'the approving oa request');
    const toArchive = trace.filter((s) => s.service === 'sync' && s.kind === CLIENT && s.name === 'POST archive');
    expect(toArchive.length).toBeGreaterThanOrEqual(2); // generateVoucher, fileVoucher
    for (const call of toArchive) expect(call.parentSpanId).toBe(job.spanId);
    const archiveServers = trace.filter((s) => s.service === 'archive' && s.kind === SERVER);
    expect(archiveServers.map((s) => s.parentSpanId).sort()).toEqual(toArchive.map((s) => s.spanId).sort());
    // The webhook deliveries: CLAIM_APPROVED under the oa request that appended it, ARCHIVE_FILED under the archive's.
    const deliverySpans = trace.filter((s) => s.name === 'webhook delivery');
    for (const d of deliverySpans) expect(d).toMatchObject({ service: 'sync', kind: PRODUCER });
    expect(deliverySpans.map((d) => d.parentSpanId)).toContain(oaServer.spanId);
    expect(archiveServers.map((s) => s.spanId)).toContain(deliverySpans.find((d) => d.parentSpanId !== oaServer.spanId)?.parentSpanId);
    // The receiver got the delivery span's traceparent, in this very trace.
    const approvedDelivery = deliveries.find(approvedBody)!;
    const header = String(approvedDelivery.headers.traceparent);
    expect(header).toMatch(new RegExp(`^00-${approval.traceId}-[0-9a-f]{16}-01$`));
    expect(deliverySpans.map((d) => d.spanId)).toContain(header.split('-')[2]);
    // Every part's spans are there, told apart by service.name.
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['gateway', 'oa', 'sync', 'archive']));
  });

  it('traces a query that joins two subgraphs, and quotes the trace id in error answers', async () => {
    const accountant = await stack.token(org.ids.accountant);
    const claims = await stack.gql<{ expenseClaims: { edges: Array<{ node: { id: string } }> } }>(accountant, '{ expenseClaims(first: 1) { edges { node { id } } } }');
    const id = claims.data!.expenseClaims.edges[0].node.id;
    const query = clientTrace();
    const joined = await post<{ expenseClaim: { claimNo: string; voucher: { voucherNo: string } | null; archiveRecord: { archiveNo: string } | null } }>(
      accountant,
      query.traceparent,
      `query Joined($id: ID!) { expenseClaim(id: $id) { claimNo voucher { voucherNo } archiveRecord { archiveNo } } }`,
      { id },
    );
    expect(joined.errors).toBeUndefined();
    expect(joined.data!.expenseClaim.voucher?.voucherNo).toBeTruthy();
    await until(async () => (await tracing.forceFlush(), ['oa', 'archive'].every((svc) => inTrace(query.traceId).some((s) => s.service === svc && s.kind === SERVER))), 'the joined query trace');
    const trace = inTrace(query.traceId);
    const gatewayServer = trace.find((s) => s.service === 'gateway' && s.kind === SERVER)!;
    expect(gatewayServer.parentSpanId).toBe(query.spanId);
    for (const svc of ['oa', 'archive']) {
      const call = trace.find((s) => s.service === 'gateway' && s.kind === CLIENT && s.name === `POST ${svc}`)!;
      expect(call.parentSpanId).toBe(gatewayServer.spanId);
      expect(trace.find((s) => s.service === svc && s.kind === SERVER)!.parentSpanId).toBe(call.spanId);
    }

    // A GraphQL error names the request's trace; so does a JSON refusal before any GraphQL runs.
    const invalid = clientTrace();
    const refused = await post(accountant, invalid.traceparent, '{ expenseClaim(id: "x") { nope } }');
    expect(refused.status).toBe(400);
    expect(refused.errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', traceId: invalid.traceId });
    const anonymous = clientTrace();
    const unauthenticated = await post(null, anonymous.traceparent, '{ expenseClaims(first: 1) { edges { node { id } } } }');
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.errors![0].extensions).toEqual({ code: 'UNAUTHENTICATED', traceId: anonymous.traceId });
    // Without a traceparent, the gateway starts a trace of its own and still quotes it.
    const res = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    const body = (await res.json()) as { errors: Array<{ extensions: { traceId?: string } }> };
    expect(body.errors[0].extensions.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('one log format', () => {
  it("logs Node's process warnings as structured lines, not as text on stderr", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => (stderr.push(String(chunk)), write(chunk, ...(rest as [])))) as typeof process.stderr.write;
    try {
      logProcessWarnings(createLogger({ level: 'info' }, { destination }));
      process.emitWarning('Possible EventEmitter memory leak detected. 11 x listeners added', { type: 'MaxListenersExceededWarning', code: 'TEST_WARNING' });
      await until(() => lines.length > 0, 'the warning line');
    } finally {
      process.stderr.write = write;
    }
    expect(lines[0]).toMatchObject({ level: 40, msg: 'process warning', warning: { name: 'MaxListenersExceededWarning', code: 'TEST_WARNING', message: 'Possible EventEmitter memory leak detected. 11 x listeners added' } });
    expect(stderr.join('')).not.toContain('MaxListenersExceededWarning');
  });
});
