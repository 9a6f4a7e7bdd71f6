// Sync events as docs/api.md names them: the subset of the durable domain-event log (platform/integration/events.ts) that
// tells the story of a claim crossing from OA to the archive. The log's gap-free sequence orders them; API clients
// see it as a fixed-width decimal string so that string order is event order (platform/integration/event-seq.ts).
import type { DomainEvent } from '../../platform/integration/events.ts';
import { formatSeq } from '../../platform/integration/event-seq.ts';

// Sync's modules (the pipeline, resolvers, webhooks) take them from here, with the event types.
export { formatSeq, parseSeq } from '../../platform/integration/event-seq.ts';

export const SYNC_EVENT_TYPES = [
  'CLAIM_SUBMITTED',
  'CLAIM_APPROVED',
  'CLAIM_REJECTED',
  'VOUCHER_CREATED',
  'ARCHIVE_FILED',
  'SYNC_FAILED',
  'RECONCILIATION_DIFFERENCE',
  'ALERT_RAISED',
  'ALERT_RESOLVED',
  'FEEDBACK_RECEIVED',
  'FEEDBACK_CLOSED',
  'PERIOD_CLOSE_REQUESTED',
  'PERIOD_CLOSED',
  'PERIOD_REOPENED',
  'HANDOVER_SIGNED',
] as const;
export type SyncEventType = (typeof SYNC_EVENT_TYPES)[number];

export const isSyncEventType = (t: string): t is SyncEventType => (SYNC_EVENT_TYPES as readonly string[]).includes(t);

/** The event as sync consumers (GraphQL, webhooks, the bus) carry it: ids only, no personal or money fields. */
export interface SyncEventView {
  seq: string;
  type: SyncEventType;
  occurredAt: string;
  claimId: string | null;
  voucherId: string | null;
  archiveRecordId: string | null;
  /** ALERT_RAISED: the alert. */
  alertId: string | null;
  /** FEEDBACK_RECEIVED, FEEDBACK_CLOSED: the feedback. */
  feedbackId: string | null;
  detail: string | null;
  /** Whose claim it is (the payload's applicant and department; not in the API): what SyncEvent's references are shown by. */
  applicantId: string | null;
  departmentId: string | null;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

export function toSyncEvent(e: DomainEvent): SyncEventView {
  const p = e.payload;
  const claimId = e.subject.type === 'ExpenseClaim' ? e.subject.id : str(p.claimId);
  return {
    seq: formatSeq(e.seq),
    type: e.type as SyncEventType,
    occurredAt: new Date(e.occurredAt).toISOString(),
    claimId,
    voucherId: str(p.voucherId),
    archiveRecordId: str(p.archiveRecordId),
    alertId: str(p.alertId),
    feedbackId: e.subject.type === 'Feedback' ? e.subject.id : null,
    detail: detailOf(e),
    applicantId: str(p.applicantId),
    departmentId: str(p.departmentId),
  };
}

function detailOf(e: DomainEvent): string | null {
  const p = e.payload;
  switch (e.type) {
    case 'CLAIM_SUBMITTED':
    case 'CLAIM_APPROVED':
    case 'CLAIM_REJECTED':
      return str(p.claimNo);
    case 'VOUCHER_CREATED':
      return [str(p.claimNo), str(p.voucherNo)].filter(Boolean).join(' → ') || null;
    case 'ARCHIVE_FILED':
      return str(p.archiveNo);
    case 'SYNC_FAILED':
    case 'RECONCILIATION_DIFFERENCE':
    case 'ALERT_RAISED':
    case 'ALERT_RESOLVED':
    case 'FEEDBACK_RECEIVED':
    case 'FEEDBACK_CLOSED':
    case 'PERIOD_CLOSE_REQUESTED':
    case 'PERIOD_CLOSED':
    case 'PERIOD_REOPENED':
    case 'HANDOVER_SIGNED':
      return str(p.detail);
    default:
      return null;
  }
}
