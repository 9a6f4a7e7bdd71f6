// Gateway benchmark, one run, same machine and data: the oa subgraph called directly, this gateway (authentication
// and graphql-shield on), and @apollo/gateway (development dependency, used only here) on the same supergraph.
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { SignJWT } from 'jose';
import mongoose from 'mongoose';
import { startEngine } from '../engine/index.ts';
import { createAuthenticator } from '../gateway/auth.ts';
import { oaDirectoryLookup } from '../gateway/directory.ts';
import { applyPermissions } from '../gateway/permissions.ts';
import { createGatewayServer } from '../gateway/server.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../gateway/supergraph.ts';
import { type Principal, identityHeaders } from '../platform/identity.ts';
import { createLogger } from '../platform/logger.ts';
import type { Subgraph } from '../platform/subgraph.ts';
import { DEFAULT_CHART } from '../subgraphs/archive/context.ts';
import { createArchiveSubgraph } from '../subgraphs/archive/index.ts';
import { createOaSubgraph } from '../subgraphs/oa/index.ts';
import { oaModels } from '../subgraphs/oa/models.ts';
import { oaDirectory } from '../subgraphs/oa/organisation.ts';

const SECRET = 'bench-internal-secret-0123456789abcdef0123';
const JWT_SECRET = 'bench-client-jwt-secret-0123456789abcdef01';
/** BENCH_GATEWAY_CLAIMS: fewer claims for a quick look (the figures in the README are with 1,000). */
const CLAIMS = Number(process.env.BENCH_GATEWAY_CLAIMS ?? 1000);
/** The list the load rows fetch; the subgraph-request count goes up to CLAIMS. */
const PAGE = 100;
const CONCURRENCY = 16;
const SECONDS = 4;

const SINGLE = '{ departments { id code name } }';
const LIST = (n: number) => `{ expenseClaims(first: ${n}) { edges { node { claimNo total applicant { name } voucher { voucherNo debitTotal } archiveRecord { archiveNo } } } } }`;

/** `headers`: fixed, or made for the body (an internal identity is signed per request, over its body). */
async function call(url: string, body: unknown, headers: Record<string, string> | ((body: string) => Promise<Record<string, string>>)): Promise<Record<string, unknown>> {
  const payload = JSON.stringify(body);
  const extra = typeof headers === 'function' ? await headers(payload) : headers;
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...extra }, body: payload });
  const json = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  if (json.errors?.length || !json.data) throw new Error(`${url}: ${JSON.stringify(json.errors ?? json).slice(0, 300)}`);
  return json.data;
}

const signed = (p: Principal, audience = 'oa') => (body: string) => identityHeaders(p, SECRET, { audience, method: 'POST', body });

/** Wraps a subgraph's handler to count the requests it receives. */
function countingServer(subgraph: Subgraph<never>, counter: { n: number }): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    counter.n++;
    void subgraph.handle(req, res);
  });
  // Gateways keep connections alive; a server closing them first makes clients race into ECONNRESET.
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, server })));
}

async function load(fn: () => Promise<unknown>): Promise<{ rps: number; p50: number; p99: number }> {
  for (let i = 0; i < 20; i++) await fn();
  const latencies: number[] = [];
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        const t = process.hrtime.bigint();
        await fn();
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / SECONDS, p50: latencies[Math.floor(latencies.length * 0.5)], p99: latencies[Math.floor(latencies.length * 0.99)] };
}

export async function benchGateway(): Promise<void> {
  const engine = await startEngine({ port: 0, dbPath: null });
  const connection = await mongoose.createConnection(engine.uriFor('bench_gateway')).asPromise();
  const logger = createLogger({ level: 'silent' });
  const oa = await createOaSubgraph({ connection, logger, internalSecret: SECRET, production: true, settings: { approvalThresholdFen: 500_000, timeZone: 'Asia/Shanghai' } });
  const archive = await createArchiveSubgraph({
    connection, logger, internalSecret: SECRET, production: true, directory: oaDirectory({ models: oaModels(connection) }),
    settings: { fonds: 'Q001', timeZone: 'Asia/Shanghai', ...DEFAULT_CHART, financeDepartmentId: null, unitHeadId: null, itDepartmentId: null },
  });
  await oa.subgraph.start();
  await archive.subgraph.start();
  const oaCount = { n: 0 };
  const archiveCount = { n: 0 };
  const oaHttp = await countingServer(oa.subgraph as never, oaCount);
  const archiveHttp = await countingServer(archive.subgraph as never, archiveCount);
  const closers: Array<() => Promise<unknown>> = [
    () => new Promise((r) => oaHttp.server.close(r)),
    () => new Promise((r) => archiveHttp.server.close(r)),
  ];
  try {
    // ---- data: an organisation and CLAIMS approved claims with vouchers and archive records ----
    const admin: Principal = { sub: 'admin', roles: ['ADMIN'], departmentId: null, kind: 'user' };
    const sync: Principal = { sub: 'sync-service', roles: [], departmentId: null, kind: 'service' };
    const dept = (await call(oaHttp.url, { query: 'mutation { createDepartment(input: { code: "SALES", name: "Sales" }) { id } }' }, signed(admin))).createDepartment as { id: string };
    const emp = async (no: string, roles: string[]) =>
      ((await call(oaHttp.url, { query: `mutation($i: CreateEmployeeInput!) { createEmployee(input: $i) { id } }`, variables: { i: { employeeNo: no, name: `Employee ${no}`, departmentId: dept.id, roles } } }, signed(admin))).createEmployee as { id: string }).id;
    const [alice, manager, accountant] = [await emp('B1', []), await emp('B2', ['MANAGER']), await emp('B3', ['ACCOUNTANT'])];
    await call(oaHttp.url, { query: 'mutation($d: ID!, $e: ID!) { setDepartmentManager(departmentId: $d, employeeId: $e) { id } }', variables: { d: dept.id, e: manager } }, signed(admin));
    const as = (sub: string, roles: Principal['roles']): Principal => ({ sub, roles, departmentId: dept.id, kind: 'user' });
    for (let i = 0; i < CLAIMS; i++) {
      const c = (await call(oaHttp.url, { query: `mutation { createExpenseClaim(input: { title: "Trip ${i}", category: TRAVEL, items: [{ description: "train", amount: "${i + 1}.00", occurredOn: "2026-11-01" }] }) { id claimNo } }` }, signed(as(alice, ['EMPLOYEE'])))).createExpenseClaim as { id: string; claimNo: string };
      await call(oaHttp.url, { query: 'mutation($id: ID!) { submitExpenseClaim(id: $id) { id } }', variables: { id: c.id } }, signed(as(alice, ['EMPLOYEE'])));
      await call(oaHttp.url, { query: 'mutation($id: ID!) { decideApproval(claimId: $id, decision: APPROVE) { id } }', variables: { id: c.id } }, signed(as(manager, ['MANAGER'])));
      await call(oaHttp.url, { query: 'mutation($id: ID!) { decideApproval(claimId: $id, decision: APPROVE) { id } }', variables: { id: c.id } }, signed(as(accountant, ['ACCOUNTANT'])));
      const v = (await call(archiveHttp.url, { query: 'mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id } }', variables: { c: { claimId: c.id, claimNo: c.claimNo, title: `Trip ${i}`, category: 'TRAVEL', applicantId: alice, departmentId: dept.id, approvedAt: new Date().toISOString(), total: `${i + 1}.00`, items: [{ description: 'train', amount: `${i + 1}.00`, occurredOn: '2026-11-01' }] } } }, signed(sync, 'archive'))).generateVoucher as { id: string };
      await call(archiveHttp.url, { query: 'mutation($v: ID!) { fileVoucher(voucherId: $v) { id } }', variables: { v: v.id } }, signed(sync, 'archive'));
    }

    // ---- this gateway: authentication + shield; and the same without the intake's limits, to price them ----
    const directory = oaDirectoryLookup({ oaUrl: oaHttp.url, internalSecret: SECRET, timeoutMs: 5000 });
    const serve = async (intake: boolean): Promise<string> => {
      const gateway = await createGatewayServer({
        schema: applyPermissions(buildSupergraphSchema({ supergraphSdl: loadSupergraphSdl(), urls: { oa: oaHttp.url, archive: archiveHttp.url }, internalSecret: SECRET, timeoutMs: 10_000 })),
        authenticate: createAuthenticator({ jwtSecret: JWT_SECRET, lookup: directory }),
        directory,
        logger,
        production: true,
        intake,
      });
      const http = createServer((req, res) => void gateway.handle(req, res));
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
      closers.push(() => new Promise((r) => http.close(r)), () => gateway.stop());
      return `http://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
    };
    const oursUrl = await serve(true);
    const bareUrl = await serve(false);
    const token = await new SignJWT({ roles: ['AUDITOR'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('auditor-bench').setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
    const bearer = { authorization: `Bearer ${token}` };

    // ---- @apollo/gateway on the same supergraph (query plans; no shield) ----
    const sdl = loadSupergraphSdl().replace('http://127.0.0.1:4001/graphql', oaHttp.url).replace('http://127.0.0.1:4002/graphql', archiveHttp.url);
    const auditor: Principal = { sub: 'auditor-bench', roles: ['AUDITOR'], departmentId: null, kind: 'user' };
    const apolloGateway = new ApolloGateway({
      supergraphSdl: sdl,
      buildService: ({ name, url }) =>
        new RemoteGraphQLDataSource({
          url,
          // Signed in fetch, over the body actually sent: one identity per subgraph request.
          fetcher: (async (target: string, init: { method?: string; headers?: Record<string, string>; body?: string }) =>
            fetch(target, { ...init, headers: { ...init.headers, ...(await identityHeaders(auditor, SECRET, { audience: name.toLowerCase(), method: init.method ?? 'POST', body: init.body })) } })) as never,
        }),
    });
    const apollo = new ApolloServer({ gateway: apolloGateway, stopOnTerminationSignals: false });
    const { url: apolloUrlBase } = await startStandaloneServer(apollo, { listen: { port: 0, host: '127.0.0.1' } });
    closers.push(() => apollo.stop());
    const apolloUrl = apolloUrlBase;

    // ---- measurements ----
    const rows: Array<[string, string, { rps: number; p50: number; p99: number }]> = [];
    rows.push(['single subgraph field set', 'oa subgraph directly', await load(() => call(oaHttp.url, { query: SINGLE }, signed(auditor)))]);
    rows.push(['single subgraph field set', 'this gateway (auth + shield)', await load(() => call(oursUrl, { query: SINGLE }, bearer))]);
    rows.push(['single subgraph field set', '@apollo/gateway', await load(() => call(apolloUrl, { query: SINGLE }, {}))]);
    // The intake priced: the same single-subgraph query through the gateway with it and without it, one client,
    // the two interleaved request by request (A, B, B, A, …) so that the machine's drift falls on both alike.
    const PAIRS = 1500;
    const timed = async (url: string) => {
      const t = process.hrtime.bigint();
      await call(url, { query: SINGLE }, bearer);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    for (let i = 0; i < 100; i++) await Promise.all([timed(oursUrl), timed(bareUrl)]);
    const withIntake: number[] = [];
    const withoutIntake: number[] = [];
    for (let i = 0; i < PAIRS; i++) {
      if (i % 2 === 0) {
        withIntake.push(await timed(oursUrl));
        withoutIntake.push(await timed(bareUrl));
      } else {
        withoutIntake.push(await timed(bareUrl));
        withIntake.push(await timed(oursUrl));
      }
    }
    const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)];
    const noIntake = await load(() => call(bareUrl, { query: SINGLE }, bearer));
    rows.push(['single subgraph field set', 'this gateway, intake limits off', noIntake]);
    rows.push([`${PAGE} claims + applicant, voucher, record`, 'this gateway (auth + shield)', await load(() => call(oursUrl, { query: LIST(PAGE) }, bearer))]);
    rows.push([`${PAGE} claims + applicant, voucher, record`, '@apollo/gateway', await load(() => call(apolloUrl, { query: LIST(PAGE) }, {}))]);
    const intakeRatio = pct(withIntake, 0.5) / pct(withoutIntake, 0.5);

    const subgraphCalls = async (n: number) => {
      oaCount.n = 0;
      archiveCount.n = 0;
      await call(oursUrl, { query: LIST(n) }, bearer);
      return oaCount.n + archiveCount.n;
    };
    const counts = [10, 100, CLAIMS].map((n) => [n, 0]);
    await subgraphCalls(10); // warm the directory cache
    for (const c of counts) c[1] = await subgraphCalls(c[0]);

    console.log(`\n## Gateway (${CONCURRENCY} concurrent clients, ${SECONDS} s per row, ${CLAIMS} approved claims in the database)`);
    console.log('| operation | target | requests/s | p50 | p99 |');
    console.log('|---|---|---|---|---|');
    for (const [op, target, r] of rows) console.log(`| ${op} | ${target} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms |`);
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    console.log(`\nthis gateway / @apollo/gateway, requests/s: single ${ratio(rows[1][2].rps, rows[2][2].rps)}x, list ${ratio(rows[4][2].rps, rows[5][2].rps)}x (target on the list: >= 2x) ${rows[4][2].rps / rows[5][2].rps >= 2 ? 'OK' : 'BELOW TARGET'}`);
    console.log(`intake (body, token and operation limits) on / off, single subgraph field set, one client, ${PAIRS} interleaved pairs: p50 ${pct(withIntake, 0.5).toFixed(2)} / ${pct(withoutIntake, 0.5).toFixed(2)} ms = ${intakeRatio.toFixed(3)}x, p90 ${pct(withIntake, 0.9).toFixed(2)} / ${pct(withoutIntake, 0.9).toFixed(2)} ms ${intakeRatio <= 1.05 ? '(no measurable cost: within 5%)' : '(COSTS MORE THAN 5%)'}
`.trimEnd());
    console.log(`this gateway / oa subgraph directly, single field set: ${ratio(rows[1][2].rps, rows[0][2].rps)}x`);
    console.log(`subgraph requests per list operation (first: ${counts.map((c) => c[0]).join(', ')}): ${counts.map((c) => c[1]).join(', ')} ${new Set(counts.map((c) => c[1])).size === 1 ? '(constant)' : '(NOT constant)'}`);
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
    await oa.subgraph.apollo.stop().catch(() => {});
    await archive.subgraph.apollo.stop().catch(() => {});
    await connection.close();
    await engine.close();
  }
}
