// What the sync module lends operations in-process (docs/architecture.md, "Ownership rules"): its state as system
// status, the status history, sync statistics and the alert rules read it, over sync's own models. Operations
// declares the port (subgraphs/operations/ports.ts, SyncMonitor); subgraphs/sync-service.ts builds this over the sync
// module's models and event log and hands it in. Each method is the query operations ran before it was moved here.
import type { Connection } from 'mongoose';
import type { EventLog } from '../../platform/integration/events.ts';
import { nearestRankExpr } from '../../platform/business-time.ts';
import { type SyncModels, USABILITY_PROBLEMS_INDEX } from './models.ts';
import { type SyncStatisticRowView, syncStatistics } from './statistics.ts';
import { LAG_WINDOW_MS, type SyncStatusView, oldestUnfiledApproval, syncStatus } from './status.ts';
import { type WebhookDeliveryDoc, webhookModels } from './webhooks/models.ts';

export interface SyncMonitorSources {
  connection: Connection;
  models: SyncModels;
  events: EventLog;
}

export function syncMonitor({ connection, models, events }: SyncMonitorSources) {
  return {
    lagWindowMs: LAG_WINDOW_MS,

    status: (now?: Date): Promise<SyncStatusView> => syncStatus(models, events, now),

    oldestUnfiledApproval: (): Promise<Date | null> => oldestUnfiledApproval(models),

    /** How many jobs completed in (since, now], and the p95 of their lag: one aggregation, one row back. */
    async completedBetween(since: Date, now: Date): Promise<{ synced: number; lagP95Ms: number | null }> {
      const [row] = await models.SyncJob.aggregate<{ synced: number; lagP95Ms?: number }>([
        // The completedAt range alone first, so the planner takes that index (as statistics.ts does).
        { $match: { completedAt: { $gt: since, $lte: now } } },
        { $match: { status: 'SUCCEEDED' } },
        { $group: { _id: null, synced: { $sum: 1 }, lags: { $push: '$lagMs' } } },
        { $project: { synced: 1, lags: { $sortArray: { input: { $filter: { input: '$lags', as: 'lag', cond: { $isNumber: '$$lag' } } }, sortBy: 1 } } } },
        { $project: { _id: 0, synced: 1, lagP95Ms: nearestRankExpr('$lags', 95) } },
      ]);
      return { synced: row?.synced ?? 0, lagP95Ms: row?.lagP95Ms ?? null };
    },

    statistics: (timeZone: string, from: string, to: string): Promise<SyncStatisticRowView[]> => syncStatistics(models, timeZone, from, to),

    async deadJobs(limit: number): Promise<Array<{ id: string; claimNo: string; claimId: string; lastError: string | null }>> {
      const dead = await models.SyncJob.find({ status: 'DEAD' }, { claimNo: 1, claimId: 1, lastError: 1 }).limit(limit).lean<{ _id: { toHexString(): string }; claimNo: string; claimId: string; lastError: string | null }[]>();
      return dead.map((j) => ({ id: j._id.toHexString(), claimNo: j.claimNo, claimId: j.claimId, lastError: j.lastError }));
    },

    async jobsWithUsabilityProblems(limit: number): Promise<Array<{ claimNo: string; claimId: string; archiveRecordId: string | null; usabilityProblems: string[] }>> {
      // A string among the problems: a list that is not empty. Off the partial index of those jobs alone (models.ts),
      // built by the model's init (a hint naming an index that does not exist is an error).
      await models.SyncJob.init();
      return models.SyncJob.find({ status: 'SUCCEEDED', usabilityProblems: { $type: 'string' } }, { claimNo: 1, claimId: 1, archiveRecordId: 1, usabilityProblems: 1 })
        .hint(USABILITY_PROBLEMS_INDEX)
        .sort({ completedAt: -1 })
        .limit(limit)
        .lean<{ claimNo: string; claimId: string; archiveRecordId: string | null; usabilityProblems: string[] }[]>();
    },

    /** The latest reconciliation of each period, those with at least `atLeast` differences. */
    async periodsWithDifferences(atLeast: number): Promise<Array<{ fiscalYear: number; period: number; differences: number }>> {
      const latest = await models.Reconciliation.aggregate<{ _id: { y: number; p: number }; differences: number }>([
        { $sort: { ranAt: -1 } },
        { $group: { _id: { y: '$fiscalYear', p: '$period' }, differences: { $first: { $size: '$differences' } } } },
        { $match: { differences: { $gte: atLeast } } },
      ]);
      return latest.map((r) => ({ fiscalYear: r._id.y, period: r._id.p, differences: r.differences }));
    },

    async failingWebhooks(): Promise<number> {
      return (await webhookModels(connection).WebhookDelivery.distinct('webhookId', { status: { $in: ['FAILED', 'DEAD'] } })).length;
    },

    async deadDeliveryCount(): Promise<number> {
      return webhookModels(connection).WebhookDelivery.countDocuments({ status: 'DEAD' });
    },

    async deadDeliveries(limit: number): Promise<Array<{ id: string; eventType: string; lastError: string | null }>> {
      const dead = await webhookModels(connection)
        .WebhookDelivery.find({ status: 'DEAD' }, { webhookId: 1, eventType: 1, lastError: 1 })
        .limit(limit)
        .lean<Pick<WebhookDeliveryDoc, '_id' | 'webhookId' | 'eventType' | 'lastError'>[]>();
      return dead.map((d) => ({ id: String(d._id), eventType: d.eventType, lastError: d.lastError }));
    },
  };
}
