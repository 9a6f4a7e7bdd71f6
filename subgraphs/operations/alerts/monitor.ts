// Evaluates the anomaly rules every ALERT_INTERVAL_MS, on one sync instance at a time (a database lease), and
// raises what they find. A failing rule is logged and the others still run.
import type { Lease } from '../../../platform/integration/lease.ts';
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
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(private readonly o: AlertMonitorOptions) {}

  get settings(): Map<string, RuleSettings> {
    return this.o.settings;
  }

  /** One evaluation of every enabled rule; returns how many alerts were newly raised. */
  evaluate(): Promise<number> {
    this.running ??= this.round().finally(() => (this.running = null));
    return this.running;
  }

  private async round(): Promise<number> {
    if (!(await this.o.lease.acquire())) return 0;
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

  start(intervalMs: number): void {
    const loop = () => {
      void this.evaluate()
        .catch((err: unknown) => this.o.logger.error({ err: (err as Error).message }, 'alert evaluation failed'))
        .finally(() => {
          if (this.timer !== null) this.timer = setTimeout(loop, intervalMs);
        });
    };
    this.timer = setTimeout(loop, intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    await this.o.lease.release().catch(() => undefined);
  }
}
