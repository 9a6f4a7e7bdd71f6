// A running `oa` subgraph on the embedded engine, and a client that signs identities as the gateway would.
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll } from 'vitest';
import { type RunningEngine, startEngine } from '../../engine/index.ts';
import type { Principal, Role } from '../../platform/identity.ts';
import { type GqlResult, signedGraphql } from '../helpers/graphql.ts';
import { createLogger } from '../../platform/logger.ts';
import type { RunningSubgraph } from '../../platform/subgraph.ts';
import type { OaServices } from '../../subgraphs/oa/context.ts';
import { createOaSubgraph } from '../../subgraphs/oa/index.ts';

export const SECRET = 'test-internal-secret-0123456789abcdef0123';

export type { GqlResult };

export interface OaFixture {
  readonly url: string;
  readonly services: OaServices;
  readonly connection: Connection;
  /** Commands the driver sent since the last reset (command monitoring). */
  commands: string[];
  gql<T = Record<string, unknown>>(who: Principal | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
}

export const user = (sub: string, roles: Role[], departmentId: string | null = null): Principal => ({ sub, roles, departmentId, kind: 'user' });
export const ADMIN = user('admin-bootstrap', ['ADMIN']);

export function useOaSubgraph(label: string, settings = { approvalThresholdFen: 500_000, timeZone: 'Asia/Shanghai' }): OaFixture {
  let engine: RunningEngine;
  let connection: Connection;
  let running: RunningSubgraph;
  let services: OaServices;
  const fixture: OaFixture = {
    get url() {
      return running.url;
    },
    get services() {
      return services;
    },
    get connection() {
      return connection;
    },
    commands: [],
    gql: (who, query, variables) => signedGraphql({ url: running.url, audience: 'oa' }, SECRET, who, query, variables),
  };
  beforeAll(async () => {
    engine = await startEngine({ port: 0, dbPath: null });
    connection = await mongoose.createConnection(engine.uriFor(label), { monitorCommands: true }).asPromise();
    connection.getClient().on('commandStarted', (e) => fixture.commands.push(e.commandName));
    const logger = createLogger({ level: (process.env.TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent' });
    const built = await createOaSubgraph({ connection, logger, internalSecret: SECRET, production: false, settings });
    services = built.services;
    running = await built.subgraph.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await running?.close();
    await connection?.close();
    await engine?.close();
  });
  return fixture;
}

/** Data of a successful result; fails the test with the errors otherwise. */
export function ok<T>(result: GqlResult<T>): T {
  if (result.errors?.length || !result.data) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  return result.data;
}

export const codes = (result: GqlResult): Array<string | undefined> => (result.errors ?? []).map((e) => e.extensions?.code);
