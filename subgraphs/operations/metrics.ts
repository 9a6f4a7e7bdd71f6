// Prometheus gauges of operations: the figures of systemStatus (subgraph health as last probed, open alerts, dead
// webhook deliveries, gateways' open subscriptions), read from the database at scrape time so every instance reports
// the same. Registered on the sync module's registry, so /metrics of the sync subgraph serves both.
import { Gauge, type Registry } from 'prom-client';
import type { OperationsModels } from './alerts/models.ts';
import { GATEWAY_FRESH_MS } from './alerts/health.ts';
import type { SyncMonitor } from './ports.ts';

export function registerOperationsMetrics(registry: Registry, ops: OperationsModels, sync: SyncMonitor): void {
  new Gauge({
    name: 'ops_open_alerts',
    help: 'Alerts OPEN or ACKNOWLEDGED, by rule and severity',
    labelNames: ['rule', 'severity'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await ops.Alert.aggregate<{ _id: { rule: string; severity: string }; n: number }>([{ $match: { open: true } }, { $group: { _id: { rule: '$rule', severity: '$severity' }, n: { $sum: 1 } } }]);
      for (const r of rows) this.set({ rule: r._id.rule, severity: r._id.severity }, r.n);
    },
  });
  new Gauge({
    name: 'ops_subgraph_up',
    help: 'Whether each subgraph answered its last probe (1) or not (0)',
    labelNames: ['subgraph'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const h of await ops.SubgraphHealth.find().lean()) this.set({ subgraph: h._id }, h.status === 'UP' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ops_subgraph_probe_seconds',
    help: 'Round trip of the last probe of each subgraph, in seconds',
    labelNames: ['subgraph'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const h of await ops.SubgraphHealth.find().lean()) if (h.latencyMs !== null) this.set({ subgraph: h._id }, h.latencyMs / 1000);
    },
  });
  new Gauge({
    name: 'ops_webhook_dead_deliveries',
    help: 'Webhook deliveries dead-lettered',
    registers: [registry],
    async collect() {
      this.set(await sync.deadDeliveryCount());
    },
  });
  new Gauge({
    name: 'ops_gateway_subscriptions_open',
    help: 'Open subscriptions over the gateway instances that reported in the last 30 s',
    registers: [registry],
    async collect() {
      const fresh = await ops.GatewayInstance.find({ seenAt: { $gte: new Date(Date.now() - GATEWAY_FRESH_MS) } }).lean();
      this.set(fresh.reduce((n, g) => n + g.openSubscriptions, 0));
    },
  });
}
