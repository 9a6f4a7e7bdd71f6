// Both subgraphs on one embedded database, and the gateway's executable supergraph over them.
import { type ExecutionResult, type GraphQLSchema, graphql } from 'graphql';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll } from 'vitest';
import { type RunningEngine, startEngine } from '../../engine/index.ts';
import { oaDirectoryLookup } from '../../gateway/directory.ts';
import { applyPermissions } from '../../gateway/permissions.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../../gateway/supergraph.ts';
import type { Principal } from '../../platform/identity.ts';
import { createLogger } from '../../platform/logger.ts';
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
