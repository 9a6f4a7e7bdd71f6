// The anomaly rules. Each reads the state it watches (operations' own collections, sync's state and the archive's
// access counts through their ports, or probes) and says which alerts should be open; the service deduplicates.
// Thresholds, windows and severities come from ALERT_RULES, over the defaults below. Rules never load unbounded data:
// they aggregate in the database.
import type { Connection } from 'mongoose';
import type { EventLog } from '../../../platform/integration/events.ts';
import type { SyncMonitor, SyncStatusView } from '../ports.ts';
import type { SubgraphHealthDoc } from './models.ts';
import type { RaiseInput } from './service.ts';
import type { Severity } from './models.ts';
import { clip } from '../../../platform/text-policy.ts';

export interface RuleSettings {
  enabled: boolean;
  severity: Severity;
  threshold: number;
  windowMs: number;
  /** BULK_ACCESS: how many times the user's usual rate counts as far more. */
  factor?: number;
  /** How long a condition must hold before its alert opens (flapping damped; 0: at once). */
  openAfterMs: number;
  /** How long a condition must stay clear before its open alert is resolved by the system. */
  closeAfterMs: number;
}

/** Damping every rule has unless ALERT_RULES says otherwise: open at once, close after a minute clear. */
const DAMPING = { openAfterMs: 0, closeAfterMs: 60_000 } as const;

export type RuleOverrides = Readonly<Record<string, Partial<RuleSettings>>>;

/** The archive's access counts (subgraphs/archive/ports.ts), handed in by whoever assembles the process. */
export interface ArchiveAccessCounts {
  accessCounts(q: { from: Date; to?: Date; actorIds?: readonly string[]; atLeast?: number; limit?: number }): Promise<{ actorId: string; n: number }[]>;
}

/** The archive's custody of each year (subgraphs/archive/ports.ts), for HANDOVER_OVERDUE. */
export interface ArchiveCustodyYears {
  yearsNotHandedOver(beforeYear: number): Promise<Array<{ fiscalYear: number; records: number }>>;
}

export interface RuleContext {
  now: Date;
  connection: Connection;
  /** The sync module's jobs, reconciliations and webhook deliveries (its port, ../ports.ts). */
  sync: SyncMonitor;
  events: EventLog;
  /** BULK_ACCESS: how often each user read or borrowed archive records. */
  archiveAccess: ArchiveAccessCounts;
  /** HANDOVER_OVERDUE: the years the accounting department still holds; absent, the rule does not look. */
  archiveCustody?: ArchiveCustodyYears;
  status(): Promise<SyncStatusView>;
  /** Probes the subgraphs (and stores the outcome). */
  probe(): Promise<SubgraphHealthDoc[]>;
  /** Asks the archive to verify its fixity chain. */
  verifyChain(): Promise<{ ok: boolean; firstBrokenArchiveNo: string | null; problem: string | null }>;
  /** When the rule last ran (ms since the epoch; 0 never): slow checks run once per window. */
  lastRun(rule: string): number;
}

export interface Rule {
  name: string;
  description: string;
  defaults: Omit<RuleSettings, keyof typeof DAMPING>;
  /**
   * Every condition that holds now, one alert each (an open alert whose condition is not among them has cleared);
   * null when the rule did not look this time (a check run once per window), which clears nothing.
   */
  evaluate(ctx: RuleContext, s: RuleSettings): Promise<RaiseInput[] | null>;
}

const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;

export const RULES: readonly Rule[] = [
  {
    name: 'SYNC_FAILURES',
    description: 'Sync job failures (SYNC_FAILED) within the window reach the threshold.',
    defaults: { enabled: true, severity: 'WARNING', threshold: 5, windowMs: 5 * 60_000 },
    async evaluate(ctx, s) {
      const n = await ctx.events.events.countDocuments({ type: 'SYNC_FAILED', occurredAt: { $gte: new Date(ctx.now.getTime() - s.windowMs) } });
      return n >= s.threshold ? [{ rule: this.name, severity: s.severity, subject: 'sync', message: `${n} sync failures in the last ${minutes(s.windowMs)} (threshold ${s.threshold})` }] : [];
    },
  },
  {
    name: 'SYNC_JOB_DEAD',
    description: 'A sync job ran out of attempts; retry it once the cause is fixed.',
    defaults: { enabled: true, severity: 'CRITICAL', threshold: 1, windowMs: 0 },
    async evaluate(ctx, s) {
      const dead = await ctx.sync.deadJobs(100);
      return dead.map((j) => ({
        rule: this.name,
        severity: s.severity,
        subject: `job:${j.id}`,
        message: `Sync of ${j.claimNo || j.claimId} is DEAD: ${j.lastError ?? 'unknown error'}`,
        actions: [{ kind: 'RETRY_SYNC_JOB', target: j.id, label: `Retry the sync of ${j.claimNo || j.claimId}` }],
      }));
    },
  },
  {
    name: 'ARCHIVE_USABILITY',
    description: "An approved claim's archive record was filed with a usability problem in the claim's texts (see its filing report); raised once per record.",
    defaults: { enabled: true, severity: 'WARNING', threshold: 1, windowMs: 0 },
    async evaluate(ctx, s) {
      // The record is filed (an approved claim always is) and its report keeps the problem: the condition never
      // clears, so it holds while its alert is open (the system never closes it), and a resolved alert stays resolved.
      // Read off the partial index of those jobs alone (subgraphs/sync/monitor.ts).
      const jobs = await ctx.sync.jobsWithUsabilityProblems(100);
      const subjectOf = (j: (typeof jobs)[number]) => `record:${j.archiveRecordId ?? j.claimId}`;
      const alerts = await ctx.connection.collection('alerts').find({ dedupKey: { $in: jobs.map((j) => `${this.name}|${subjectOf(j)}`) } }, { projection: { subject: 1, open: 1 } }).toArray();
      const open = new Set(alerts.filter((a) => a.open === true).map((a) => String(a.subject)));
      const resolved = new Set(alerts.filter((a) => a.open !== true && !open.has(String(a.subject))).map((a) => String(a.subject)));
      return jobs
        .filter((j) => !resolved.has(subjectOf(j)))
        .map((j) => ({
          rule: this.name,
          severity: s.severity,
          subject: subjectOf(j),
          message: clip(`The archive record of ${j.claimNo || j.claimId} was filed with usability problems in the claim's texts: ${j.usabilityProblems.join('; ')}`, 1000),
        }));
    },
  },
  {
    name: 'SYNC_LAG',
    description: 'Approval-to-filing lag (p95 over the last hour) or the age of the oldest unfiled approval exceeds the threshold (ms).',
    defaults: { enabled: true, severity: 'WARNING', threshold: 60_000, windowMs: 60 * 60_000 },
    async evaluate(ctx, s) {
      const status = await ctx.status();
      const oldest = await ctx.sync.oldestUnfiledApproval();
      const waiting = oldest ? ctx.now.getTime() - oldest.getTime() : 0;
      const p95 = status.lagP95Ms ?? 0;
      if (p95 <= s.threshold && waiting <= s.threshold) return [];
      const what = p95 > s.threshold ? `sync lag p95 is ${p95} ms` : `the oldest unfiled approval has waited ${waiting} ms`;
      return [{ rule: this.name, severity: s.severity, subject: 'sync', message: `${what} (target ${s.threshold} ms)` }];
    },
  },
  {
    name: 'PROBING',
    description: 'Repeated UNAUTHENTICATED or FORBIDDEN answers for one principal or one address within the window.',
    defaults: { enabled: true, severity: 'WARNING', threshold: 20, windowMs: 5 * 60_000 },
    async evaluate(ctx, s) {
      const since = new Date(ctx.now.getTime() - s.windowMs);
      const audit = ctx.connection.collection('audit_log');
      const match = { $match: { outcome: { $in: ['UNAUTHENTICATED', 'FORBIDDEN'] }, at: { $gte: since } } };
      const out: RaiseInput[] = [];
      for (const key of ['actor', 'address'] as const) {
        const rows = await audit
          .aggregate<{ _id: string | null; n: number }>([match, { $match: { [key]: { $ne: null } } }, { $group: { _id: `$${key}`, n: { $sum: 1 } } }, { $match: { n: { $gte: s.threshold } } }, { $limit: 100 }])
          .toArray();
        for (const r of rows) {
          out.push({ rule: this.name, severity: s.severity, subject: `${key}:${r._id}`, message: `${r.n} refused requests (UNAUTHENTICATED or FORBIDDEN) from ${key} ${r._id} in the last ${minutes(s.windowMs)}` });
        }
      }
      return out;
    },
  },
  {
    name: 'BULK_ACCESS',
    description: 'One user reads or borrows far more archive records within the window than usual (threshold: at least this many, and `factor` times their average per window over 30 days).',
    defaults: { enabled: true, severity: 'WARNING', threshold: 50, windowMs: 60 * 60_000, factor: 5 },
    async evaluate(ctx, s) {
      const now = ctx.now.getTime();
      const windowStart = new Date(now - s.windowMs);
      const baselineStart = new Date(now - 30 * 24 * 60 * 60_000);
      const recent = await ctx.archiveAccess.accessCounts({ from: windowStart, atLeast: s.threshold, limit: 100 });
      if (!recent.length) return [];
      const before = await ctx.archiveAccess.accessCounts({ from: baselineStart, to: windowStart, actorIds: recent.map((r) => r.actorId) });
      const windows = Math.max(1, (windowStart.getTime() - baselineStart.getTime()) / s.windowMs);
      const usual = new Map(before.map((b) => [b.actorId, b.n / windows]));
      return recent
        .filter((r) => r.n > (s.factor ?? 5) * (usual.get(r.actorId) ?? 0))
        .map((r) => ({
          rule: this.name,
          severity: s.severity,
          subject: `actor:${r.actorId}`,
          message: `${r.actorId} read or borrowed ${r.n} archive records in the last ${minutes(s.windowMs)}; usually ${(usual.get(r.actorId) ?? 0).toFixed(1)}`,
        }));
    },
  },
  {
    name: 'HANDOVER_OVERDUE',
    description: 'A fiscal year ended more than a year ago and its records are not handed over to the archive department (会计档案管理办法: the accounting department keeps a year at most one year); sign its transfer register.',
    defaults: { enabled: true, severity: 'WARNING', threshold: 1, windowMs: 0 },
    async evaluate(ctx, s) {
      if (!ctx.archiveCustody) return null;
      // Year Y may stay with the accounting department until the end of Y + 1 (UTC years).
      const years = await ctx.archiveCustody.yearsNotHandedOver(ctx.now.getUTCFullYear() - 1);
      return years
        .filter((y) => y.records >= s.threshold)
        .map((y) => ({ rule: this.name, severity: s.severity, subject: `year:${y.fiscalYear}`, message: `${y.records} record(s) of ${y.fiscalYear} are still with the accounting department: hand the year over (prepareHandover, signHandover)` }));
    },
  },
  {
    name: 'RECONCILIATION_DIFFERENCE',
    description: 'The latest reconciliation of a period found differences; reconcile again once they are explained or fixed.',
    defaults: { enabled: true, severity: 'CRITICAL', threshold: 1, windowMs: 0 },
    async evaluate(ctx, s) {
      const latest = await ctx.sync.periodsWithDifferences(s.threshold);
      return latest.map((r) => {
        const period = `${r.fiscalYear}-${String(r.period).padStart(2, '0')}`;
        return {
          rule: this.name,
          severity: s.severity,
          subject: `period:${period}`,
          message: `Reconciliation of ${period} found ${r.differences} difference(s)`,
          actions: [{ kind: 'RERUN_RECONCILIATION', target: period, label: `Reconcile ${period} again` }],
        };
      });
    },
  },
  {
    name: 'ARCHIVE_CHAIN_BROKEN',
    description: 'The archive does not verify: its fixity chain, a record against its history, or content kept (checked once per window, an hour by default; every evaluation with a window of 0).',
    // Once an hour by default: the walk reads every record, its history and its originals, a cost that grows with the
    // archive for decades; at every evaluation (30 s) it was the soak's stalls with 30,000 records. A window of 0
    // checks at every evaluation; verifyArchiveChain runs it on demand.
    defaults: { enabled: true, severity: 'CRITICAL', threshold: 1, windowMs: 60 * 60_000 },
    async evaluate(ctx, s) {
      if (ctx.lastRun(this.name) && ctx.now.getTime() - ctx.lastRun(this.name) < s.windowMs) return null;
      const v = await ctx.verifyChain();
      if (v.ok) return [];
      return [
        {
          rule: this.name,
          severity: s.severity,
          // One alert per break: a second one found while the first is open is raised, not counted on it.
          subject: `archive-chain:${v.problem ?? 'CHANGED'}:${v.firstBrokenArchiveNo ?? 'unknown'}`,
          message: `The archive fixity chain is broken: ${v.problem ?? 'CHANGED'} at ${v.firstBrokenArchiveNo ?? 'an unknown record'}`,
          actions: [{ kind: 'VERIFY_ARCHIVE_CHAIN', target: null, label: 'Verify the archive chain again' }],
        },
      ];
    },
  },
  {
    name: 'SUBGRAPH_DOWN',
    description: 'A subgraph failed this many probes in a row.',
    defaults: { enabled: true, severity: 'CRITICAL', threshold: 2, windowMs: 0 },
    async evaluate(ctx, s) {
      const health = await ctx.probe();
      return health
        .filter((h) => h.status === 'DOWN' && h.failures >= s.threshold)
        .map((h) => ({ rule: this.name, severity: s.severity, subject: `subgraph:${h._id}`, message: `The ${h._id} subgraph did not answer ${h.failures} probes in a row` }));
    },
  },
  {
    name: 'WEBHOOK_DEAD',
    description: 'A webhook delivery was dead-lettered; replay it once the receiver is fixed.',
    defaults: { enabled: true, severity: 'WARNING', threshold: 1, windowMs: 0 },
    async evaluate(ctx, s) {
      const dead = await ctx.sync.deadDeliveries(100);
      return dead.map((d) => ({
        rule: this.name,
        severity: s.severity,
        subject: `delivery:${d.id}`,
        message: `Webhook delivery of ${String(d.eventType)} was dead-lettered: ${String(d.lastError ?? 'unknown error')}`,
        actions: [{ kind: 'REPLAY_WEBHOOK_DELIVERY', target: d.id, label: 'Replay the delivery' }],
      }));
    },
  },
];

export interface AlertRuleView {
  rule: string;
  severity: Severity;
  enabled: boolean;
  threshold: number;
  windowMs: number;
  openAfterMs: number;
  closeAfterMs: number;
  description: string;
}

/** The rules as configured, for alertRules. */
export function ruleViews(settings: Map<string, RuleSettings>): AlertRuleView[] {
  return RULES.map((r) => {
    const s = settings.get(r.name)!;
    return { rule: r.name, severity: s.severity, enabled: s.enabled, threshold: s.threshold, windowMs: s.windowMs, openAfterMs: s.openAfterMs, closeAfterMs: s.closeAfterMs, description: r.description };
  });
}

/** The rules with ALERT_RULES applied; an unknown rule name there is a configuration error. */
export function ruleSettings(overrides: RuleOverrides = {}): Map<string, RuleSettings> {
  for (const name of Object.keys(overrides)) {
    if (!RULES.some((r) => r.name === name)) throw new Error(`ALERT_RULES: unknown rule ${name} (known: ${RULES.map((r) => r.name).join(', ')})`);
  }
  return new Map(RULES.map((r) => [r.name, { ...DAMPING, ...r.defaults, ...overrides[r.name] }]));
}
