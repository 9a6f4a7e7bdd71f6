// The `archive` subgraph: vouchers, archive records, retention, fixity, and their lifecycle.
import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { parse } from 'graphql';
import type { Connection } from 'mongoose';
import { EventLog } from '../../platform/events.ts';
import type { Logger } from '../../platform/logger.ts';
import { type Route, Subgraph } from '../../platform/subgraph.ts';
import { WorkflowEngine } from '../../platform/workflow/engine.ts';
import type { Directory } from '../../platform/workflow/types.ts';
import type { ArchiveContext, ArchiveServices, ArchiveSettings } from './context.ts';
import { createArchiveLoaders } from './loaders.ts';
import { archiveModels } from './models.ts';
import { archiveResolvers } from './resolvers.ts';

export const ARCHIVE_SDL_PATHS = [new URL('../../schema/archive.graphql', import.meta.url)];

export interface ArchiveSubgraphOptions {
  connection: Connection;
  logger: Logger;
  internalSecret: string;
  production: boolean;
  settings: ArchiveSettings;
  /** The organisation, for approval routes (borrowing, destruction). */
  directory: Directory;
  publicRoutes?: Route[];
  clock?: () => Date;
}

export async function createArchiveSubgraph(opts: ArchiveSubgraphOptions): Promise<{ subgraph: Subgraph<ArchiveContext>; services: ArchiveServices }> {
  const models = archiveModels(opts.connection);
  await Promise.all(Object.values(models).map((m) => m.init()));
  const events = new EventLog(opts.connection);
  await events.events.init();
  const workflow = new WorkflowEngine({ connection: opts.connection, directory: opts.directory, events, clock: opts.clock });
  await workflow.init();
  const services: ArchiveServices = { connection: opts.connection, models, workflow, events, settings: opts.settings };
  const subgraph = new Subgraph<ArchiveContext>({
    name: 'archive',
    typeDefs: parse(ARCHIVE_SDL_PATHS.map((p) => readFileSync(p, 'utf8')).join('\n')),
    resolvers: archiveResolvers as GraphQLResolverMap<ArchiveContext>,
    secret: opts.internalSecret,
    logger: opts.logger,
    production: opts.production,
    publicRoutes: opts.publicRoutes,
    context: (principal) => ({ ...services, principal, loaders: createArchiveLoaders(services, principal) }),
  });
  return { subgraph, services };
}
