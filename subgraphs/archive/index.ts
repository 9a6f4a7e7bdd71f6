// The `archive` subgraph: vouchers, archive records, retention, fixity, and their lifecycle.
import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { GraphQLScalarType, parse } from 'graphql';
import type { Connection } from 'mongoose';
import { EventLog } from '../../platform/integration/events.ts';
import { WorkerLoop } from '../../platform/integration/worker-loop.ts';
import type { Principal } from '../../platform/identity.ts';
import type { Logger } from '../../platform/logger.ts';
import { type Route, Subgraph } from '../../platform/subgraph.ts';
import { WorkflowEngine } from '../../platform/workflow/engine.ts';
import type { Directory } from '../../platform/workflow/types.ts';
import type { ArchiveContext, ArchiveServices, ArchiveSettings } from './context.ts';
import { createArchiveLoaders } from './loaders.ts';
import { archiveModels } from './models.ts';
import { markOverdue } from './lifecycle/borrowing.ts';
import { initArchiveLifecycle } from './lifecycle/init.ts';
import { lifecycleResolvers } from './lifecycle/resolvers.ts';
import { type CloseReadiness, periodCloseRoute } from './close/periods.ts';
import { periodModel } from './close/period-model.ts';
import { closeResolvers } from './close/resolvers.ts';
import { handoverResolvers } from './close/handover-resolvers.ts';
import { lineModel, registerModel } from './close/handover-model.ts';
import { resumeHandovers } from './close/handover-transfer.ts';
import { resumeCloses } from './close/periods.ts';
import { archiveResolvers } from './resolvers.ts';
import { type ArchiveSealOptions, ArchiveSeals } from './seals.ts';
import { ArchiveFiles, type OriginalsSource } from './originals/store.ts';
import { archiveFilesRoute } from './originals/http.ts';
import { heldByLiveRecord } from './originals/package.ts';
import { recordsTransaction } from './history.ts';
import { archivePackagesRoute } from './handover/http.ts';
import { ReplayCache } from '../../platform/identity.ts';

export const ARCHIVE_SDL_PATHS = [new URL('../../schema/archive.graphql', import.meta.url), new URL('../../schema/archive-lifecycle.graphql', import.meta.url)];

/** The identity timers act as (overdue loans). */
const TIMER_PRINCIPAL: Principal = { sub: 'archive-timer', roles: [], departmentId: null, kind: 'service' };

/** Both resolver maps, merged type by type (ArchiveRecord has fields from each). */
function mergeResolvers(...maps: Array<Record<string, object>>): Record<string, object> {
  const out: Record<string, object> = {};
  for (const map of maps) for (const [type, fields] of Object.entries(map)) out[type] = out[type] && typeof fields === 'object' && !(fields instanceof GraphQLScalarType) ? { ...out[type], ...fields } : fields;
  return out;
}

export interface ArchiveSubgraphOptions {
  connection: Connection;
  logger: Logger;
  internalSecret: string;
  production: boolean;
  settings: ArchiveSettings;
  /** The organisation, for approval routes (borrowing, destruction): oa's directory port (subgraphs/oa/ports.ts). */
  directory: Directory;
  publicRoutes?: Route[];
  clock?: () => Date;
  /** The key and directory that seal chain heads (seals.ts); production always has them (scripts/archive-options.ts). */
  seal?: ArchiveSealOptions;
  /** Claims' original documents, copied when their vouchers are filed: oa's attachments port (subgraphs/oa/ports.ts). */
  originals?: OriginalsSource;
  /** Whether a month may be closed (close/periods.ts): the sync module's readiness port (subgraphs/sync/ports.ts). */
  closeReadiness?: CloseReadiness;
}

export async function createArchiveSubgraph(opts: ArchiveSubgraphOptions): Promise<{ subgraph: Subgraph<ArchiveContext>; services: ArchiveServices }> {
  const models = archiveModels(opts.connection);
  await Promise.all(Object.values(models).map((m) => m.init()));
  const events = new EventLog(opts.connection);
  await events.events.init();
  const workflow = new WorkflowEngine({ connection: opts.connection, directory: opts.directory, events, clock: opts.clock });
  await workflow.init();
  const services: ArchiveServices = { connection: opts.connection, models, workflow, events, settings: opts.settings, directory: opts.directory, clock: opts.clock, originals: opts.originals, closeReadiness: opts.closeReadiness };
  await new ArchiveFiles(opts.connection).init();
  const routes = await initArchiveLifecycle(services);
  await Promise.all([periodModel(opts.connection).init(), registerModel(opts.connection).init(), lineModel(opts.connection).init()]);
  const periodClose = await workflow.saveDefinition(periodCloseRoute());
  opts.logger.info({ ...routes, periodClose: periodClose.version }, 'archive approval routes ready (borrowing, destruction, period close)');
  if (opts.seal) {
    // After the histories are adopted: an archive from before seals is sealed from its current heads on.
    services.seals = new ArchiveSeals(opts.connection, opts.seal);
    await services.seals.sealAll();
    opts.logger.info({ alg: opts.seal.key.alg, keyId: opts.seal.key.keyId, dir: opts.seal.dir }, 'archive chain heads sealed');
  }
  // GET /internal/archive-files/<id> (originals/http.ts) checks its own identity; one replay memory with /graphql.
  const replay = new ReplayCache();
  const subgraph = new Subgraph<ArchiveContext>({
    name: 'archive',
    typeDefs: parse(ARCHIVE_SDL_PATHS.map((p) => readFileSync(p, 'utf8')).join('\n')),
    resolvers: mergeResolvers(archiveResolvers as Record<string, object>, lifecycleResolvers as Record<string, object>, closeResolvers as Record<string, object>, handoverResolvers as Record<string, object>) as GraphQLResolverMap<ArchiveContext>,
    secret: opts.internalSecret,
    connection: opts.connection,
    logger: opts.logger,
    production: opts.production,
    publicRoutes: [...(opts.publicRoutes ?? []), archiveFilesRoute({ services, secret: opts.internalSecret, logger: opts.logger, replay }), archivePackagesRoute({ services, secret: opts.internalSecret, logger: opts.logger, replay })],
    replayCache: replay,
    context: (principal, origin) => ({ ...services, principal, origin, loaders: createArchiveLoaders(services, principal) }),
  });
  return { subgraph, services };
}

export interface RunningArchive {
  url: string;
  port: number;
  /** The address the server is bound to. */
  address: string;
  services: ArchiveServices;
  close(): Promise<void>;
}

/** Serves the subgraph on a port and marks overdue loans on a timer (each raises LOAN_OVERDUE once). */
export async function startArchiveSubgraph(opts: ArchiveSubgraphOptions & { port: number; host?: string; overdueIntervalMs: number }): Promise<RunningArchive> {
  const { subgraph, services } = await createArchiveSubgraph(opts);
  const running = await subgraph.listen(opts.port, opts.host);
  const sweeping = new WorkerLoop({
    work: async () => {
      const overdue = await markOverdue(services, TIMER_PRINCIPAL);
      if (overdue) opts.logger.info({ overdue }, 'loans marked overdue');
      // Heads moved by lifecycle changes and reads (history, access log) are sealed here as well as at filings.
      await services.seals?.sealAll();
      // Copies of originals no record lists, past their grace period (originals/store.ts sweepOrphans).
      const orphans = await new ArchiveFiles(services.connection).sweepOrphans(
        (fn) => recordsTransaction(services.connection, fn),
        heldByLiveRecord(services),
      );
      if (orphans.length) opts.logger.info({ orphans: orphans.length }, 'copies of originals no record lists deleted');
    },
    logger: opts.logger,
    failure: 'marking overdue loans failed',
  });
  sweeping.start(opts.overdueIntervalMs);
  // Work too long for a caller to wait: months whose close was asked for (their documents generated) and registers
  // passing custody; woken by the request that starts it, and at start (after a restart). A stop ends a transfer
  // between two batches.
  const background: WorkerLoop = new WorkerLoop({
    work: async () => {
      const stopped = () => background.stopped;
      const periods = await resumeCloses(services, { stopped });
      if (periods) opts.logger.info({ periods }, 'period closes generated');
      const registers = await resumeHandovers(services, { stopped });
      if (registers) opts.logger.info({ registers }, 'transfer registers passed custody');
    },
    logger: opts.logger,
    failure: 'generating a period close or passing custody of a transfer register failed',
    runOnStart: true,
  });
  services.background = { wake: () => background.wake() };
  background.start(opts.overdueIntervalMs);
  opts.logger.info({ url: running.url }, 'archive subgraph listening');
  return {
    url: running.url,
    port: running.port,
    address: running.address,
    services,
    close: async () => {
      await sweeping.stop();
      await background.stop();
      await running.close();
      // Heads sealed by the last filings are still written into the audit trail (best effort, bounded by its timeout).
      await services.seals?.announced();
    },
  };
}
