// The `oa` subgraph: organisation, expense claims and their approval, served as an Apollo Federation 2 subgraph.
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import type { Connection } from 'mongoose';
import { EventLog } from '../../platform/integration/events.ts';
import { WorkerLoop } from '../../platform/integration/worker-loop.ts';
import type { Logger } from '../../platform/logger.ts';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { type Route, Subgraph } from '../../platform/subgraph.ts';
import { ReplayCache } from '../../platform/identity.ts';
import { filesRoute } from './attachments/http.ts';
import { AttachmentStore, type AttachmentSettings } from './attachments/store.ts';
import { type InvoiceSettings, NO_INVOICE_SETTINGS } from './attachments/invoice-support.ts';
import { invoiceVerifier } from './invoices/verifier.ts';
import { WorkflowEngine } from '../../platform/workflow/engine.ts';
import { expenseRoute } from '../../platform/workflow/expense-route.ts';
import { EXPENSE_ROUTE_KEY, type OaContext, type OaServices, type OaSettings } from './context.ts';
import { applyExternalClaim } from './claims.ts';
import { createConnectors } from './connectors/index.ts';
import type { ClaimSink, InstanceDetails } from './connectors/types.ts';
import { createLoaders } from './loaders.ts';
import { oaModels } from './models.ts';
import { oaDirectory } from './organisation.ts';
import { resolvers } from './resolvers.ts';

export const OA_SDL_PATH = new URL('../../schema/oa.graphql', import.meta.url);

export interface OaSubgraphOptions {
  connection: Connection;
  logger: Logger;
  internalSecret: string;
  production: boolean;
  settings: OaSettings;
  publicRoutes?: Route[];
  clock?: () => Date;
  /** Environment the OA platform connectors read (FEISHU_*, DINGTALK_*, CONNECTOR_*); none configured: no connectors. */
  connectorEnv?: Readonly<Record<string, string | undefined>>;
  /** Replaces the connectors' HTTP instance-detail clients (tests). */
  connectorDetails?: InstanceDetails;
  /** Limits and lifetime of uploads (FILE_MAX_BYTES, CLAIM_FILES_MAX_BYTES, ATTACHMENT_TTL_HOURS; defaults otherwise). */
  attachments?: Partial<AttachmentSettings>;
  /** COMPANY_TAX_ID and INVOICE_VERIFIER_URL/_TIMEOUT_MS (default: neither configured). */
  invoices?: InvoiceSettings;
}

/** Builds the services (models, workflow with the default expense route, event log) and the subgraph. */
export async function createOaSubgraph(opts: OaSubgraphOptions): Promise<{ subgraph: Subgraph<OaContext>; services: OaServices }> {
  const models = oaModels(opts.connection);
  await Promise.all(Object.values(models).map((m) => m.init()));
  const events = new EventLog(opts.connection);
  await events.events.init();
  const workflow = new WorkflowEngine({ connection: opts.connection, directory: oaDirectory({ models }), events, clock: opts.clock });
  await workflow.init();
  const route = await workflow.saveDefinition(expenseRoute(opts.settings.approvalThresholdFen));
  opts.logger.info({ key: EXPENSE_ROUTE_KEY, version: route.version }, 'expense approval route ready');
  const attachments = new AttachmentStore(opts.connection, opts.attachments, opts.clock);
  await attachments.init();
  const invoices = opts.invoices ?? NO_INVOICE_SETTINGS;
  const services: OaServices = { connection: opts.connection, models, workflow, events, settings: opts.settings, connectors: null, attachments, invoices };
  const sink: ClaimSink = { applyExternal: (claim) => applyExternalClaim(services, claim) };
  const verifier = invoiceVerifier({ url: invoices.verifier?.url, timeoutMs: invoices.verifier?.timeoutMs });
  services.connectors = await createConnectors({ env: opts.connectorEnv ?? {}, connection: opts.connection, sink, logger: opts.logger, details: opts.connectorDetails, attachments, verifier });
  if (services.connectors) opts.logger.info({ platforms: Object.keys(services.connectors.config).filter((k) => k === 'feishu' || k === 'dingtalk') }, 'OA platform connectors ready');
  // POST /internal/files (./attachments/http.ts) checks its own identity; one replay memory with /graphql.
  const replay = new ReplayCache();
  const files = filesRoute({ store: attachments, models, secret: opts.internalSecret, logger: opts.logger, replay, verifier });
  const subgraph = new Subgraph<OaContext>({
    name: 'oa',
    typeDefs: parse(readFileSync(OA_SDL_PATH, 'utf8')),
    resolvers: resolvers as GraphQLResolverMap<OaContext>,
    secret: opts.internalSecret,
    connection: opts.connection,
    logger: opts.logger,
    production: opts.production,
    publicRoutes: [...(opts.publicRoutes ?? []), files, ...(services.connectors ? [services.connectors.handler] : [])],
    replayCache: replay,
    context: (principal, origin) => ({ ...services, principal, origin, loaders: createLoaders(services, principal) }),
  });
  return { subgraph, services };
}

export interface RunningOa {
  url: string;
  port: number;
  /** The address the server is bound to. */
  address: string;
  services: OaServices;
  close(): Promise<void>;
}

/** Serves the subgraph on a port and escalates overdue approval steps on a timer. */
export async function startOaSubgraph(opts: OaSubgraphOptions & { port: number; host?: string; escalationIntervalMs: number }): Promise<RunningOa> {
  const { subgraph, services } = await createOaSubgraph(opts);
  const running = await subgraph.listen(opts.port, opts.host);
  // Escalation and connector redelivery are independent: a loop each, so one slow or failing never holds up the other.
  const loops = [
    new WorkerLoop({
      work: async () => {
        const escalated = await services.workflow.escalateDue();
        if (escalated) opts.logger.info({ escalated }, 'approval steps escalated');
      },
      logger: opts.logger,
      failure: 'escalating overdue approval steps failed',
    }),
  ];
  // Unreferenced uploads past their expiry, a few per pass (./attachments/store.ts).
  loops.push(
    new WorkerLoop({
      work: async () => {
        const swept = await services.attachments.sweep();
        if (swept) opts.logger.info({ swept }, 'expired attachment uploads deleted');
      },
      logger: opts.logger,
      failure: 'deleting expired attachment uploads failed',
    }),
  );
  const { connectors } = services;
  if (connectors) {
    loops.push(
      new WorkerLoop({
        work: async () => {
          const redelivered = await connectors.redeliver();
          if (redelivered) opts.logger.info({ redelivered }, 'inbound platform events retried');
        },
        logger: opts.logger,
        failure: 'retrying inbound platform events failed',
      }),
    );
  }
  for (const loop of loops) loop.start(opts.escalationIntervalMs);
  opts.logger.info({ url: running.url }, 'oa subgraph listening');
  return {
    url: running.url,
    port: running.port,
    address: running.address,
    services,
    close: async () => {
      await Promise.all(loops.map((loop) => loop.stop()));
      await running.close();
    },
  };
}
