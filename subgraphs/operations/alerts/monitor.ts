// Evaluates the anomaly rules every ALERT_INTERVAL_MS, on one sync instance at a time (a database lease): opens an
// alert for a condition that has held `openAfterMs`, counts on it when the condition comes back after clearing, and
// resolves it (as the system, with an ALERT_RESOLVED event) once the condition has stayed clear `closeAfterMs`. Those
// two times damp flapping. A failing rule is logged and the others still run; a rule that did not look this round
// clears nothing. The times are kept by the instance that evaluates: after a failover they start again.
import type { Lease } from '../../../platform/integration/lease.ts';
import { WorkerLoop } from '../../../platform/integration/worker-loop.ts';
import type { Logger } from '../../../platform/logger.ts';
import { RULES, type Rule, type RuleContext, type RuleSettings } from './rules.ts';
import { type AlertService, type RaiseInput, dedupKeyOf } from './service.ts';

export interface AlertMonitorOptions {
  alerts: AlertService;
  settings: Map<string, RuleSettings>;
  context: () => Omit<RuleContext, 'lastRun' | 'now'>;
  lease: Lease;
  logger: Logger;
  clock?: () => Date;
  /** The rules evaluated (default RULES; tests give their own). */
  rules?: readonly Rule[];
}

/** What one evaluation did. */
export interface EvaluationResult {
  raised: number;
  resolved: number;
}

export class AlertMonitor {
  private readonly lastRuns = new Map<string, number>();
  /** Conditions seen but not yet open (openAfterMs), by dedup key: since when they hold. */
  private readonly holding = new Map<string, number>();
  /** Open alerts whose condition is gone, by dedup key: since when it is clear. */
  private readonly clear = new Map<string, number>();
  private readonly loop: WorkerLoop<EvaluationResult>;

  constructor(private readonly o: AlertMonitorOptions) {
    this.loop = new WorkerLoop({ work: () => this.round(), lease: o.lease, logger: o.logger, failure: 'alert evaluation failed' });
  }

  get settings(): Map<string, RuleSettings> {
    return this.o.settings;
  }

  /** One evaluation of every enabled rule (lease holder only). */
  async evaluate(): Promise<EvaluationResult> {
    return (await this.loop.runNow()) ?? { raised: 0, resolved: 0 };
  }

  private async round(): Promise<EvaluationResult> {
    const now = this.o.clock?.() ?? new Date();
    const ctx: RuleContext = { ...this.o.context(), now, lastRun: (rule) => this.lastRuns.get(rule) ?? 0 };
    const result: EvaluationResult = { raised: 0, resolved: 0 };
    for (const rule of this.o.rules ?? RULES) {
      const settings = this.o.settings.get(rule.name)!;
      if (!settings.enabled) continue;
      try {
        const found = await rule.evaluate(ctx, settings);
        this.lastRuns.set(rule.name, now.getTime());
        if (found === null) continue;
        await this.apply(rule.name, found, settings, now.getTime(), result);
      } catch (err) {
        this.o.logger.error({ rule: rule.name, err: (err as Error).message }, 'an alert rule failed to evaluate');
      }
    }
    if (result.raised) this.o.logger.warn({ raised: result.raised }, 'alerts raised');
    if (result.resolved) this.o.logger.info({ resolved: result.resolved }, 'alerts resolved: their conditions cleared');
    return result;
  }

  /** Opens, counts on or resolves the rule's alerts from the conditions that hold now. */
  private async apply(rule: string, found: RaiseInput[], s: RuleSettings, now: number, result: EvaluationResult): Promise<void> {
    const holdingNow = new Set<string>();
    const open = await this.o.alerts.openOf(rule);
    const openKeys = new Set(open.map((a) => a.dedupKey));
    for (const input of found) {
      const key = dedupKeyOf(input);
      holdingNow.add(key);
      // Back after clearing while its alert stayed open: a new occurrence, counted.
      const recurrence = this.clear.delete(key);
      const since = this.holding.get(key) ?? now;
      this.holding.set(key, since);
      // openAfterMs delays opening only: an open alert is updated (and counted on) at once.
      if (!openKeys.has(key) && now - since < s.openAfterMs) continue;
      if ((await this.o.alerts.raise(input, { recurrence })).created) result.raised++;
    }
    for (const key of [...this.holding.keys()]) if (key.startsWith(`${rule}|`) && !holdingNow.has(key)) this.holding.delete(key);
    for (const alert of open) {
      if (holdingNow.has(alert.dedupKey)) continue;
      const since = this.clear.get(alert.dedupKey) ?? now;
      this.clear.set(alert.dedupKey, since);
      if (now - since < s.closeAfterMs) continue;
      this.clear.delete(alert.dedupKey);
      if (await this.o.alerts.resolveCleared(alert)) result.resolved++;
    }
  }

  /** The first evaluation one interval from now, each next one an interval after the one before ended. */
  start(intervalMs: number): void {
    this.loop.start(intervalMs);
  }

  /** Waits for the evaluation in flight, then gives the lease up. */
  stop(): Promise<void> {
    return this.loop.stop();
  }
}
