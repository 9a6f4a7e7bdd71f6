// The whole integration on one embedded database: oa, archive and sync subgraphs on their own ports, and one or
// more gateways serving HTTP, graphql-ws and SSE, as `npm start` wires them. Clients authenticate with real JWTs.
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import mongoose, { type Connection } from 'mongoose';
import { type RunningEngine, startEngine } from '../../engine/index.ts';
import { type Gateway, createGateway } from '../../gateway/index.ts';
import { consoleRoutes } from '../../gateway/console.ts';
import { ideRoutes } from '../../gateway/ide.ts';
import { loadConfig } from '../../platform/config.ts';
import { type EventBus, LocalEventBus } from '../../platform/integration/event-bus.ts';
import type { Role } from '../../platform/identity.ts';
import { type Logger, createLogger } from '../../platform/logger.ts';
import type { RunningSubgraph } from '../../platform/subgraph.ts';
import { type ArchiveSettings, DEFAULT_CHART } from '../../subgraphs/archive/context.ts';
import { createArchiveSubgraph } from '../../subgraphs/archive/index.ts';
import { archivePorts } from '../../subgraphs/archive/ports.ts';
import { sealAuditSink } from '../../subgraphs/archive/seal-audit.ts';
import type { ArchiveSealOptions } from '../../subgraphs/archive/seals.ts';
import { type OaSubgraphOptions, createOaSubgraph } from '../../subgraphs/oa/index.ts';
import { oaPorts } from '../../subgraphs/oa/ports.ts';
import { type RunningSync, type SyncPorts, type SyncSubgraphSettings, startSyncSubgraph } from '../../subgraphs/sync-service.ts';
import { signedGraphql } from '../helpers/graphql.ts';
import { ADMIN, type OaFixture, SECRET, ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, type Org, item, seedOrg } from '../oa/seed.ts';

export const JWT_SECRET = 'client-jwt-secret-for-the-sync-tests-0123456789';

export const SYNC_SETTINGS: SyncSubgraphSettings = {
  maxAttempts: 3,
  retryBaseMs: 50,
  retryMaxMs: 200,
  pollMs: 50,
  reconcileIntervalMs: 0,
  reconcileGraceMs: 0,
  timeZone: 'Asia/Shanghai',
  webhookMaxAttempts: 3,
  webhookTimeoutMs: 2000,
  webhookAllowPrivateTargets: true,
  // Rules are evaluated when a test asks (services.monitor.evaluate()).
  alertIntervalMs: 0,
  alertRules: {},
  // The status history is sampled when a test asks (services.sampler.sample()) or sets statusSampleMs.
  statusSampleMs: 0,
};

export interface RunningGateway {
  gateway: Gateway;
  url: string;
  wsUrl: string;
  sseUrl: string;
  close(): Promise<void>;
}

export interface Stack {
  connection: Connection;
  oaUrl: string;
  archiveUrl: string;
  sync: RunningSync;
  /**
   * The archive's settings as its services read them at each call: a test changes one (FINANCE_DEPARTMENT_ID once
   * the department exists) to stand for a restart with other configuration.
   */
  archiveSettings: ArchiveSettings;
  /** oa's and the archive's ports, as the sync service is given them (for more sync instances). */
  ports: SyncPorts;
  gateways: RunningGateway[];
  /** The oa subgraph as seed helpers expect it (signed calls, setup only). */
  oa: OaFixture;
  token(sub: string, roles?: Role[], expiresInSeconds?: number): Promise<string>;
  /** POST /graphql on the first gateway with a client token. */
  gql<T = Record<string, unknown>>(token: string, query: string, variables?: Record<string, unknown>): Promise<{ status: number; data?: T; errors?: { message: string; extensions?: { code?: string } }[] }>;
  startGateway(bus: EventBus): Promise<RunningGateway>;
  /** Stops gateway `i` and starts a new one on the same port and bus (a restart, as clients see it); `during` runs while it is down. */
  restartGateway(i: number, during?: () => Promise<void>): Promise<RunningGateway>;
  close(): Promise<void>;
}

export interface StackOptions {
  label: string;
  /** The oa subgraph's upload limits (defaults otherwise). */
  attachments?: OaSubgraphOptions['attachments'];
  /** The bus the sync instance publishes on and the first gateway listens to (default: one in-process bus). */
  bus?: EventBus;
  /** Gateways to start on `bus` (default 1). */
  gateways?: number;
  sync?: Partial<SyncSubgraphSettings>;
  /** Replaces the archive URL the sync service calls (to make it fail). */
  archiveUrlForSync?: string;
  /** How long the sync service waits for each call to oa and the archive (default: its own). */
  syncCallTimeoutMs?: number;
  /** Replaces the oa URL the sync service calls (to count its calls). */
  oaUrlForSync?: string;
  subscriptionPollMs?: number;
  /** Events per read of a subscription (small values exercise multi-page replay). */
  subscriptionPageSize?: number;
  /** Serves the operator console (/console) on each gateway's HTTP server too. */
  console?: boolean;
  /** Serves GraphiQL (/graphiql, and a browser's GET /graphql sent there) on each gateway's HTTP server too. */
  ide?: boolean;
  /** Seals the archive's chain heads and the audit trail's with this key, into this directory; heads go to the trail. */
  seal?: ArchiveSealOptions;
  /** How long each gateway trusts an API key check (default: the configuration's, 10 s). */
  apiKeyCacheMs?: number;
  /** The logger of every part (default: silent, or TEST_LOG_LEVEL). */
  logger?: Logger;
  /** COMPANY_TAX_ID and the invoice verification interface of the oa subgraph (default: neither). */
  invoices?: OaSubgraphOptions['invoices'];
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const logger = opts.logger ?? createLogger({ level: (process.env.TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent' });
  const engine: RunningEngine = await startEngine({ port: 0, dbPath: null });
  const connection = await mongoose.createConnection(engine.uriFor(opts.label)).asPromise();
  const oaBuilt = await createOaSubgraph({ connection, logger, internalSecret: SECRET, production: false, settings: { approvalThresholdFen: 500_000, timeZone: 'Asia/Shanghai' }, invoices: opts.invoices, attachments: opts.attachments });
  // The archive writes its sealed heads into the audit trail via the sync subgraph, started after it.
  let syncUrl = 'http://127.0.0.1:9/graphql';
  const archiveSettings: ArchiveSettings = { fonds: 'Q001', timeZone: 'Asia/Shanghai', ...DEFAULT_CHART, financeDepartmentId: null, unitHeadId: null, itDepartmentId: null };
  const archiveBuilt = await createArchiveSubgraph({
    connection,
    logger,
    internalSecret: SECRET,
    production: false,
    directory: oaPorts(connection).directory,
    originals: oaPorts(connection).attachments,
    settings: archiveSettings,
    seal: opts.seal && { ...opts.seal, announce: sealAuditSink({ syncUrl: () => syncUrl, internalSecret: SECRET, logger }) },
  });
  const oa: RunningSubgraph = await oaBuilt.subgraph.listen(0, '127.0.0.1');
  const archive: RunningSubgraph = await archiveBuilt.subgraph.listen(0, '127.0.0.1');
  const bus = opts.bus ?? new LocalEventBus();
  // The first gateway's server listens before sync starts: sync reaches it for webhooks' selections (GATEWAY_URL).
  let firstServer: Server | undefined = createServer();
  await new Promise<void>((r) => firstServer!.listen(0, '127.0.0.1', r));
  const gatewayUrl = `http://127.0.0.1:${(firstServer.address() as AddressInfo).port}/graphql`;
  const ports: SyncPorts = { oa: oaPorts(connection), archive: archivePorts(connection) };
  const sync = await startSyncSubgraph({
    connection,
    logger,
    internalSecret: SECRET,
    production: false,
    oaUrl: opts.oaUrlForSync ?? oa.url,
    archiveUrl: opts.archiveUrlForSync ?? archive.url,
    gatewayUrl,
    bus,
    ports,
    settings: { ...SYNC_SETTINGS, ...opts.sync },
    subgraphTimeoutMs: opts.syncCallTimeoutMs,
    host: '127.0.0.1',
    port: 0,
    leaseTtlMs: 2000,
    seal: opts.seal,
  });
  syncUrl = sync.url;
  const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET, INTERNAL_SECRET: SECRET, LOG_LEVEL: 'silent' });
  const gateways: RunningGateway[] = [];

  const startGateway = async (gatewayBus: EventBus, listenPort = 0): Promise<RunningGateway> => {
    const gateway = await createGateway(config, logger, { oa: oa.url, archive: archive.url, sync: sync.url }, { bus: gatewayBus, subscriptionPollMs: opts.subscriptionPollMs ?? 2000, subscriptionPageSize: opts.subscriptionPageSize, apiKeyCacheMs: opts.apiKeyCacheMs });
    const consoleUi = opts.console ? consoleRoutes({ logger }) : null;
    const ide = opts.ide ? ideRoutes() : null;
    const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) =>
      void (ide?.(req, res) || consoleUi?.(req, res) || gateway.handle(req, res).then((handled) => handled || res.writeHead(404).end()));
    const server: Server = firstServer ?? createServer();
    server.on('request', handler);
    gateway.attach(server);
    if (firstServer) firstServer = undefined;
    else await new Promise<void>((r) => server.listen(listenPort, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const running: RunningGateway = {
      gateway,
      url: `http://127.0.0.1:${port}/graphql`,
      wsUrl: `ws://127.0.0.1:${port}/graphql`,
      sseUrl: `http://127.0.0.1:${port}/graphql/stream`,
      close: async () => {
        await gateway.stop();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      },
    };
    gateways.push(running);
    return running;
  };
  for (let i = 0; i < (opts.gateways ?? 1); i++) await startGateway(bus);

  const oaFixture = { gql: (who, query, variables) => signedGraphql({ url: oa.url, audience: 'oa' }, SECRET, who, query, variables) } as OaFixture;
  return {
    connection,
    oaUrl: oa.url,
    archiveUrl: archive.url,
    archiveSettings,
    sync,
    ports,
    gateways,
    oa: oaFixture,
    startGateway: (gatewayBus: EventBus) => startGateway(gatewayBus),
    restartGateway: async (i, during) => {
      const old = gateways[i];
      await old.close();
      gateways.splice(i, 1);
      await during?.();
      const restarted = await startGateway(bus, Number(new URL(old.url).port));
      // startGateway appended it; it takes the old one's place.
      gateways.splice(gateways.indexOf(restarted), 1);
      gateways.splice(i, 0, restarted);
      return restarted;
    },
    token: (sub, roles = [], expiresInSeconds = 300) =>
      new SignJWT({ roles })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
        .sign(new TextEncoder().encode(JWT_SECRET)),
    gql: async (token, query, variables) => {
      const res = await fetch(gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
      return { status: res.status, ...((await res.json()) as object) };
    },
    close: async () => {
      for (const g of gateways) await g.close().catch(() => {});
      firstServer?.close();
      await sync.close().catch(() => {});
      await bus.close().catch(() => {});
      await oa.close().catch(() => {});
      await archive.close().catch(() => {});
      await connection.close();
      await engine.close();
    },
  };
}

/** Seeds the organisation (setup through the oa subgraph, as ADMIN). */
export const seed = (stack: Stack, suffix = ''): Promise<Org> => seedOrg(stack.oa, suffix);

/** Alice files a claim of `amount`, her manager and the accountant approve it: one CLAIM_APPROVED. */
export async function approvedClaim(stack: Stack, org: Org, amount = '123.45', invoiceNo?: string): Promise<{ id: string; claimNo: string }> {
  const created = ok(await stack.oa.gql<{ createExpenseClaim: { id: string; claimNo: string } }>(org.as.alice, CREATE_CLAIM, { input: { title: 'Taxi', category: 'TRAVEL', items: [item(amount, invoiceNo)] } })).createExpenseClaim;
  ok(await stack.oa.gql(org.as.alice, SUBMIT, { id: created.id }));
  ok(await stack.oa.gql(org.as.salesManager, DECIDE, { id: created.id, d: 'APPROVE' }));
  ok(await stack.oa.gql(org.as.accountant, DECIDE, { id: created.id, d: 'APPROVE' }));
  return created;
}

export { ADMIN };
