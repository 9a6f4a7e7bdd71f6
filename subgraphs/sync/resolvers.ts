// Resolvers of the sync fields (schema/sync.graphql). Entities of other subgraphs (claim, voucher, archive record)
// are returned as references; the gateway resolves them from their own subgraphs under the caller's scope.
import { DateScalar, DateTimeScalar, MoneyScalar, badInput, notFound } from '../../platform/graphql.ts';
import { hasAnyRole } from '../../platform/identity.ts';
import { toObjectId } from '../../platform/ids.ts';
import { keysetAfter } from '../../platform/paging.ts';
import type { DomainEvent } from '../../platform/integration/events.ts';
import { ROW_SCOPES, readsAllRows, rolesFor } from '../../schema/permissions.ts';
import type { Principal } from '../../platform/identity.ts';
import { type SyncContext, eventScope, requireRole } from './context.ts';
import type { Resolvers } from './generated/graphql.ts';
import type { ReconciliationDoc, SyncJobDoc, SyncJobStatus } from './models.ts';
import { apiKeyMutations, apiKeyQueries } from './api-keys/resolvers.ts';
import { reconcile } from './reconcile.ts';
import { syncStatus } from './status.ts';
import { SYNC_EVENT_TYPES, type SyncEventView, formatSeq, parseSeq, toSyncEvent } from './sync-events.ts';

const ref = (id: string | null | undefined) => (id ? { id } : null);

/**
 * Whether the caller's row scope of `entity` covers the event's claim: every row; or a user's own claim, or their
 * department's for a department role. Events that do not say whose claim they are leave it to the owning subgraph.
 */
function mayFollow(p: Principal, entity: 'ExpenseClaim' | 'Voucher' | 'ArchiveRecord', e: SyncEventView): boolean {
  if (readsAllRows(p, entity)) return true;
  if (p.kind !== 'user') return false;
  if (e.applicantId === null) return true;
  if (e.applicantId === p.sub) return true;
  return p.departmentId !== null && e.departmentId === p.departmentId && ROW_SCOPES[entity].department.some((r) => p.roles.includes(r));
}
const idOf = (d: { _id: { toHexString(): string } }) => d._id.toHexString();

function boundedFirst(first: number | null | undefined, max: number, fallback: number): number {
  const n = first ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > max) throw badInput(`first must be 1 to ${max}`, 'first');
  return n;
}

export async function readSyncEvents(ctx: SyncContext, args: { after?: string | null; before?: string | null; first?: number | null; types?: string[] | null; claimId?: string | null }): Promise<SyncEventView[]> {
  const after = parseSeq(args.after);
  // `before`: the page that ends just before that seq (paging back from the oldest event a client shows).
  const before = args.before != null ? parseSeq(args.before, 'before') : null;
  const first = boundedFirst(args.first, 500, 100);
  const types = args.types?.length ? args.types : [...SYNC_EVENT_TYPES];
  const claim = args.claimId ? { 'subject.type': 'ExpenseClaim', 'subject.id': args.claimId } : {};
  // Only up to the log's horizon: a seq still to commit below an event read would be passed for good.
  const horizon = await ctx.events.horizon();
  const upTo = before === null ? horizon : Math.min(horizon, before - 1);
  if (upTo <= after) return [];
  const filter = { $and: [{ seq: { $gt: after, $lte: upTo }, type: { $in: types }, ...claim }, eventScope(ctx.principal)] };
  // Read in seq order from `after` (or back from `before`) and stop at `first`: without a claim, the seq index. A
  // planner without trial runs (the embedded engine) would otherwise take the scope's equality on subject.type, and
  // read every claim event of the log on each call (40% of the engine's time in the soak after 3 minutes).
  const query = ctx.events.events.find(filter, { _id: 0 }).sort({ seq: before === null ? 1 : -1 }).limit(first);
  const events = await (args.claimId ? query : query.hint({ seq: 1 })).lean<DomainEvent[]>();
  if (before !== null) events.reverse();
  return events.map(toSyncEvent);
}

const JOB_STATUSES: readonly SyncJobStatus[] = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DEAD'];

// The roles of each role-gated field, read once at start-up (rolesFor throws when a field is no longer role-gated).
const ROLES = {
  syncJobs: rolesFor('Query', 'syncJobs'),
  syncStatus: rolesFor('Query', 'syncStatus'),
  reconciliations: rolesFor('Query', 'reconciliations'),
  webhooks: rolesFor('Query', 'webhooks'),
  webhookDeliveries: rolesFor('Query', 'webhookDeliveries'),
  retrySyncJob: rolesFor('Mutation', 'retrySyncJob'),
  correctSyncJob: rolesFor('Mutation', 'correctSyncJob'),
  reconcile: rolesFor('Mutation', 'reconcile'),
  registerWebhook: rolesFor('Mutation', 'registerWebhook'),
  setWebhookActive: rolesFor('Mutation', 'setWebhookActive'),
  updateWebhook: rolesFor('Mutation', 'updateWebhook'),
  deleteWebhook: rolesFor('Mutation', 'deleteWebhook'),
  rotateWebhookSecret: rolesFor('Mutation', 'rotateWebhookSecret'),
  sendTestWebhook: rolesFor('Mutation', 'sendTestWebhook'),
  replayWebhookDelivery: rolesFor('Mutation', 'replayWebhookDelivery'),
  /** A job by reference (SyncJob's own rule). */
  syncJob: rolesFor('SyncJob', 'id'),
};

export const resolvers: Resolvers = {
  Money: MoneyScalar,
  DateTime: DateTimeScalar,
  Date: DateScalar,

  Query: {
    ...apiKeyQueries,
    syncEvents: (_, args, ctx) => readSyncEvents(ctx, args),

    syncEventHead: async (_, __, ctx) => formatSeq(await ctx.events.horizon()),

    syncJobs: async (_, args, ctx) => {
      requireRole(ctx, ROLES.syncJobs);
      const first = boundedFirst(args.first, 200, 20);
      if (args.status && !JOB_STATUSES.includes(args.status)) throw badInput('unknown status', 'status');
      // Oldest first among the unfinished (the ones to act on); newest first among the finished.
      const filter = args.status ? { status: args.status } : {};
      const sort: Record<string, 1 | -1> = args.status === 'SUCCEEDED' || !args.status ? { createdAt: -1, _id: -1 } : { eventSeq: 1, _id: 1 };
      if (args.after != null) {
        const id = toObjectId(args.after);
        const last = id && (await ctx.models.SyncJob.findById(id, { createdAt: 1, eventSeq: 1 }).lean<SyncJobDoc>());
        if (!last) throw badInput('after must be the id of a sync job (the last of the page before)', 'after');
        return ctx.models.SyncJob.find({ $and: [filter, keysetAfter(sort, last as unknown as Record<string, unknown>)] }).sort(sort).limit(first).lean<SyncJobDoc[]>();
      }
      return ctx.models.SyncJob.find(filter).sort(sort).limit(first).lean<SyncJobDoc[]>();
    },

    syncStatus: async (_, __, ctx) => {
      requireRole(ctx, ROLES.syncStatus);
      return syncStatus(ctx.models, ctx.events);
    },

    reconciliations: async (_, args, ctx) => {
      requireRole(ctx, ROLES.reconciliations);
      return ctx.models.Reconciliation.find().sort({ ranAt: -1 }).limit(boundedFirst(args.first, 100, 20)).lean<ReconciliationDoc[]>();
    },

    webhooks: async (_, __, ctx) => {
      requireRole(ctx, ROLES.webhooks);
      return ctx.webhooks.list();
    },

    webhookDeliveries: async (_, args, ctx) => {
      requireRole(ctx, ROLES.webhookDeliveries);
      const page = await ctx.webhooks.deliveries({ webhookId: args.webhookId ?? undefined, status: args.status ?? undefined, first: args.first ?? 20 });
      return page.items;
    },
  },

  Mutation: {
    retrySyncJob: async (_, args, ctx) => {
      requireRole(ctx, ROLES.retrySyncJob);
      if (!toObjectId(args.id)) throw notFound('Sync job');
      const job = await ctx.pipeline.retry(args.id);
      if (!job) throw notFound('Sync job');
      return job;
    },

    correctSyncJob: async (_, args, ctx) => {
      requireRole(ctx, ROLES.correctSyncJob);
      if (!toObjectId(args.id)) throw notFound('Sync job');
      const job = await ctx.pipeline.correct(args.id, args.correction, args.reason, { sub: ctx.principal.sub, roles: ctx.principal.roles });
      if (!job) throw notFound('Sync job');
      return job;
    },

    reconcile: async (_, args, ctx) => {
      requireRole(ctx, ROLES.reconcile);
      return reconcile(ctx.reconcile, args.fiscalYear, args.period, 'MANUAL', ctx.principal.sub);
    },

    registerWebhook: async (_, args, ctx) => {
      requireRole(ctx, ROLES.registerWebhook);
      return ctx.webhooks.register({ url: args.url, types: args.types, secret: args.secret, selection: args.selection ?? null, apiKeyId: args.apiKeyId ?? null }, ctx.principal.sub);
    },

    updateWebhook: async (_, { id, input }, ctx) => {
      requireRole(ctx, ROLES.updateWebhook);
      // null and absent differ: a selection given as null is removed, an absent one kept.
      const given = <K extends keyof typeof input>(k: K) => (Object.hasOwn(input, k) ? { [k]: input[k] } : {});
      if ((Object.hasOwn(input, 'url') && input.url === null) || (Object.hasOwn(input, 'types') && input.types === null) || (Object.hasOwn(input, 'legacyHeaders') && input.legacyHeaders === null)) {
        throw badInput('url, types and legacyHeaders cannot be null; leave them out to keep them', 'input');
      }
      return ctx.webhooks.update(id, { ...given('url'), ...given('types'), ...given('selection'), ...given('apiKeyId'), ...given('legacyHeaders') } as never, ctx.principal.sub);
    },

    deleteWebhook: async (_, args, ctx) => {
      requireRole(ctx, ROLES.deleteWebhook);
      return ctx.webhooks.delete(args.id, ctx.principal.sub);
    },

    rotateWebhookSecret: async (_, args, ctx) => {
      requireRole(ctx, ROLES.rotateWebhookSecret);
      return ctx.webhooks.rotateSecret(args.id, args.secret, args.overlapSeconds ?? 86_400, ctx.principal.sub);
    },

    sendTestWebhook: async (_, args, ctx) => {
      requireRole(ctx, ROLES.sendTestWebhook);
      return ctx.webhooks.sendTest(args.id, ctx.principal.sub);
    },

    setWebhookActive: async (_, args, ctx) => {
      requireRole(ctx, ROLES.setWebhookActive);
      return ctx.webhooks.setActive(args.id, args.active);
    },

    replayWebhookDelivery: async (_, args, ctx) => {
      requireRole(ctx, ROLES.replayWebhookDelivery);
      return ctx.webhooks.replay(args.id);
    },

    ...apiKeyMutations,
  },

  // A reference the caller may not follow is null here, not a FORBIDDEN from its subgraph at every event (ADMIN sees
  // every event, but no claim): decided by the same row scopes (ROW_SCOPES) the owning subgraph applies.
  SyncEvent: {
    claim: (e, _, ctx) => (mayFollow(ctx.principal, 'ExpenseClaim', e) ? ref(e.claimId) : null),
    voucher: (e, _, ctx) => (mayFollow(ctx.principal, 'Voucher', e) ? ref(e.voucherId) : null),
    archiveRecord: (e, _, ctx) => (mayFollow(ctx.principal, 'ArchiveRecord', e) ? ref(e.archiveRecordId) : null),
  },

  SyncJob: {
    __resolveReference: async (r, ctx) => {
      if (!hasAnyRole(ctx.principal, ROLES.syncJob)) return null;
      return toObjectId(r.id) ? ctx.models.SyncJob.findById(r.id).lean<SyncJobDoc>() : null;
    },
    id: idOf,
    claim: (j) => ({ id: j.claimId }),
    voucher: (j) => ref(j.voucherId),
    archiveRecord: (j) => ref(j.archiveRecordId),
    // A RUNNING job shows when it would be taken over; only FAILED ones wait for nextAttemptAt.
    nextAttemptAt: (j) => (j.status === 'FAILED' ? j.nextAttemptAt : null),
    corrections: (j) => j.corrections ?? [],
    usabilityProblems: (j) => j.usabilityProblems ?? [],
  },

  SyncStatus: {
    position: (s) => formatSeq(s.position),
    head: (s) => formatSeq(s.head),
  },

  Reconciliation: { id: idOf },

  WebhookDelivery: {
    type: (d) => d.eventType as SyncEventView['type'],
  },

  ReconciliationDifference: {
    expected: (d) => d.expectedFen,
    actual: (d) => d.actualFen,
  },
};
