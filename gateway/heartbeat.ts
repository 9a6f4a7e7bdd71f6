// Each gateway instance tells the sync subgraph every few seconds that it runs and how many subscriptions it
// holds, so that systemStatus can sum them over instances (as the gateway's service identity).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { SubgraphCallError, subgraphClient } from '../platform/integration/subgraph-client.ts';
import type { Logger } from '../platform/logger.ts';
import { GATEWAY_SERVICE } from './directory.ts';

const REPORT = 'mutation GatewayReport($input: GatewayReportInput!) { reportGateway(input: $input) }';

export interface Heartbeat {
  readonly id: string;
  beat(): Promise<void>;
  stop(): void;
}

export function startHeartbeat(opts: { syncUrl: string; internalSecret: string; openSubscriptions: () => number; intervalMs?: number; logger: Logger }): Heartbeat {
  const id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`.slice(0, 100);
  const sync = subgraphClient({ name: 'sync', url: opts.syncUrl, as: GATEWAY_SERVICE, internalSecret: opts.internalSecret, timeoutMs: 5000 });
  let warned = 0;
  const beat = async () => {
    try {
      await sync(REPORT, { input: { id, openSubscriptions: opts.openSubscriptions() } });
    } catch (err) {
      // Only silence is warned about. An answer, even a refusal, is not: a wrong INTERNAL_SECRET already fails
      // the gateway's readiness probe of the sync subgraph.
      if (err instanceof SubgraphCallError && err.status !== null) return;
      // The sync subgraph is down; its own health shows that. Say so at most once a minute.
      if (Date.now() - warned > 60_000) {
        warned = Date.now();
        opts.logger.warn({ syncUrl: opts.syncUrl }, 'could not report this gateway to the sync subgraph');
      }
    }
  };
  const timer = setInterval(() => void beat(), opts.intervalMs ?? 10_000);
  timer.unref();
  void beat();
  return { id, beat, stop: () => clearInterval(timer) };
}
