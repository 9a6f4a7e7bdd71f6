// Resolvers of the sync subgraph. Entities of other subgraphs (claim, voucher, archive record) are returned as
// references; the gateway resolves them from their own subgraphs under the caller's scope.
import { DateScalar, DateTimeScalar, MoneyScalar, badInput, forbidden, notFound } from '../../platform/graphql.ts';
import { toObjectId } from '../../platform/ids.ts';
import type { DomainEvent } from '../../platform/events.ts';
import { type SyncContext, eventScope, requireRole } from './context.ts';
import type { Resolvers } from './generated/graphql.ts';
import type { ReconciliationDoc, SyncJobDoc, SyncJobStatus } from './models.ts';
import { reconcile } from './reconcile.ts';
import { syncStatus } from './status.ts';
import { ruleViews } from './alerts/rules.ts';
import { syncStatistics } from './statistics.ts';
import { auditResolvers, auditTrailFor } from './audit/index.ts';
import { systemStatus } from './alerts/system-status.ts';
import { SYNC_EVENT_TYPES, type SyncEventView, formatSeq, parseSeq, toSyncEvent } from './sync-events.ts';

const ref = (id: string | null | undefined) => (id ? { id } : null);
const idOf = (d: { _id: { toHexString(): string } }) => d._id.toHexString();

function boundedFirst(first: number | null | undefined, max: number, fallback: number): number {
  const n = first ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > max) throw badInput(`first must be 1 to ${max}`, 'first');
  return n;
}

export async function readSyncEvents(ctx: SyncContext, args: { after?: string | null; first?: number | null; types?: string[] | null; claimId?: string | null }): Promise<SyncEventView[]> {
  const after = parseSeq(args.after);
  const first = boundedFirst(args.first, 500, 100);
  const types = args.types?.length ? args.types : [...SYNC_EVENT_TYPES];
  const claim = args.claimId ? { 'subject.type': 'ExpenseClaim', 'subject.id': args.claimId } : {};
  const filter = { $and: [{ seq: { $gt: after }, type: { $in: types }, ...claim }, eventScope(ctx.principal)] };
  const events = await ctx.events.events.find(filter, { _id: 0 }).sort({ seq: 1 }).limit(first).lean<DomainEvent[]>();
  return events.map(toSyncEvent);
}

const JOB_STATUSES: readonly SyncJobStatus[] = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DEAD'];

const audit = auditResolvers((ctx) => auditTrailFor(ctx.connection));

export const resolvers: Resolvers = {
  Money: MoneyScalar,
  DateTime: DateTimeScalar,
  Date: DateScalar,

  Query: {
    ...audit.Query,
    syncEvents: (_, args, ctx) => readSyncEvents(ctx, args),

    syncEventHead: async (_, __, ctx) =>
      formatSeq((await ctx.events.events.findOne({}, { seq: 1, _id: 0 }).sort({ seq: -1 }).lean<{ seq: number }>())?.seq ?? 0),

    syncJobs: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN', 'AUDITOR');
      const first = boundedFirst(args.first, 200, 20);
      if (args.status && !JOB_STATUSES.includes(args.status)) throw badInput('unknown status', 'status');
      // Oldest first among the unfinished (the ones to act on); newest first among the finished.
      const filter = args.status ? { status: args.status } : {};
      const sort: Record<string, 1 | -1> = args.status === 'SUCCEEDED' || !args.status ? { createdAt: -1 } : { eventSeq: 1 };
      return ctx.models.SyncJob.find(filter).sort(sort).limit(first).lean<SyncJobDoc[]>();
    },

    syncStatus: async (_, __, ctx) => {
      requireRole(ctx, 'ADMIN', 'AUDITOR');
      return syncStatus(ctx.models, ctx.events);
    },

    reconciliations: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'AUDITOR');
      return ctx.models.Reconciliation.find().sort({ ranAt: -1 }).limit(boundedFirst(args.first, 100, 20)).lean<ReconciliationDoc[]>();
    },

    systemStatus: async (_, __, ctx) => {
      requireRole(ctx, 'ADMIN', 'AUDITOR');
      return systemStatus(ctx.statusSources);
    },

    alerts: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN', 'AUDITOR');
      return ctx.alerts.list(args.status, args.first ?? 50);
    },

    alertEvents: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN', 'AUDITOR');
      return ctx.alerts.raisedAfter(args.after, args.first ?? 100);
    },

    syncStatistics: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN', 'AUDITOR', 'ACCOUNTANT', 'FINANCE_DIRECTOR');
      return syncStatistics(ctx.models, ctx.reconcile.timeZone, args.from, args.to);
    },

    alertRules: async (_, __, ctx) => {
      requireRole(ctx, 'ADMIN', 'AUDITOR');
      return ruleViews(ctx.monitor.settings);
    },

    webhooks: async (_, __, ctx) => {
      requireRole(ctx, 'ADMIN');
      return ctx.webhooks.list();
    },

    webhookDeliveries: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN');
      const page = await ctx.webhooks.deliveries({ webhookId: args.webhookId ?? undefined, status: args.status ?? undefined, first: args.first ?? 20 });
      return page.items;
    },
  },

  Mutation: {
    ...audit.Mutation,
    retrySyncJob: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN');
      if (!toObjectId(args.id)) throw notFound('Sync job');
      const job = await ctx.pipeline.retry(args.id);
      if (!job) throw notFound('Sync job');
      return job;
    },

    reconcile: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'AUDITOR');
      return reconcile(ctx.reconcile, args.fiscalYear, args.period, 'MANUAL', ctx.principal.sub);
    },

    acknowledgeAlert: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN');
      return ctx.alerts.acknowledge(args.id, ctx.principal.sub);
    },

    resolveAlert: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN');
      return ctx.alerts.resolve(args.id, ctx.principal.sub, args.resolution);
    },

    runAlertAction: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN');
      return ctx.alerts.runAction(args.id, ctx.principal.sub, args.kind);
    },

    reportGateway: async (_, args, ctx) => {
      if (ctx.principal.kind !== 'service') throw forbidden('Gateways report with a service identity');
      const { id, openSubscriptions } = args.input;
      if (!/^[\w.:-]{1,100}$/.test(id)) throw badInput('id must be 1 to 100 letters, digits, dots, colons or dashes', 'id');
      if (!Number.isInteger(openSubscriptions) || openSubscriptions < 0) throw badInput('openSubscriptions must be a non-negative integer', 'openSubscriptions');
      await ctx.ops.GatewayInstance.updateOne({ _id: id }, { $set: { openSubscriptions, seenAt: new Date() } }, { upsert: true });
      return true;
    },

    registerWebhook: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN');
      return ctx.webhooks.register({ url: args.url, types: args.types, secret: args.secret }, ctx.principal.sub);
    },

    setWebhookActive: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN');
      return ctx.webhooks.setActive(args.id, args.active);
    },

    replayWebhookDelivery: async (_, args, ctx) => {
      requireRole(ctx, 'ADMIN');
      return ctx.webhooks.replay(args.id);
    },
  },

  SyncEvent: {
    claim: (e) => ref(e.claimId),
    voucher: (e) => ref(e.voucherId),
    archiveRecord: (e) => ref(e.archiveRecordId),
  },

  SyncJob: {
    __resolveReference: async (r, ctx) => {
      if (!ctx.principal.roles.some((role) => role === 'ADMIN' || role === 'AUDITOR')) return null;
      return toObjectId(r.id) ? ctx.models.SyncJob.findById(r.id).lean<SyncJobDoc>() : null;
    },
    id: idOf,
    claim: (j) => ({ id: j.claimId }),
    voucher: (j) => ref(j.voucherId),
    archiveRecord: (j) => ref(j.archiveRecordId),
    // A RUNNING job shows when it would be taken over; only FAILED ones wait for nextAttemptAt.
    nextAttemptAt: (j) => (j.status === 'FAILED' ? j.nextAttemptAt : null),
  },

  SyncStatus: {
    position: (s) => formatSeq(s.position),
    head: (s) => formatSeq(s.head),
  },

  Reconciliation: { id: idOf },

  Alert: {
    id: idOf,
    actions: (a) => a.actions ?? [],
  },

  WebhookDelivery: {
    type: (d) => d.eventType as SyncEventView['type'],
  },

  ReconciliationDifference: {
    expected: (d) => d.expectedFen,
    actual: (d) => d.actualFen,
  },
};
