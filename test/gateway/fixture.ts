// Both subgraphs on one embedded database, and the gateway's executable supergraph over them.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ExecutionResult, type GraphQLSchema, graphql } from 'graphql';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll } from 'vitest';
import { type RunningEngine, startEngine } from '../../engine/index.ts';
import { oaDirectoryLookup } from '../../gateway/directory.ts';
import { gatewayExecution } from '../../gateway/execution.ts';
import type { GatewayMetrics } from '../../gateway/metrics.ts';
import { type GatewayServer, createGatewayServer } from '../../gateway/server.ts';
import { applyPermissions } from '../../gateway/permissions.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../../gateway/supergraph.ts';
import type { Principal } from '../../platform/identity.ts';
import { type Logger, createLogger } from '../../platform/logger.ts';
import type { RunningSubgraph } from '../../platform/subgraph.ts';
import { DEFAULT_CHART } from '../../subgraphs/archive/context.ts';
import { createArchiveSubgraph } from '../../subgraphs/archive/index.ts';
import { createOaSubgraph } from '../../subgraphs/oa/index.ts';
import { oaPorts } from '../../subgraphs/oa/ports.ts';
import { SECRET } from '../oa/fixture.ts';

export interface GatewayFixture {
  /** Runs an operation on the supergraph with permissions applied (or without, for setting up data). */
  run(principal: Principal | null, source: string, variables?: Record<string, unknown>, opts?: { unguarded?: boolean }): Promise<ExecutionResult<Record<string, unknown>>>;
  /** Stops one subgraph, as if it were down. */
  stop(name: 'oa' | 'archive'): Promise<void>;
  /** Where the subgraphs listen. */
  urls(): { oa: string; archive: string };
  /** The supergraph with permissions applied, and the directory lookup, for serving it over HTTP. */
  guarded(): { schema: GraphQLSchema; directory: ReturnType<typeof oaDirectoryLookup> };
}

/** The oa and archive subgraphs on one fresh embedded database, listening on loopback (pushed to `running`: oa, archive). */
export async function startBothSubgraphs(label: string, running: RunningSubgraph[]): Promise<{ engine: RunningEngine; connection: Connection }> {
  const engine = await startEngine({ port: 0, dbPath: null });
  const connection = await mongoose.createConnection(engine.uriFor(label)).asPromise();
  const logger = createLogger({ level: 'silent' });
  const oa = await createOaSubgraph({ connection, logger, internalSecret: SECRET, production: false, settings: { approvalThresholdFen: 500_000, timeZone: 'Asia/Shanghai' } });
  const archive = await createArchiveSubgraph({
    connection,
    logger,
    internalSecret: SECRET,
    production: false,
    directory: oaPorts(connection).directory,
    settings: { fonds: 'Q001', timeZone: 'Asia/Shanghai', ...DEFAULT_CHART, financeDepartmentId: null, unitHeadId: null, itDepartmentId: null },
  });
  running.push(await oa.subgraph.listen(0, '127.0.0.1'), await archive.subgraph.listen(0, '127.0.0.1'));
  return { engine, connection };
}

export function useGateway(label: string): GatewayFixture {
  let engine: RunningEngine;
  let connection: Connection;
  const running: RunningSubgraph[] = [];
  let schema: GraphQLSchema;
  let guarded: GraphQLSchema;
  let directory: ReturnType<typeof oaDirectoryLookup>;
  beforeAll(async () => {
    ({ engine, connection } = await startBothSubgraphs(label, running));
    schema = buildSupergraphSchema({ supergraphSdl: loadSupergraphSdl(), urls: { oa: running[0].url, archive: running[1].url }, internalSecret: SECRET, timeoutMs: 5000 });
    guarded = applyPermissions(schema);
    directory = oaDirectoryLookup({ oaUrl: running[0].url, internalSecret: SECRET, timeoutMs: 5000 });
  });
  afterAll(async () => {
    for (const r of running) await r.close().catch(() => {});
    await connection?.close();
    await engine?.close();
  });
  return {
    urls: () => ({ oa: running[0].url, archive: running[1].url }),
    guarded: () => ({ schema: guarded, directory }),
    stop: async (name) => {
      const r = running[name === 'oa' ? 0 : 1];
      await r.close();
    },
    run: async (principal, source, variableValues, opts = {}) =>
      (await graphql({ schema: opts.unguarded ? schema : guarded, source, variableValues, contextValue: { principal, directory } })) as ExecutionResult<Record<string, unknown>>,
  };
}

/** The fixture shaped like the oa test client, so the oa seeds run through the gateway (unguarded: setup only). */
export const asOaClient = (gw: GatewayFixture) => ({
  gql: async (who: Principal | null, query: string, variables?: Record<string, unknown>) => {
    const r = await gw.run(who, query, variables, { unguarded: true });
    return { status: 200, data: r.data as never, errors: r.errors?.map((e) => ({ message: e.message, extensions: e.extensions as { code?: string } })) };
  },
});

/** A subgraph call as a test saw it leave the gateway. */
export interface SeenCall {
  subgraph: string;
  query: string;
  identity: string | null;
}

/**
 * Gateways served over HTTP on `gw`'s subgraphs, as gateway/index.ts builds them (production), each with or without
 * the single-subgraph pass-through and the query planner, every subgraph call recorded in `calls`; `principals`
 * maps an Authorization header to its caller. Stopped after the file.
 */
export function useServedGateways(gw: GatewayFixture, principals: ReadonlyMap<string, Principal>) {
  const calls: SeenCall[] = [];
  const servers: Array<{ server: Server; gateway: GatewayServer }> = [];
  const logger = createLogger({ level: 'silent' });
  afterAll(async () => {
    for (const s of servers) {
      await s.gateway.stop();
      s.server.closeAllConnections();
      await new Promise((r) => s.server.close(r));
    }
  });
  const record = (subgraph: string): typeof fetch =>
    (async (url: string | URL | Request, init?: RequestInit) => {
      calls.push({ subgraph, query: (JSON.parse(String(init?.body)) as { query: string }).query, identity: new Headers(init?.headers).get('x-internal-identity') });
      return fetch(url, init);
    }) as typeof fetch;
  return {
    calls,
    /**
     * Serves a gateway; its /graphql URL. `planned: 'failing'`: a planner that takes queries and fails to run every
     * one of them. `metrics`, `logger`: the gateway's, to read what it counted and said.
     */
    async serve(paths: { passThrough: boolean; planned: boolean | 'failing'; metrics?: GatewayMetrics; logger?: Logger }): Promise<string> {
      const execution = gatewayExecution({ supergraphSdl: loadSupergraphSdl(), urls: gw.urls(), internalSecret: SECRET, timeoutMs: 5000, fetchFor: record });
      const failing = { ...execution.planned, execution: async () => async () => Promise.reject(new Error('the planner cannot run this')) };
      const gateway = await createGatewayServer({
        ...execution,
        passThrough: paths.passThrough ? execution.passThrough : undefined,
        planned: paths.planned === 'failing' ? failing : paths.planned ? execution.planned : undefined,
        metrics: paths.metrics,
        authenticate: async (authorization) => principals.get(authorization ?? '')!,
        directory: gw.guarded().directory,
        logger: paths.logger ?? logger,
        production: true,
      });
      const server = createServer((req: IncomingMessage, res: ServerResponse) => void gateway.handle(req, res));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      servers.push({ server, gateway });
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    },
  };
}

/** POSTs an operation as the caller `Bearer <who>`: the HTTP status and the JSON answer. */
export async function postAs(url: string, who: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${who}` }, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: (await res.json()) as { data?: Record<string, unknown>; errors?: Array<{ message: string; path?: unknown; locations?: unknown; extensions?: { code?: string } }> } };
}
