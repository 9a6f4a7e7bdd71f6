// Evaluates the anomaly rules every ALERT_INTERVAL_MS, on one sync instance at a time (a database lease), and
// raises what they find. A failing rule is logged and the others still run.
import type { Lease } from '../../../platform/integration/lease.ts';
import { WorkerLoop } from '../../../platform/integration/worker-loop.ts';
import type { Logger } from '../../../platform/logger.ts';
import { RULES, type RuleContext, type RuleSettings } from './rules.ts';
import type { AlertService } from './service.ts';

export interface AlertMonitorOptions {
  alerts: AlertService;
  settings: Map<string, RuleSettings>;
  context: () => Omit<RuleContext, 'lastRun' | 'now'>;
  lease: Lease;
  logger: Logger;
  clock?: () => Date;
}

export class AlertMonitor {
  private readonly lastRuns = new Map<string, number>();
  private readonly loop: WorkerLoop<number>;

  constructor(private readonly o: AlertMonitorOptions) {
    this.loop = new WorkerLoop({ work: () => this.round(), lease: o.lease, logger: o.logger, failure: 'alert evaluation failed' });
  }

  get settings(): Map<string, RuleSettings> {
    return this.o.settings;
  }

  /** One evaluation of every enabled rule (lease holder only); returns how many alerts were newly raised. */
  async evaluate(): Promise<number> {
    return (await this.loop.runNow()) ?? 0;
  }

  private async round(): Promise<number> {
    const now = this.o.clock?.() ?? new Date();
    const ctx: RuleContext = { ...this.o.context(), now, lastRun: (rule) => this.lastRuns.get(rule) ?? 0 };
    let raised = 0;
    for (const rule of RULES) {
      const settings = this.o.settings.get(rule.name)!;
      if (!settings.enabled) continue;
      try {
        const found = await rule.evaluate(ctx, settings);
        this.lastRuns.set(rule.name, now.getTime());
        for (const input of found) if ((await this.o.alerts.raise(input)).created) raised++;
      } catch (err) {
        this.o.logger.error({ rule: rule.name, err: (err as Error).message }, 'an alert rule failed to evaluate');
      }
    }
    if (raised) this.o.logger.warn({ raised }, 'alerts raised');
    return raised;
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
