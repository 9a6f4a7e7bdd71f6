// systemStatus: one look at the whole integration. Subgraphs are probed now (a few seconds at most), the rest is
// read from the database: sync backlog and lag and failing webhooks (through sync's port, ports.ts), gateways' open
// subscriptions, open alerts.
import type { Connection } from 'mongoose';
import { GATEWAY_FRESH_MS, type ProbeTarget, pingDatabase, probeSubgraphs } from './alerts/health.ts';
import type { GatewayInstanceDoc, OperationsModels, SubgraphHealthDoc } from './alerts/models.ts';
import type { SyncMonitor, SyncStatusView } from './ports.ts';

export interface SystemStatusView {
  checkedAt: Date;
  database: 'UP' | 'DOWN';
  databaseLatencyMs: number | null;
  subgraphs: { name: string; status: 'UP' | 'DOWN'; latencyMs: number | null; checkedAt: Date; failures: number }[];
  sync: SyncStatusView;
  failingWebhooks: number;
  deadDeliveries: number;
  openSubscriptions: number;
  gateways: { id: string; openSubscriptions: number; seenAt: Date }[];
  openAlerts: number;
}

export interface SystemStatusSources {
  connection: Connection;
  /** The sync module's state (its port, ports.ts). */
  sync: SyncMonitor;
  ops: OperationsModels;
  targets: readonly ProbeTarget[];
  internalSecret: string;
  probeTimeoutMs: number;
}

/**
 * `probe`: how the subgraphs' health is had (default: probed now); the status sampler passes one that reuses the
 * alert monitor's recent probes (status-history/sampler.ts).
 */
export async function systemStatus(src: SystemStatusSources, now = new Date(), probe = () => probeSubgraphs(src.ops, src.targets, src.internalSecret, src.probeTimeoutMs, now)): Promise<SystemStatusView> {
  const [db, probed, sync, failing, dead, gateways, openAlerts] = await Promise.all([
    pingDatabase(src.connection),
    probe().catch(() => [] as SubgraphHealthDoc[]),
    src.sync.status(now),
    src.sync.failingWebhooks(),
    src.sync.deadDeliveryCount(),
    src.ops.GatewayInstance.find({ seenAt: { $gte: new Date(now.getTime() - GATEWAY_FRESH_MS) } }).sort({ _id: 1 }).lean<GatewayInstanceDoc[]>(),
    src.ops.Alert.countDocuments({ open: true }),
  ]);
  return {
    checkedAt: now,
    database: db.up ? 'UP' : 'DOWN',
    databaseLatencyMs: db.latencyMs,
    // This subgraph answers the question, so it is up.
    subgraphs: [...probed.map((h) => ({ name: h._id, status: h.status, latencyMs: h.latencyMs, checkedAt: h.checkedAt, failures: h.failures })), { name: 'sync', status: 'UP' as const, latencyMs: 0, checkedAt: now, failures: 0 }],
    sync,
    failingWebhooks: failing,
    deadDeliveries: dead,
    openSubscriptions: gateways.reduce((n, g) => n + g.openSubscriptions, 0),
    gateways: gateways.map((g) => ({ id: g._id, openSubscriptions: g.openSubscriptions, seenAt: g.seenAt })),
    openAlerts,
  };
}
