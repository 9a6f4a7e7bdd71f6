// A running `archive` subgraph on the embedded engine, with gateway-signed calls.
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll } from 'vitest';
import { type RunningEngine, startEngine } from '../../engine/index.ts';
import type { Principal } from '../../platform/identity.ts';
import { signedGraphql } from '../helpers/graphql.ts';
import { createLogger } from '../../platform/logger.ts';
import type { RunningSubgraph } from '../../platform/subgraph.ts';
import type { Directory } from '../../platform/workflow/types.ts';
import { type ArchiveServices, type ArchiveSettings, DEFAULT_CHART } from '../../subgraphs/archive/context.ts';
import { type ArchiveSubgraphOptions, createArchiveSubgraph } from '../../subgraphs/archive/index.ts';
import type { ArchiveSealOptions } from '../../subgraphs/archive/seals.ts';
import type { GqlResult } from '../helpers/graphql.ts';

export const SECRET = 'test-internal-secret-0123456789abcdef0123';
export const SYNC: Principal = { sub: 'sync-service', roles: [], departmentId: null, kind: 'service' };
export const archivist = (sub = 'archivist-1'): Principal => ({ sub, roles: ['EMPLOYEE', 'ARCHIVIST'], departmentId: 'dept-archive', kind: 'user' });
export const auditor: Principal = { sub: 'auditor-1', roles: ['EMPLOYEE', 'AUDITOR'], departmentId: 'dept-audit', kind: 'user' };

/** The archive's settings in tests (a test may spread them and change some). */
export const testSettings: ArchiveSettings = { fonds: 'Q001', timeZone: 'Asia/Shanghai', ...DEFAULT_CHART, financeDepartmentId: 'dept-finance', unitHeadId: 'unit-head', itDepartmentId: 'dept-it' };

/** A fixed organisation for approval routes. */
export const directory: Directory = {
  managerOf: async (d) => ({ 'dept-finance': 'finance-head', 'dept-sales': 'sales-head', 'dept-it': 'it-head' })[d] ?? null,
  parentOf: async () => null,
  departmentOf: async () => null,
  employeesWithRole: async (role) => (role === 'ARCHIVIST' ? ['archivist-1', 'archivist-2'] : []),
};

export interface ArchiveFixture {
  readonly url: string;
  /** The database's address, for a connection of a test's own (another archive process). */
  readonly uri: string;
  readonly services: ArchiveServices;
  readonly connection: Connection;
  commands: string[];
  gql<T = Record<string, unknown>>(who: Principal | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
  /**
   * Another archive instance on the same database, with a connection (and so transaction lanes) of its own: what a
   * second archive process is. Closed with the fixture.
   */
  another(): Promise<Pick<ArchiveFixture, 'gql'>>;
}

/**
 * `prepare` writes into the database before the subgraph starts (what an earlier release left behind); `seal` seals
 * chain heads (made before the subgraph starts, so a test can create its key and directory).
 */
export function useArchiveSubgraph(label: string, prepare?: (connection: Connection) => Promise<void>, seal?: () => Promise<ArchiveSealOptions>, options?: Partial<ArchiveSubgraphOptions>): ArchiveFixture {
  let engine: RunningEngine;
  let connection: Connection;
  let running: RunningSubgraph;
  let services: ArchiveServices;
  const fixture: ArchiveFixture = {
    get url() {
      return running.url;
    },
    get uri() {
      return engine.uriFor(label);
    },
    get services() {
      return services;
    },
    get connection() {
      return connection;
    },
    commands: [],
    gql: (who, query, variables) => signedGraphql({ url: running.url, audience: 'archive' }, SECRET, who, query, variables),
    another: async () => {
      const conn = await mongoose.createConnection(engine.uriFor(label)).asPromise();
      const other = await (await build(conn)).subgraph.listen(0, '127.0.0.1');
      extra.push(async () => {
        await other.close();
        await conn.close();
      });
      return { gql: (who, query, variables) => signedGraphql({ url: other.url, audience: 'archive' }, SECRET, who, query, variables) };
    },
  };
  const extra: Array<() => Promise<void>> = [];
  const build = async (conn: Connection) =>
    createArchiveSubgraph({
      connection: conn,
      logger: createLogger({ level: (process.env.TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent' }),
      internalSecret: SECRET,
      production: false,
      directory,
      settings: testSettings,
      seal: sealOptions,
      ...options,
    });
  let sealOptions: ArchiveSealOptions | undefined;
  beforeAll(async () => {
    engine = await startEngine({ port: 0, dbPath: null });
    connection = await mongoose.createConnection(engine.uriFor(label), { monitorCommands: true }).asPromise();
    connection.getClient().on('commandStarted', (e) => fixture.commands.push(e.commandName));
    await prepare?.(connection);
    sealOptions = await seal?.();
    const built = await build(connection);
    services = built.services;
    running = await built.subgraph.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    for (const close of extra) await close().catch(() => {});
    await running?.close();
    await connection?.close();
    await engine?.close();
  });
  return fixture;
}

let claimCounter = 0;
/** An approved claim as the sync service hands it over. */
export function approvedClaim(over: Partial<Record<string, unknown>> = {}) {
  claimCounter++;
  return {
    claimId: `claim-${claimCounter}-${Math.random().toString(16).slice(2, 8)}`,
    claimNo: `BX-2026-${String(claimCounter).padStart(6, '0')}`,
    title: 'Trip to Shanghai',
    category: 'TRAVEL',
    applicantId: 'emp-alice',
    applicantName: 'Alice',
    departmentId: 'dept-sales',
    approvedAt: '2026-11-20T10:00:00Z',
    total: '5500.50',
    items: [
      { description: 'Train', amount: '3000.00', occurredOn: '2026-11-02', invoiceNo: `INV-${claimCounter}-A` },
      { description: 'Hotel', amount: '2500.50', occurredOn: '2026-11-03', invoiceNo: `INV-${claimCounter}-B` },
    ],
    ...over,
  };
}
