// Raising, listing and handling alerts. A new alert is stored with an ALERT_RAISED event in the same transaction,
// so it reaches the `alerts` subscription and webhooks through the event log like every other event; the same
// condition again while the alert is open only counts on it. Operators acknowledge, resolve, and run the fault-
// handling action an alert points to (retry the job, replay the delivery, reconcile again, verify the chain).
import type { Connection } from 'mongoose';
import type { DomainEvent, EventLog } from '../../../platform/integration/events.ts';
import { badInput, conflict, notFound } from '../../../platform/graphql.ts';
import { toObjectId, toObjectIds } from '../../../platform/ids.ts';
import { keysetAfter } from '../../../platform/paging.ts';
import { TEXT_FIELDS, optionalText } from '../../../platform/text-policy.ts';
import { transaction } from '../../../platform/integration/transactions.ts';
import { formatSeq, parseSeq } from '../../../platform/integration/event-seq.ts';
import type { AlertActionDoc, AlertActionKind, AlertDoc, AlertStatus, OperationsModels, Severity } from './models.ts';

export interface RaiseInput {
  rule: string;
  severity: Severity;
  subject: string | null;
  message: string;
  actions?: AlertActionDoc[];
}

/** What the actions do: sync's, handed in by the composition point (subgraphs/sync-service.ts), and the chain check. */
export interface AlertActionRunner {
  retrySyncJob(jobId: string): Promise<void>;
  replayWebhookDelivery(deliveryId: string): Promise<void>;
  reconcile(fiscalYear: number, period: number, by: string): Promise<number>;
  verifyArchiveChain(): Promise<boolean>;
}

export interface AlertServiceOptions {
  connection: Connection;
  models: OperationsModels;
  events: EventLog;
  runner: AlertActionRunner;
  clock?: () => Date;
}

export interface AlertEventView {
  seq: string;
  alert: AlertDoc;
}

const STATUSES: readonly AlertStatus[] = ['OPEN', 'ACKNOWLEDGED', 'RESOLVED'];

/** Who resolves an alert whose condition cleared. */
export const SYSTEM = 'system';

/** One open alert per rule and subject. */
export const dedupKeyOf = (input: Pick<RaiseInput, 'rule' | 'subject'>): string => `${input.rule}|${input.subject ?? ''}`;

export class AlertService {
  private readonly clock: () => Date;

  constructor(private readonly o: AlertServiceOptions) {
    this.clock = o.clock ?? (() => new Date());
  }

  async init(): Promise<void> {
    await Promise.all([this.o.models.Alert.init(), this.o.models.GatewayInstance.init(), this.o.models.SubgraphHealth.init()]);
  }

  /**
   * Raises an alert, or updates the open one for the same rule and subject: its last sighting and message, and its
   * count when this is a new occurrence (`recurrence`: the condition had cleared and came back), not at every
   * evaluation of a condition that still holds.
   */
  async raise(input: RaiseInput, opts: { recurrence?: boolean } = {}): Promise<{ alert: AlertDoc; created: boolean }> {
    const dedupKey = dedupKeyOf(input);
    for (let attempt = 0; ; attempt++) {
      try {
        return await transaction(this.o.connection, async (session) => {
          const now = this.clock();
          const seen = await this.o.models.Alert.findOneAndUpdate(
            { dedupKey, open: true },
            { ...(opts.recurrence ? { $inc: { count: 1 } } : {}), $set: { lastSeenAt: now, message: input.message } },
            { returnDocument: 'after', session },
          ).lean<AlertDoc>();
          if (seen) return { alert: seen, created: false };
          const [doc] = await this.o.models.Alert.create(
            [
              {
                rule: input.rule,
                severity: input.severity,
                status: 'OPEN',
                message: input.message,
                subject: input.subject,
                dedupKey,
                open: true,
                raisedAt: now,
                lastSeenAt: now,
                count: 1,
                actions: input.actions ?? [],
              },
            ],
            { session },
          );
          const alert = doc.toObject() as AlertDoc;
          await this.o.events.append(session, {
            type: 'ALERT_RAISED',
            subject: { type: 'Alert', id: alert._id.toHexString() },
            actor: 'sync',
            payload: { alertId: alert._id.toHexString(), rule: input.rule, severity: input.severity, subject: input.subject, detail: `${input.severity} ${input.rule}: ${input.message}` },
          });
          return { alert, created: true };
        });
      } catch (err) {
        // Another evaluation opened the same alert at the same moment: count on it instead.
        if ((err as { code?: number }).code !== 11000 || attempt > 0) throw err;
      }
    }
  }

  /** The rule's open (OPEN or ACKNOWLEDGED) alerts. */
  async openOf(rule: string): Promise<AlertDoc[]> {
    return this.o.models.Alert.find({ rule, open: true }).limit(1000).lean<AlertDoc[]>();
  }

  /**
   * Resolves an open alert whose condition cleared, as the system, with an ALERT_RESOLVED event in the same
   * transaction (the notification: the `alerts` subscription and webhooks). False when it was no longer open.
   */
  async resolveCleared(alert: AlertDoc): Promise<boolean> {
    return transaction(this.o.connection, async (session) => {
      const done = await this.o.models.Alert.findOneAndUpdate(
        { _id: alert._id, open: true },
        { $set: { status: 'RESOLVED', resolvedAt: this.clock(), resolvedBy: SYSTEM, resolution: 'The condition cleared' }, $unset: { open: 1 } },
        { returnDocument: 'after', session },
      ).lean<AlertDoc>();
      if (!done) return false;
      await this.o.events.append(session, {
        type: 'ALERT_RESOLVED',
        subject: { type: 'Alert', id: alert._id.toHexString() },
        actor: 'sync',
        payload: { alertId: alert._id.toHexString(), rule: alert.rule, severity: alert.severity, subject: alert.subject, detail: `${alert.rule} resolved: the condition cleared` },
      });
      return true;
    });
  }

  async acknowledge(id: string, by: string): Promise<AlertDoc> {
    const alert = await this.get(id);
    if (alert.status === 'RESOLVED') throw conflict('The alert is resolved');
    if (alert.status === 'ACKNOWLEDGED') return alert;
    return (await this.o.models.Alert.findOneAndUpdate(
      { _id: alert._id, status: 'OPEN' },
      { $set: { status: 'ACKNOWLEDGED', acknowledgedAt: this.clock(), acknowledgedBy: by } },
      { returnDocument: 'after' },
    ).lean<AlertDoc>()) ?? this.get(id);
  }

  async resolve(id: string, by: string, resolution?: string | null): Promise<AlertDoc> {
    const note = optionalText(resolution, 'resolution', TEXT_FIELDS.alertResolution);
    const alert = await this.get(id);
    if (alert.status === 'RESOLVED') return alert;
    return (await this.o.models.Alert.findOneAndUpdate(
      { _id: alert._id, status: { $ne: 'RESOLVED' } },
      { $set: { status: 'RESOLVED', resolvedAt: this.clock(), resolvedBy: by, resolution: note }, $unset: { open: 1 } },
      { returnDocument: 'after' },
    ).lean<AlertDoc>()) ?? this.get(id);
  }

  /** Runs the alert's action (the first, or the one of `kind`) and acknowledges the alert: someone is on it. */
  async runAction(id: string, by: string, kind?: AlertActionKind | null): Promise<AlertDoc> {
    const alert = await this.get(id);
    const action = kind ? alert.actions.find((a) => a.kind === kind) : alert.actions[0];
    if (!action) throw badInput(kind ? `This alert has no ${kind} action` : 'This alert has no action to run', 'kind');
    switch (action.kind) {
      case 'RETRY_SYNC_JOB':
        await this.o.runner.retrySyncJob(action.target ?? '');
        break;
      case 'REPLAY_WEBHOOK_DELIVERY':
        await this.o.runner.replayWebhookDelivery(action.target ?? '');
        break;
      case 'RERUN_RECONCILIATION': {
        const [year, period] = (action.target ?? '').split('-').map(Number);
        await this.o.runner.reconcile(year, period, by);
        break;
      }
      case 'VERIFY_ARCHIVE_CHAIN':
        await this.o.runner.verifyArchiveChain();
        break;
    }
    return alert.status === 'OPEN' ? this.acknowledge(id, by) : alert;
  }

  async list(status: AlertStatus | null | undefined, first: number, after?: string | null): Promise<AlertDoc[]> {
    if (status && !STATUSES.includes(status)) throw badInput('unknown status', 'status');
    if (!Number.isInteger(first) || first < 1 || first > 500) throw badInput('first must be 1 to 500', 'first');
    const sort = { raisedAt: -1, _id: -1 } as const;
    const filter: Record<string, unknown> = status ? { status } : {};
    if (after != null) {
      const id = toObjectId(after);
      const last = id && (await this.o.models.Alert.findById(id, { raisedAt: 1 }).lean<AlertDoc>());
      if (!last) throw badInput('after must be the id of an alert (the last of the page before)', 'after');
      return this.o.models.Alert.find({ $and: [filter, keysetAfter(sort, last as unknown as Record<string, unknown>)] }).sort(sort).limit(first).lean<AlertDoc[]>();
    }
    return this.o.models.Alert.find(filter).sort(sort).limit(first).lean<AlertDoc[]>();
  }

  async openCount(): Promise<number> {
    return this.o.models.Alert.countDocuments({ open: true });
  }

  /** Alerts raised, or resolved by the system, after `after` in log order: what the alerts subscription delivers. */
  async raisedAfter(after: string | null | undefined, first: number): Promise<AlertEventView[]> {
    if (!Number.isInteger(first) || first < 1 || first > 500) throw badInput('first must be 1 to 500', 'first');
    const from = parseSeq(after);
    const horizon = await this.o.events.horizon();
    if (horizon <= from) return [];
    const events = await this.o.events.events.find({ seq: { $gt: from, $lte: horizon }, type: { $in: ['ALERT_RAISED', 'ALERT_RESOLVED'] } }, { _id: 0 }).sort({ seq: 1 }).limit(first).lean<DomainEvent[]>();
    const alerts = await this.o.models.Alert.find({ _id: { $in: toObjectIds(events.map((e) => e.subject.id)) } }).lean<AlertDoc[]>();
    const byId = new Map(alerts.map((a) => [a._id.toHexString(), a]));
    return events.flatMap((e) => {
      const alert = byId.get(e.subject.id);
      return alert ? [{ seq: formatSeq(e.seq), alert }] : [];
    });
  }

  private async get(id: string): Promise<AlertDoc> {
    const alert = toObjectId(id) ? await this.o.models.Alert.findById(id).lean<AlertDoc>() : null;
    if (!alert) throw notFound('Alert');
    return alert;
  }
}
