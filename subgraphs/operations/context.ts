// What every operations resolver receives for one request. The served subgraph's context carries the sync
// module's services beside these (subgraphs/sync-service.ts).
import type { Connection } from 'mongoose';
import type { EventLog } from '../../platform/integration/events.ts';
import { forbidden } from '../../platform/graphql.ts';
import { type Principal, type Role, hasAnyRole } from '../../platform/identity.ts';
import type { OperationsModels } from './alerts/models.ts';
import type { AlertMonitor } from './alerts/monitor.ts';
import type { AlertService } from './alerts/service.ts';
import type { AuditBatch } from './audit/batch.ts';
import type { FeedbackService } from './feedback/service.ts';
import type { SyncMonitor } from './ports.ts';
import type { StatusSampler } from './status-history/sampler.ts';
import type { SystemStatusSources } from './system-status.ts';

/**
 * What operations reads of the sync module: its jobs, reconciliations and webhook deliveries through the port
 * operations declares (ports.ts) and sync implements, its event log, its business time zone.
 */
export interface SyncView {
  monitor: SyncMonitor;
  events: EventLog;
  timeZone: string;
}

export interface OperationsServices {
  connection: Connection;
  sync: SyncView;
  ops: OperationsModels;
  alerts: AlertService;
  monitor: AlertMonitor;
  statusSources: SystemStatusSources;
  /** The integration's own audit entries (sync jobs, scheduled reconciliations), appended in batches. */
  ownAudit: AuditBatch;
  /** Users' feedback (issue 16 §5). */
  feedback: FeedbackService;
  /** Records the status history every STATUS_SAMPLE_MS (status-history/). */
  sampler: StatusSampler;
}

export interface OperationsContext extends OperationsServices {
  principal: Principal;
}

/** Defence in depth: the gateway's shield already checked the role; a request signed otherwise stops here too. */
export function requireRole(ctx: { principal: Principal }, roles: readonly Role[]): void {
  if (!hasAnyRole(ctx.principal, roles)) throw forbidden();
}
