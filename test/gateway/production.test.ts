// Issue 14: what production tells a caller and what it writes to the log, on every transport (HTTP /graphql,
// graphql-ws on /graphql, SSE on /graphql/stream): no "Did you mean …?" suggestions, no operation variables in the
// log when a subgraph call fails, `sub` values and token lifetimes refused at authentication (401 / 4401), and no
// mutation over GET. A development gateway on the same subgraphs shows that the probes do draw suggestions there.
// Issue 15: introspection (the standard query GraphiQL and codegen send) works in development on every transport,
// and is refused in production.
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { type IntrospectionQuery, buildClientSchema, getIntrospectionQuery } from 'graphql';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, createGateway } from '../../gateway/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { variableFieldOf } from '../../platform/apollo-http.ts';
import { LocalEventBus } from '../../platform/integration/event-bus.ts';
import { createLogger } from '../../platform/logger.ts';
import { wsSubscribe } from '../helpers/subscribers.ts';
import { SECRET } from '../oa/fixture.ts';
import type { Org } from '../oa/seed.ts';
import { JWT_SECRET, type Stack, seed, startStack } from '../sync/stack.ts';

/** Text a failing createExpenseClaim carries in its variables; none of it may reach the log. */
const TITLE = 'Zebra-Confidential-Trip-4711';
const AMOUNT = '7777.31';
const INVOICE = 'INV-SECRET-0042';
const CREATE = `mutation Create($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) { id } }`;

let stack: Stack;
let org: Org;
let proxy: Server;
let prod: { gateway: Gateway; server: Server; base: string };
const logLines: string[] = [];

/** Forwards to the oa subgraph, except createExpenseClaim, answered with 502 and no GraphQL (a failing subgraph). */
function failingOaProxy(oaUrl: string): Server {
  const target = new URL(oaUrl);
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.includes('createExpenseClaim')) return void res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway');
      const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
}

beforeAll(async () => {
  stack = await startStack({ label: 'gateway_production' });
  org = await seed(stack);
  proxy = failingOaProxy(stack.oaUrl);
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  // Production settings on the test stack's secrets (loadConfig refuses NODE_ENV=production without real ones).
  const config = { ...loadConfig({ NODE_ENV: 'test', JWT_SECRET, INTERNAL_SECRET: SECRET, LOG_LEVEL: 'info', JWT_MAX_TTL: '2h' }), nodeEnv: 'production' as const };
  const destination = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: 'info' }, { destination });
  const oa = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/graphql`;
  const gateway = await createGateway(config, logger, { oa, archive: stack.archiveUrl, sync: stack.sync.url }, { bus: new LocalEventBus() });
  const server = createServer((req, res) => void gateway.handle(req, res).then((handled) => handled || res.writeHead(404).end()));
  gateway.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  prod = { gateway, server, base: `127.0.0.1:${(server.address() as AddressInfo).port}` };
});

afterAll(async () => {
  if (prod) {
    await prod.gateway.stop();
    prod.server.closeAllConnections();
    await new Promise<void>((r) => prod.server.close(() => r()));
  }
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  await stack?.close();
});

const devBase = () => new URL(stack.gateways[0].url).host;

const sign = (claims: Record<string, unknown>, exp: number) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(new TextEncoder().encode(JWT_SECRET));
const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;

async function http(base: string, token: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

/** An operation POSTed to /graphql/stream; the whole answer as text (JSON for a refusal, events otherwise). */
async function sse(base: string, token: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${base}/graphql/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/** An operation over graphql-ws: every message text the socket delivered (errors or results). */
async function ws(base: string, token: string, body: { query: string; variables?: Record<string, unknown> }): Promise<string> {
  const r = wsSubscribe(`ws://${base}/graphql`, { authorization: `Bearer ${token}` }, body.query, body.variables);
  await r.until((x) => x.completed || x.closed !== undefined);
  await r.dispose();
  return JSON.stringify({ results: r.results, error: r.error instanceof Error ? r.error.message : r.error });
}

/** Misspelt names, each drawing a suggestion from graphql-js: validation (field, argument, enum literal) and variable coercion. */
const PROBES = [
  { what: 'field', body: { query: '{ departmnts { id } }' }, says: 'Cannot query field \\"departmnts\\" on type \\"Query\\".', plainly: 'Cannot query field \\"departmnts\\" here.', suggestion: 'Did you mean \\"departments\\"?' },
  { what: 'argument', body: { query: '{ expenseClaims(firts: 1) { totalCount } }' }, says: 'Unknown argument \\"firts\\" on field \\"Query.expenseClaims\\".', plainly: 'Unknown argument \\"firts\\" on field \\"expenseClaims\\".', suggestion: 'Did you mean \\"first\\" or \\"filter\\"?' },
  { what: 'enum value', body: { query: '{ expenseClaims(status: SUBMITED) { totalCount } }' }, says: 'Value \\"SUBMITED\\" does not exist in \\"ClaimStatus\\" enum.', plainly: 'Value \\"SUBMITED\\" is not one of the allowed values.', suggestion: 'Did you mean the enum value \\"SUBMITTED\\"?' },
  {
    what: 'enum value in a variable',
    // The variable's own type is the caller's; the enum named inside the message is not repeated.
    body: { query: 'query Q($s: ClaimStatus) { expenseClaims(status: $s) { totalCount } }', variables: { s: 'SUBMITED' } },
    says: 'Value \\"SUBMITED\\" does not exist in \\"ClaimStatus\\" enum.',
    plainly: 'Value \\"SUBMITED\\" is not one of the allowed values.',
    suggestion: 'Did you mean the enum value \\"SUBMITTED\\"?',
  },
] as const;

const TRANSPORTS = {
  http: async (base: string, token: string, body: { query: string; variables?: Record<string, unknown> }) => (await http(base, token, body)).text,
  'graphql-ws': ws,
  sse: async (base: string, token: string, body: { query: string; variables?: Record<string, unknown> }) => (await sse(base, token, body)).text,
};

describe('no "Did you mean …?" in production', () => {
  for (const [transport, send] of Object.entries(TRANSPORTS)) {
    it(`over ${transport}: misspelt field, argument and enum value are refused without suggestions`, async () => {
      const token = await stack.token(org.ids.alice);
      for (const probe of PROBES) {
        const production = await send(prod.base, token, probe.body);
        expect(production, `${probe.what} in production`).toContain(probe.plainly);
        expect(production, `${probe.what} in production`).not.toMatch(/did you mean/i);
        // Nor the schema's type names the caller did not write.
        if (!('variables' in probe.body)) expect(production, `${probe.what} in production`).not.toMatch(/\\"(Query|ClaimStatus)\\"|Query\./);
        // The same probe in development does suggest: the check above is not vacuous.
        const development = await send(devBase(), token, probe.body);
        expect(development, `${probe.what} in development`).toContain(`${probe.says} ${probe.suggestion}`);
      }
    });
  }

  it('over graphql-ws: a subscription with a misspelt enum variable ends without a suggestion', async () => {
    const token = await stack.token(org.ids.alice);
    const body = { query: 'subscription S($t: [SyncEventType!]) { syncEvents(types: $t) { seq } }', variables: { t: ['CLAIM_APPROVD'] } };
    const production = await ws(prod.base, token, body);
    expect(production).toContain('Value \\"CLAIM_APPROVD\\" is not one of the allowed values.');
    expect(production).not.toContain('SyncEventType');
    expect(production).not.toMatch(/did you mean/i);
    expect(await ws(devBase(), token, body)).toContain('Did you mean the enum value \\"CLAIM_APPROVED\\"?');
  });
});

describe('introspection', () => {
  // graphql 16's standard query with every option GraphiQL and codegen may ask for: 13 to 15 levels deep.
  const STANDARD = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true });
  /** The one result of a query over each transport, parsed. */
  const resultOf = async (transport: keyof typeof TRANSPORTS, base: string, token: string, query: string) => {
    type Result = { data?: unknown; errors?: { message: string }[] };
    const text = await TRANSPORTS[transport](base, token, { query });
    // A refused operation: graphql-ws closes the subscription with the errors, SSE answers them as JSON.
    if (transport === 'graphql-ws') {
      const { results, error } = JSON.parse(text) as { results: Result[]; error?: { message: string }[] };
      return results[0] ?? { errors: error };
    }
    if (transport === 'sse' && text.startsWith('{')) return JSON.parse(text) as Result;
    if (transport === 'sse') return JSON.parse(/^data: (.*)$/m.exec(text)![1]) as Result;
    return JSON.parse(text) as Result;
  };

  for (const transport of Object.keys(TRANSPORTS) as (keyof typeof TRANSPORTS)[]) {
    it(`over ${transport}: the standard query answers in development, building the client schema; production refuses it`, async () => {
      const token = await stack.token(org.ids.alice);
      const dev = await resultOf(transport, devBase(), token, STANDARD);
      expect(dev.errors).toBeUndefined();
      const schema = buildClientSchema(dev.data as IntrospectionQuery);
      expect(Object.keys(schema.getQueryType()!.getFields())).toEqual(expect.arrayContaining(['me', 'expenseClaims', 'archiveRecords']));
      expect(schema.getSubscriptionType()?.getFields().syncEvents).toBeDefined();
      // Federation's plumbing is not the client's.
      expect(Object.keys(schema.getTypeMap()).filter((t) => t.startsWith('join__') || t.startsWith('link__'))).toEqual([]);

      // One error, in the same words on every transport, and nothing of the schema.
      const prodAnswer = await resultOf(transport, prod.base, token, STANDARD);
      expect(prodAnswer.data ?? null).toBeNull();
      expect(prodAnswer.errors?.map((e) => e.message)).toEqual(['Introspection is off in production']);
    });
  }

  it('in development: lists nested through introspection beyond graphql\'s limit, and deep ordinary queries, are still refused', async () => {
    const token = await stack.token(org.ids.alice);
    const circular = '{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }';
    for (const transport of Object.keys(TRANSPORTS) as (keyof typeof TRANSPORTS)[]) {
      expect((await resultOf(transport, devBase(), token, circular)).errors?.[0].message, transport).toBe('Maximum introspection depth exceeded');
    }
    const deep = '{ expenseClaims { edges { node { applicant { department { manager { department { manager { department { manager { department { manager { id } } } } } } } } } } } } }';
    expect((await resultOf('http', devBase(), token, deep)).errors?.[0].message).toBe('The operation is 13 levels deep; at most 12 are allowed');
  });
});

describe('a refused variable names where it is wrong', () => {
  const CREATE_WITH = 'mutation Create($c: CreateExpenseClaimInput!) { createExpenseClaim(input: $c) { id } }';
  const badItem = (amount: string) => ({ c: { title: 't', category: 'TRAVEL', items: [{ description: 'x', amount, occurredOn: '2026-01-01', invoiceNo: 'INV-FIELD-1' }] } });
  for (const [transport, send] of Object.entries(TRANSPORTS)) {
    it(`over ${transport}: refused at the gateway before any call, naming the caller's variable and its path`, async () => {
      const token = await stack.token(org.ids.alice);
      // Production's oa answers createExpenseClaim with 502 (failingOaProxy): a refusal there was never sent.
      for (const base of [devBase(), prod.base]) {
        const text = await send(base, token, { query: CREATE_WITH, variables: badItem('1.234') });
        expect(text).toContain('Variable \\"$c\\" got invalid value \\"1.234\\" at \\"c.items[0].amount\\"');
        expect(text).toContain('is not a Money amount');
        expect(text).toContain('"field":"c.items[0].amount"');
        expect(text).not.toContain('$input');
        // A Date the calendar does not have, too.
        const date = await send(base, token, { query: CREATE_WITH, variables: { c: { ...badItem('1.00').c, items: [{ ...badItem('1.00').c.items[0], occurredOn: '2026-02-30' }] } } });
        expect(date).toContain('"field":"c.items[0].occurredOn"');
      }
    });
  }

  for (const [transport, send] of Object.entries(TRANSPORTS)) {
    it(`over ${transport}: a literal of the wrong shape is named by its argument path too`, async () => {
      const token = await stack.token(org.ids.alice);
      const literal = 'mutation { createExpenseClaim(input: { title: "t", category: TRAVEL, items: [{ description: "x", amount: "1.00", occurredOn: "2026-01-01" }, { description: "y", amount: "1.234", occurredOn: "2026-01-01" }] }) { id } }';
      for (const base of [devBase(), prod.base]) {
        const text = await send(base, token, { query: literal });
        expect(text).toContain('"field":"input.items[1].amount"');
        expect(text).toContain('is not a Money amount');
        const missing = await send(base, token, { query: 'mutation { createExpenseClaim(input: { title: "t", items: [] }) { id } }' });
        expect(missing).toContain('"field":"input"');
      }
    });
  }

  it('reads the path from graphql-js\'s words, whatever the refused value holds', () => {
    expect(variableFieldOf('Variable "$c" got invalid value "1.234" at "c.items[0].amount"; "1.234" is not a Money amount')).toBe('c.items[0].amount');
    // A value that imitates the wording does not move the path.
    expect(variableFieldOf('Variable "$c" got invalid value "x\\" at \\"evil\\"; " at "c.title"; bad')).toBe('c.title');
    expect(variableFieldOf('Variable "$id" of required type "ID!" was not provided.')).toBe('id');
    expect(variableFieldOf('Cannot query field "x" here.')).toBeUndefined();
  });
});

describe('logs without variables', () => {
  it('a failed subgraph call is logged with its code and path, never the operation variables (HTTP and graphql-ws)', async () => {
    const token = await stack.token(org.ids.alice);
    const variables = { input: { title: TITLE, category: 'TRAVEL', items: [{ description: 'taxi', amount: AMOUNT, occurredOn: '2026-11-01', invoiceNo: INVOICE }] } };
    const before = logLines.length;
    const overHttp = await http(prod.base, token, { query: CREATE, variables });
    expect(overHttp.text).toContain('INTERNAL_SERVER_ERROR');
    expect(await ws(prod.base, token, { query: CREATE, variables })).toContain('INTERNAL_SERVER_ERROR');
    // The WebSocket's error is logged as the answer leaves: wait for the line, not for a time.
    for (const deadline = Date.now() + 10_000; !logLines.slice(before).join('').includes('unexpected error over a subscription transport') && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    const logged = logLines.slice(before).join('');
    expect(logged).toContain('unexpected error at the gateway');
    expect(logged).toContain('unexpected error over a subscription transport');
    expect(logged).toContain('createExpenseClaim');
    for (const secret of [TITLE, AMOUNT, INVOICE, 'taxi']) expect(logged).not.toContain(secret);
    // What stays: the error's code and the answer's HTTP status.
    expect(logged).toContain('"code":"RESPONSE_VALIDATION_FAILED"');
    expect(logged).toContain('"response":{"status":502}');
  });
});

describe('authentication: sub and token lifetime', () => {
  const subjects: unknown[] = [123, '', 'a\u0001b', ' padded', 'x'.repeat(129)];

  it('a token whose sub is a number, empty, or holds a control character is refused: 401 over HTTP and SSE, 4401 over graphql-ws', async () => {
    for (const sub of subjects) {
      const token = await sign({ sub, roles: [] }, inSeconds(300));
      const overHttp = await http(prod.base, token, { query: '{ me { id } }' });
      expect(overHttp.status, JSON.stringify(sub)).toBe(401);
      expect(overHttp.text).toContain('UNAUTHENTICATED');
      expect((await sse(prod.base, token, { query: '{ me { id } }' })).status, JSON.stringify(sub)).toBe(401);
      const r = wsSubscribe(`ws://${prod.base}/graphql`, { authorization: `Bearer ${token}` }, '{ me { id } }');
      await r.until((x) => x.closed !== undefined);
      expect(r.closed?.code, JSON.stringify(sub)).toBe(4401);
      expect(r.results).toEqual([]);
      await r.dispose();
    }
  });

  it('a token valid for 100 years is refused; one within JWT_MAX_TTL (default 24 h, here 2 h) is accepted', async () => {
    const sub = org.ids.alice;
    const century = await sign({ sub }, inSeconds(100 * 365 * 86_400));
    for (const base of [prod.base, devBase()]) {
      const refused = await http(base, century, { query: '{ me { id } }' });
      expect(refused.status).toBe(401);
      expect(refused.text).toContain('JWT_MAX_TTL');
    }
    const r = wsSubscribe(`ws://${prod.base}/graphql`, { authorization: `Bearer ${century}` }, '{ me { id } }');
    await r.until((x) => x.closed !== undefined);
    expect(r.closed?.code).toBe(4401);
    await r.dispose();

    // Development keeps the default of 24 h: 23 h passes, 25 h does not.
    expect((await http(devBase(), await sign({ sub }, inSeconds(23 * 3600)), { query: '{ me { id } }' })).text).toContain(sub);
    expect((await http(devBase(), await sign({ sub }, inSeconds(25 * 3600)), { query: '{ me { id } }' })).status).toBe(401);
    // Production was configured with JWT_MAX_TTL=2h: 3 h is refused, 90 min accepted; a token issued 3 h before it
    // expires is refused even though it has only 1 h left.
    expect((await http(prod.base, await sign({ sub }, inSeconds(3 * 3600)), { query: '{ me { id } }' })).status).toBe(401);
    expect((await http(prod.base, await sign({ sub }, inSeconds(90 * 60)), { query: '{ me { id } }' })).text).toContain(sub);
    const longIssued = await sign({ sub, iat: inSeconds(-2 * 3600) }, inSeconds(3600));
    expect((await http(prod.base, longIssued, { query: '{ me { id } }' })).status).toBe(401);
  });
});

describe('GET never runs a mutation', () => {
  const mutation = `mutation { createExpenseClaim(input: { title: "Sent over GET", category: TRAVEL, items: [{ description: "x", amount: "1.00", occurredOn: "2026-11-01" }] }) { id } }`;
  const claims = async (token: string) =>
    ((await stack.gql<{ expenseClaims: { totalCount: number } }>(token, '{ expenseClaims { totalCount } }')).data?.expenseClaims.totalCount ?? -1);

  it('GET /graphql/stream and GET /graphql with a mutation are refused with 405, and nothing is written', async () => {
    const token = await stack.token(org.ids.alice);
    const before = await claims(token);
    expect(before).toBeGreaterThanOrEqual(0);
    for (const base of [prod.base, devBase()]) {
      const stream = await fetch(`http://${base}/graphql/stream?query=${encodeURIComponent(mutation)}`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` } });
      expect(stream.status).toBe(405);
      expect(stream.headers.get('allow')).toBe('POST');
      const body = (await stream.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0]).toEqual({ message: 'Mutations are not run over GET; send them with POST', extensions: { code: 'BAD_REQUEST' } });

      const plain = await fetch(`http://${base}/graphql?query=${encodeURIComponent(mutation)}`, { headers: { accept: 'application/json', 'apollo-require-preflight': 'true', authorization: `Bearer ${token}` } });
      expect(plain.status).toBe(405);
      expect(await plain.text()).toMatch(/mutation/i);
    }
    expect(await claims(token)).toBe(before);
    // A query over GET on the stream still runs.
    const query = await fetch(`http://${prod.base}/graphql/stream?query=${encodeURIComponent('{ me { id } }')}`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` } });
    expect(query.status).toBe(200);
    expect(await query.text()).toContain(org.ids.alice);
  });
});
