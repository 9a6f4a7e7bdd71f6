// Each gateway instance tells the sync subgraph every few seconds that it runs and how many subscriptions it
// holds, so that systemStatus can sum them over instances (as the gateway's service identity).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { identityHeaders } from '../platform/identity.ts';
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
  let warned = 0;
  const beat = async () => {
    try {
      const res = await fetch(opts.syncUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...identityHeaders(GATEWAY_SERVICE, opts.internalSecret) },
        body: JSON.stringify({ query: REPORT, variables: { input: { id, openSubscriptions: opts.openSubscriptions() } } }),
        signal: AbortSignal.timeout(5000),
      });
      await res.body?.cancel();
    } catch {
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
