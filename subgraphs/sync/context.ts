// What every sync resolver receives for one request.
import type { Connection } from 'mongoose';
import type { EventAudience } from '../../platform/integration/event-bus.ts';
import type { DomainEvent, EventLog } from '../../platform/integration/events.ts';
import { forbidden } from '../../platform/graphql.ts';
import { type Principal, type Role, hasAnyRole } from '../../platform/identity.ts';
import { FEEDBACK_EVENT_TYPES, ROW_SCOPES, readsAllRows, rolesFor } from '../../schema/permissions.ts';
import type { SyncModels } from './models.ts';
import type { SyncPipeline } from './pipeline.ts';
import type { ReconcileOptions } from './reconcile.ts';
import type { WebhookService } from './webhooks/service.ts';
import type { ApiKeyService } from './api-keys/service.ts';

/** An entity of another subgraph, by key; the gateway resolves the rest. */
export interface EntityReference {
  id: string;
}

export interface SyncServices {
  connection: Connection;
  models: SyncModels;
  events: EventLog;
  pipeline: SyncPipeline;
  webhooks: WebhookService;
  apiKeys: ApiKeyService;
  reconcile: Omit<ReconcileOptions, 'now'>;
}

export interface SyncContext extends SyncServices {
  principal: Principal;
}

/** The alerts' own events: only for those who read alerts. */
const ALERT_EVENT_TYPES = ['ALERT_RAISED', 'ALERT_RESOLVED'];
const NO_EVENT = { _id: { $exists: false } };

/** Who reads ALERT_RAISED and ALERT_RESOLVED events: whoever reads alerts (docs/domain.md: ADMIN keeps system status, AUDITOR reads). */
const ALERT_EVENT_READERS = rolesFor('Query', 'alertEvents');

/** Defence in depth: the gateway's shield already checked the role; a request signed otherwise stops here too. */
export function requireRole(ctx: SyncContext, roles: readonly Role[]): void {
  if (!hasAnyRole(ctx.principal, roles)) throw forbidden();
}

/**
 * What eventScope reads of an event, announced with it on the bus: the gateway tells from it which subscribers it
 * may concern (schema/permissions.ts, syncEventConcerns; test/sync/event-audience.test.ts holds the two together).
 */
export function eventAudience(e: Pick<DomainEvent, 'subject' | 'payload'>): EventAudience {
  const p = e.payload as { applicantId?: unknown; departmentId?: unknown; senderId?: unknown } | undefined;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    claim: e.subject.type === 'ExpenseClaim',
    applicantId: text(p?.applicantId),
    departmentId: text(p?.departmentId),
    senderId: e.subject.type === 'Feedback' ? text(p?.senderId) : null,
  };
}

/**
 * The row scope of sync events (ROW_SCOPES.SyncEvent, ROW_SCOPES.Feedback) as a filter on the event log: all events
 * for services and for ADMIN and AUDITOR; the events of every claim, and of one's own feedback, for the other `all`
 * roles; otherwise the events of one's own claims and, for a MANAGER, of the department's, and of one's own feedback.
 */
export function eventScope(p: Principal): Record<string, unknown> {
  const scope = ROW_SCOPES.SyncEvent;
  if (p.kind === 'service') return {};
  const alerts = hasAnyRole(p, ALERT_EVENT_READERS);
  const feedback = readsAllRows(p, 'Feedback');
  const anyOf = (or: Record<string, unknown>[]) => (or.length === 0 ? NO_EVENT : or.length === 1 ? or[0] : { $or: or });
  // An integration (API key) reads the events of claims and filings with events:read, feedback's with feedback:read,
  // never alerts; without either, none.
  if (p.kind === 'integration') {
    const or: Record<string, unknown>[] = [];
    if (readsAllRows(p, 'SyncEvent')) or.push({ type: { $nin: [...ALERT_EVENT_TYPES, ...FEEDBACK_EVENT_TYPES] } });
    if (feedback) or.push({ type: { $in: FEEDBACK_EVENT_TYPES } });
    return anyOf(or);
  }
  // Alerts are for those who watch the system, all feedback for its readers; everyone sees their own feedback's events.
  const ownFeedback = { 'subject.type': 'Feedback', 'payload.senderId': p.sub };
  if (hasAnyRole(p, scope.all)) {
    const hidden = [...(alerts ? [] : ALERT_EVENT_TYPES), ...(feedback ? [] : FEEDBACK_EVENT_TYPES)];
    if (!hidden.length) return {};
    const shown = { type: { $nin: hidden } };
    return feedback ? shown : { $or: [shown, ownFeedback] };
  }
  const or: Record<string, unknown>[] = [{ 'subject.type': 'ExpenseClaim', 'payload.applicantId': p.sub }];
  if (p.departmentId && hasAnyRole(p, scope.department)) or.push({ 'subject.type': 'ExpenseClaim', 'payload.departmentId': p.departmentId });
  or.push(feedback ? { type: { $in: FEEDBACK_EVENT_TYPES } } : ownFeedback);
  return anyOf(or);
}
