// One process of the gateway benchmark (bench/gateway.ts starts each with the parent's Node and exec arguments):
//
//   database   the embedded engine (in memory)
//   oa         the oa subgraph on it, counting the HTTP requests it receives
//   archive    the archive subgraph on it, the same (the parent seeds both through their URLs: bench/gateway-seed.ts)
//   ours       this gateway (gateway/server.ts: authentication, graphql-shield, production) — and a second one
//              without the intake's limits (`intake: false`), to price them
//   apollo     @apollo/gateway on the same supergraph
//   hive       the Hive Gateway runtime (@graphql-hive/gateway-runtime, HTTP transport) on the same supergraph
//
// Every gateway verifies the client's JWT with the same authenticator (the peers without this gateway's directory
// lookup) and signs the caller's internal identity for each subgraph request, over the exact body sent, with the
// request's origin (platform/identity.ts): the subgraphs refuse anything else.
// The child says where it listens with an IPC message { t: 'ready', urls }; it answers { t: 'stats', id } with its
// own process.cpuUsage() and peak RSS, and exits on { t: 'stop' }.
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import mongoose from 'mongoose';
import { startEngine } from '../engine/index.ts';
import { createAuthenticator } from '../gateway/auth.ts';
import { oaDirectoryLookup } from '../gateway/directory.ts';
import { gatewayExecution } from '../gateway/execution.ts';
import { createGatewayServer, requestDeadline } from '../gateway/server.ts';
import { loadSupergraphSdl } from '../gateway/supergraph.ts';
import { INTERNAL_IDENTITY_HEADER, type Principal, type RequestOrigin, signPrincipal } from '../platform/identity.ts';
import { createLogger } from '../platform/logger.ts';
import type { Subgraph } from '../platform/subgraph.ts';
import { DEFAULT_CHART } from '../subgraphs/archive/context.ts';
import { createArchiveSubgraph } from '../subgraphs/archive/index.ts';
import { createOaSubgraph } from '../subgraphs/oa/index.ts';
import { oaModels } from '../subgraphs/oa/models.ts';
import { oaDirectory } from '../subgraphs/oa/organisation.ts';
import { type ChildMessage, JWT_SECRET, type ParentMessage, SECRET } from './gateway-common.ts';

const role = process.argv[2];
const logger = createLogger({ level: 'silent' });
const closers: Array<() => Promise<unknown>> = [];
const requests: Record<string, number> = {};

const send = (m: ChildMessage) => process.send!(m);

process.on('message', (raw) => {
  const m = raw as ParentMessage;
  if (m.t === 'stats') {
    const cpu = process.cpuUsage();
    send({ t: 'stats', id: m.id, user: cpu.user, system: cpu.system, maxRss: process.resourceUsage().maxRSS, requests: role === 'oa' || role === 'archive' ? { ...requests } : undefined });
  } else if (m.t === 'stop') {
    void (async () => {
      for (const close of closers.reverse()) await close().catch(() => {});
      process.exit(0);
    })();
  }
});
// The parent gone (killed, crashed): nothing left to measure for.
process.on('disconnect', () => process.exit(0));

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server: Server = createServer(handler);
  // Gateways keep connections alive; a server closing them first makes clients race into ECONNRESET.
  server.keepAliveTimeout = 65_000;
  closers.push(() => new Promise((r) => server.close(r)));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`)));
}

/** The supergraph SDL with the subgraph URLs of this run. */
const supergraphSdl = () => loadSupergraphSdl().replace('http://127.0.0.1:4001/graphql', process.env.BENCH_OA_URL!).replace('http://127.0.0.1:4002/graphql', process.env.BENCH_ARCHIVE_URL!);
const subgraphUrls = () => ({ oa: process.env.BENCH_OA_URL!, archive: process.env.BENCH_ARCHIVE_URL! });

/** The peers' authentication: the same JWT checks as this gateway's, without its directory lookup (token roles only). */
const peerAuthenticate = createAuthenticator({ jwtSecret: JWT_SECRET, lookup: async () => null });
const peerOrigin = (clientAddress: string | undefined, operationName: unknown): RequestOrigin => ({
  requestId: randomUUID(),
  clientAddress: clientAddress ?? null,
  operationName: typeof operationName === 'string' ? operationName.slice(0, 100) : null,
  deadline: requestDeadline(Date.now()),
});

/** The embedded engine (in memory), as `npm start` runs it: a process of its own. */
async function database(): Promise<Record<string, string>> {
  // ENGINE_SLOW_MS given: its slow commands are logged (by shape, no values) on this process's output.
  const slowMs = process.env.ENGINE_SLOW_MS ? Number(process.env.ENGINE_SLOW_MS) : undefined;
  const engine = await startEngine({ port: 0, dbPath: null, ...(slowMs ? { slowMs, logger: createLogger({ level: 'info' }) } : {}) });
  closers.push(() => engine.close());
  return { uri: engine.uriFor('bench_gateway') };
}

/** One subgraph in a process of its own on the engine at BENCH_ENGINE_URI, counting the HTTP requests it receives. */
async function subgraph(name: 'oa' | 'archive'): Promise<Record<string, string>> {
  const connection = await mongoose.createConnection(process.env.BENCH_ENGINE_URI!).asPromise();
  closers.push(() => connection.close());
  const built =
    name === 'oa'
      ? await createOaSubgraph({ connection, logger, internalSecret: SECRET, production: true, settings: { approvalThresholdFen: 500_000, timeZone: 'Asia/Shanghai' } })
      : await createArchiveSubgraph({
          connection, logger, internalSecret: SECRET, production: true, directory: oaDirectory({ models: oaModels(connection) }),
          settings: { fonds: 'Q001', timeZone: 'Asia/Shanghai', ...DEFAULT_CHART, financeDepartmentId: null, unitHeadId: null, itDepartmentId: null },
        });
  await built.subgraph.start();
  closers.push(() => built.subgraph.apollo.stop());
  const handled = built.subgraph as unknown as Subgraph<never>;
  requests[name] = 0;
  const url = await listen((req, res) => {
    requests[name]++;
    void handled.handle(req, res);
  });
  return { [name]: url };
}

/** This gateway as bench runs it: authentication, graphql-shield, production; and the same without the intake's limits. */
async function ours(): Promise<Record<string, string>> {
  const directory = oaDirectoryLookup({ oaUrl: process.env.BENCH_OA_URL!, internalSecret: SECRET, timeoutMs: 5000 });
  const serve = async (intake: boolean): Promise<string> => {
    const gateway = await createGatewayServer({
      // As gateway/index.ts builds it: the shield, the masked-only schema and the pass-through (gateway/execution.ts).
      ...gatewayExecution({ supergraphSdl: loadSupergraphSdl(), urls: subgraphUrls(), internalSecret: SECRET, timeoutMs: 10_000 }),
      authenticate: createAuthenticator({ jwtSecret: JWT_SECRET, lookup: directory }),
      directory,
      logger,
      production: true,
      intake,
    });
    closers.push(() => gateway.stop());
    return listen((req, res) => void gateway.handle(req, res));
  };
  return { gateway: await serve(true), bare: await serve(false) };
}

/** The header an Apollo data source's fetcher takes the caller from (willSendRequest sees the context, the fetcher the body). */
const CALLER_HEADER = 'x-bench-caller';
interface PeerContext {
  principal: Principal;
  origin: RequestOrigin;
}

/** @apollo/gateway: the identity is signed in the data source's fetcher, over the body actually sent. */
async function apollo(): Promise<Record<string, string>> {
  class SigningDataSource extends RemoteGraphQLDataSource<PeerContext> {
    override willSendRequest(options: Parameters<NonNullable<RemoteGraphQLDataSource<PeerContext>['willSendRequest']>>[0]) {
      const { request, context } = options;
      if (!context?.principal) return;
      const operationName = 'incomingRequestContext' in options ? options.incomingRequestContext.request.operationName : null;
      const origin = { ...context.origin, operationName: operationName?.slice(0, 100) ?? null };
      request.http?.headers.set(CALLER_HEADER, JSON.stringify({ principal: context.principal, origin }));
    }
  }
  const gateway = new ApolloGateway({
    supergraphSdl: supergraphSdl(),
    buildService: ({ name, url }) =>
      new SigningDataSource({
        url,
        fetcher: (async (target: string, init: { method?: string; headers?: Record<string, string>; body?: string }) => {
          const { [CALLER_HEADER]: caller, ...headers } = init.headers ?? {};
          if (!caller) return fetch(target, init as RequestInit);
          const { principal, origin } = JSON.parse(caller) as PeerContext;
          const token = await signPrincipal(principal, SECRET, { audience: name.toLowerCase(), method: init.method ?? 'POST', body: init.body }, { origin });
          return fetch(target, { ...init, headers: { ...headers, [INTERNAL_IDENTITY_HEADER]: token } } as RequestInit);
        }) as never,
      }),
  });
  const server = new ApolloServer<PeerContext>({ gateway, stopOnTerminationSignals: false });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ principal: await peerAuthenticate(req.headers.authorization), origin: peerOrigin(req.socket.remoteAddress, null) }),
  });
  closers.push(() => server.stop());
  return { gateway: url };
}

// The Hive runtime's type declarations pull in the DOM library (through @whatwg-node/fetch), which clashes with this
// project's Node types: it is imported untyped, with the little of its API used here declared below.
const HIVE_RUNTIME: string = '@graphql-hive/gateway-runtime';
interface HiveFetchPayload {
  url: string;
  options: { method?: string; headers?: Record<string, string>; body?: unknown };
  setOptions(options: HiveFetchPayload['options']): void;
  context: unknown;
}
interface HivePlugin {
  onContextBuilding(payload: { context: { request: Request; params?: { operationName?: unknown } }; extendContext(extra: Partial<PeerContext>): void }): Promise<void>;
  onFetch(payload: HiveFetchPayload): Promise<void>;
}
interface HiveRuntime {
  (req: IncomingMessage, res: ServerResponse): void;
  dispose(): Promise<void> | void;
}

/** The Hive Gateway runtime: a plugin authenticates into the context and signs each subgraph fetch in onFetch. */
async function hive(router = false): Promise<Record<string, string>> {
  const { createGatewayRuntime } = (await import(HIVE_RUNTIME)) as { createGatewayRuntime(config: Record<string, unknown>): HiveRuntime };
  const audienceOf = new Map(Object.entries(subgraphUrls()).map(([name, url]) => [url, name]));
  const signing: HivePlugin = {
    onContextBuilding: async ({ context, extendContext }) => {
      const request = context.request;
      extendContext({
        principal: await peerAuthenticate(request.headers.get('authorization') ?? undefined),
        origin: peerOrigin(request.headers.get('x-forwarded-for') ?? '127.0.0.1', context.params?.operationName),
      });
    },
    onFetch: async ({ url, options, setOptions, context }) => {
      const ctx = context as Partial<PeerContext>;
      const audience = audienceOf.get(url);
      if (!ctx.principal || !audience) return;
      if (options.body != null && typeof options.body !== 'string') throw new TypeError('subgraph request body must be a string to be signed');
      const token = await signPrincipal(ctx.principal, SECRET, { audience, method: options.method ?? 'POST', body: options.body }, { origin: ctx.origin });
      setOptions({ ...options, headers: { ...options.headers, [INTERNAL_IDENTITY_HEADER]: token } });
    },
  };
  const gateway = createGatewayRuntime({
    supergraph: () => supergraphSdl(),
    logging: false,
    landingPage: false,
    graphiql: false,
    // As this gateway: each caller's identity goes out on its own subgraph request, none shared.
    transportEntries: { '*': { options: { deduplicateInflightRequests: false } } },
    plugins: () => [signing],
    ...(router ? { unifiedGraphHandler: ((await import('@graphql-hive/router-runtime' as string)) as { unifiedGraphHandler: unknown }).unifiedGraphHandler } : {}),
  });
  closers.push(async () => gateway.dispose());
  return { gateway: await listen(gateway) };
}

const roles: Record<string, () => Promise<Record<string, string>>> = { database, oa: () => subgraph('oa'), archive: () => subgraph('archive'), ours, apollo, hive, 'hive-router': () => hive(true) };
try {
  if (!roles[role]) throw new Error(`unknown role ${role}`);
  send({ t: 'ready', urls: await roles[role]() });
} catch (err) {
  send({ t: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
}
