// The whole integration in this process, wired as `npm start` wires it in production (NODE_ENV=production
// configuration, scripts/*-options.ts): the embedded engine (in memory), the oa, archive and sync subgraphs on
// loopback ports, the sync pipeline and webhooks, one in-process event bus, and the gateway serving HTTP and
// graphql-ws. Only for the sync benchmark; tests have their own stack (test/sync/stack.ts).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import mongoose, { type Connection } from 'mongoose';
import { type RunningEngine, startEngine } from '../engine/index.ts';
import { type Gateway, createGateway } from '../gateway/index.ts';
import { loadConfig } from '../platform/config.ts';
import { LocalEventBus } from '../platform/integration/event-bus.ts';
import { type Principal, type Role, identityHeaders } from '../platform/identity.ts';
import { createLogger } from '../platform/logger.ts';
import type { RunningSubgraph } from '../platform/subgraph.ts';
import { archiveOptions } from '../scripts/archive-options.ts';
import { syncOptions } from '../scripts/sync-options.ts';
import { createArchiveSubgraph } from '../subgraphs/archive/index.ts';
import { createOaSubgraph } from '../subgraphs/oa/index.ts';
import { type RunningSync, startSyncSubgraph } from '../subgraphs/sync-service.ts';

const SECRET = 'bench-sync-internal-secret-0123456789abcdef';
const JWT_SECRET = 'bench-sync-client-jwt-secret-0123456789abcdef';

export interface BenchStack {
  connection: Connection;
  oaUrl: string;
  sync: RunningSync;
  bus: LocalEventBus;
  gateway: Gateway;
  /** POST /graphql on the gateway. */
  url: string;
  /** graphql-ws on the gateway. */
  wsUrl: string;
  /** A signed call to the oa subgraph, as the gateway makes it (throws on errors). */
  oa<T = Record<string, unknown>>(who: Principal, query: string, variables?: Record<string, unknown>): Promise<T>;
  /** A call through the gateway with a client token (throws on errors). */
  gql<T = Record<string, unknown>>(token: string, query: string, variables?: Record<string, unknown>): Promise<T>;
  token(sub: string, roles: Role[]): Promise<string>;
  /** WriteConflicts so far (each aborts a transaction that the driver then runs again). */
  writeConflicts(): number;
  close(): Promise<void>;
}

/** `headers`: fixed, or made for the body (an internal identity is signed per request, over its body). */
async function post<T>(url: string, headers: Record<string, string> | ((body: string) => Promise<Record<string, string>>), query: string, variables?: Record<string, unknown>): Promise<T> {
  const payload = JSON.stringify({ query, variables });
  const extra = typeof headers === 'function' ? await headers(payload) : headers;
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...extra }, body: payload });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`${url}: ${JSON.stringify(body.errors ?? body).slice(0, 300)}`);
  return body.data;
}

export async function startBenchStack(): Promise<BenchStack> {
  // Production requires a seal key outside the database: a fresh Ed25519 key and seal directory for this run.
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-sync-'));
  const keyFile = path.join(dir, 'seal.pem');
  await writeFile(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET, INTERNAL_SECRET: SECRET, LOG_LEVEL: 'silent', DATA_DIR: dir, ARCHIVE_SEAL_PRIVATE_KEY_FILE: keyFile });
  const logger = createLogger({ level: (process.env.BENCH_LOG_LEVEL as 'silent' | undefined) ?? 'silent' });
  const engine: RunningEngine = await startEngine({ port: 0, dbPath: null });
  const connection = await mongoose.createConnection(engine.uriFor('bench_sync'), { monitorCommands: true }).asPromise();
  // Transactions the engine aborted with a WriteConflict (the driver then retries them, with backoff).
  let writeConflicts = 0;
  connection.getClient().on('commandFailed', (e) => {
    if ((e.failure as { code?: number }).code === 112) writeConflicts++;
  });
  const oaBuilt = await createOaSubgraph({
    connection,
    logger,
    internalSecret: SECRET,
    production: true,
    settings: { approvalThresholdFen: config.expenseApprovalThresholdFen, timeZone: config.businessTimeZone },
  });
  const archiveBuilt = await createArchiveSubgraph(await archiveOptions(config, logger, connection));
  const oa: RunningSubgraph = await oaBuilt.subgraph.listen(0, '127.0.0.1');
  const archive: RunningSubgraph = await archiveBuilt.subgraph.listen(0, '127.0.0.1');
  const bus = new LocalEventBus();
  const sync = await startSyncSubgraph({ ...(await syncOptions(config, logger, connection, { oa: oa.url, archive: archive.url }, bus)), port: 0, host: '127.0.0.1' });
  const gateway = await createGateway(config, logger, { oa: oa.url, archive: archive.url, sync: sync.url }, { bus });
  const server: Server = createServer((req, res) => void gateway.handle(req, res).then((handled) => handled || res.writeHead(404).end()));
  server.keepAliveTimeout = 65_000;
  gateway.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/graphql`;
  return {
    connection,
    oaUrl: oa.url,
    sync,
    bus,
    gateway,
    url,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    oa: (who, query, variables) => post(oa.url, (body) => identityHeaders(who, SECRET, { audience: 'oa', method: 'POST', body }), query, variables),
    gql: (token, query, variables) => post(url, { authorization: `Bearer ${token}` }, query, variables),
    token: (sub, roles) =>
      new SignJWT({ roles })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
        .sign(new TextEncoder().encode(JWT_SECRET)),
    writeConflicts: () => writeConflicts,
    close: async () => {
      await gateway.stop().catch(() => {});
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await sync.close().catch(() => {});
      await bus.close().catch(() => {});
      await oa.close().catch(() => {});
      await archive.close().catch(() => {});
      await connection.close();
      await engine.close();
    },
  };
}

// ---- the organisation and one claim's way to APPROVED (through the oa subgraph, signed identities) ----

export interface BenchOrg {
  alice: Principal;
  manager: Principal;
  accountant: Principal;
}

const ADMIN: Principal = { sub: 'bench-admin', roles: ['ADMIN'], departmentId: null, kind: 'user' };

export async function seedBenchOrg(stack: BenchStack): Promise<BenchOrg> {
  const dept = (await stack.oa<{ createDepartment: { id: string } }>(ADMIN, 'mutation { createDepartment(input: { code: "SALES", name: "Sales" }) { id } }')).createDepartment.id;
  const emp = async (no: string, roles: Role[]) =>
    (await stack.oa<{ createEmployee: { id: string } }>(ADMIN, 'mutation($i: CreateEmployeeInput!) { createEmployee(input: $i) { id } }', { i: { employeeNo: no, name: `Employee ${no}`, departmentId: dept, roles } })).createEmployee.id;
  const [alice, manager, accountant] = [await emp('S1', []), await emp('S2', ['MANAGER']), await emp('S3', ['ACCOUNTANT'])];
  await stack.oa(ADMIN, 'mutation($d: ID!, $e: ID!) { setDepartmentManager(departmentId: $d, employeeId: $e) { id } }', { d: dept, e: manager });
  const as = (sub: string, roles: Role[]): Principal => ({ sub, roles, departmentId: dept, kind: 'user' });
  return { alice: as(alice, ['EMPLOYEE']), manager: as(manager, ['EMPLOYEE', 'MANAGER']), accountant: as(accountant, ['EMPLOYEE', 'ACCOUNTANT']) };
}

const CREATE = 'mutation($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) { id claimNo } }';
const SUBMIT = 'mutation($id: ID!) { submitExpenseClaim(id: $id) { id status } }';
const DECIDE = 'mutation($id: ID!) { decideApproval(claimId: $id, decision: APPROVE) { id status } }';

export interface SubmittedClaim {
  id: string;
  claimNo: string;
}

/** Alice creates and submits a claim (one CLAIM_SUBMITTED). */
export async function submittedClaim(stack: BenchStack, org: BenchOrg, i: number): Promise<SubmittedClaim> {
  const amount = `${(i % 997) + 1}.${String(i % 100).padStart(2, '0')}`;
  const created = (
    await stack.oa<{ createExpenseClaim: SubmittedClaim }>(org.alice, CREATE, {
      input: { title: `Bench trip ${i}`, category: 'TRAVEL', items: [{ description: 'train', amount, occurredOn: '2026-11-01' }] },
    })
  ).createExpenseClaim;
  await stack.oa(org.alice, SUBMIT, { id: created.id });
  return created;
}

/** Her manager, then the accountant, approve it (one CLAIM_APPROVED, with the second decision). */
export async function approve(stack: BenchStack, org: BenchOrg, claim: SubmittedClaim): Promise<void> {
  await stack.oa(org.manager, DECIDE, { id: claim.id });
  const last = await stack.oa<{ decideApproval: { status: string } }>(org.accountant, DECIDE, { id: claim.id });
  if (last.decideApproval.status !== 'APPROVED') throw new Error(`claim ${claim.claimNo} is ${last.decideApproval.status} after both approvals`);
}
