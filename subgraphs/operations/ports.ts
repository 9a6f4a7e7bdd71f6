// What operations reads of the sync module in-process (docs/architecture.md, "Ownership rules"): the port it declares
// here, implemented over sync's own models by subgraphs/sync/monitor.ts and handed in by subgraphs/sync-service.ts,
// so operations neither imports sync's code nor reads its collections. Each method is one of sync's queries; its
// filters, sorts, hints and indexes are sync's to keep.

/**
 * The sync module's status (schema/sync.graphql, SyncStatus): backlog and failures from the jobs, the sync lag's
 * percentiles over the jobs that succeeded in the last hour (the newest 2,000), the pipeline's position in the event
 * log and the log's head.
 */
export interface SyncStatusView {
  backlog: number;
  failed: number;
  dead: number;
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  lagP99Ms: number | null;
  position: number;
  head: number;
}

/** One business day of syncStatistics (issue 7 §3). */
export interface SyncStatisticRowView {
  /** YYYY-MM-DD in the business time zone. */
  day: string;
  synced: number;
  failedAttempts: number;
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  lagMaxMs: number | null;
}

/** A sync job that ran out of attempts (SYNC_JOB_DEAD). */
export interface DeadSyncJob {
  /** The job's id, what RETRY_SYNC_JOB retries. */
  id: string;
  claimNo: string;
  claimId: string;
  lastError: string | null;
}

/** A succeeded job whose archive record was filed with usability problems in the claim's texts (ARCHIVE_USABILITY). */
export interface UsabilityProblemJob {
  claimNo: string;
  claimId: string;
  archiveRecordId: string | null;
  usabilityProblems: string[];
}

/** A period whose latest reconciliation found differences (RECONCILIATION_DIFFERENCE). */
export interface PeriodDifferences {
  fiscalYear: number;
  period: number;
  differences: number;
}

/** A dead-lettered webhook delivery (WEBHOOK_DEAD). */
export interface DeadDelivery {
  /** The delivery's id, what REPLAY_WEBHOOK_DELIVERY replays. */
  id: string;
  eventType: string;
  lastError: string | null;
}

export interface SyncMonitor {
  /** How far back status() reads the lag (an hour); the status sampler's lag looks back as far at most. */
  readonly lagWindowMs: number;
  /** The sync status as of `now` (default: now): systemStatus, SYNC_LAG. */
  status(now?: Date): Promise<SyncStatusView>;
  /** When the oldest approval not yet filed (its job PENDING, RUNNING or FAILED) was approved; null when none waits. */
  oldestUnfiledApproval(): Promise<Date | null>;
  /** How many jobs succeeded in (since, now], and the p95 of their lag: one aggregation, for the status sampler. */
  completedBetween(since: Date, now: Date): Promise<{ synced: number; lagP95Ms: number | null }>;
  /** syncStatistics: per business day of `timeZone`, from..to inclusive (at most 366 days; BAD_USER_INPUT otherwise). */
  statistics(timeZone: string, from: string, to: string): Promise<SyncStatisticRowView[]>;
  /** Jobs DEAD, at most `limit`. */
  deadJobs(limit: number): Promise<DeadSyncJob[]>;
  /** Succeeded jobs whose record was filed with usability problems, newest first, at most `limit`. */
  jobsWithUsabilityProblems(limit: number): Promise<UsabilityProblemJob[]>;
  /** Periods whose latest reconciliation found at least `atLeast` differences. */
  periodsWithDifferences(atLeast: number): Promise<PeriodDifferences[]>;
  /** How many webhooks have deliveries FAILED or DEAD. */
  failingWebhooks(): Promise<number>;
  /** How many webhook deliveries are dead-lettered. */
  deadDeliveryCount(): Promise<number>;
  /** Dead-lettered webhook deliveries, at most `limit`. */
  deadDeliveries(limit: number): Promise<DeadDelivery[]>;
}
