// Health of the parts: each subgraph probed with a signed `{ __typename }` (as the gateway's readiness check does),
// the database pinged, gateway instances as they last reported. Probe results are kept in the database with a
// count of consecutive failures, so every sync instance reports the same and the SUBGRAPH_DOWN rule can wait for
// more than one miss.
import type { Connection } from 'mongoose';
import { probeSubgraph } from '../../../platform/integration/subgraph-client.ts';
import { SYNC_SERVICE } from '../../../platform/integration/sync-client.ts';
import type { OperationsModels, SubgraphHealthDoc } from './models.ts';

export interface ProbeTarget {
  name: string;
  url: string;
}

/** Probes every target and stores the outcome; returns what is stored. */
export async function probeSubgraphs(models: OperationsModels, targets: readonly ProbeTarget[], secret: string, timeoutMs: number, now = new Date()): Promise<SubgraphHealthDoc[]> {
  return Promise.all(
    targets.map(async (t) => {
      const r = await probeSubgraph(t, SYNC_SERVICE, secret, timeoutMs);
      const update = r.up
        ? { $set: { status: 'UP', latencyMs: r.latencyMs, checkedAt: now, failures: 0 } }
        : { $set: { status: 'DOWN', latencyMs: null, checkedAt: now }, $inc: { failures: 1 } };
      return (await models.SubgraphHealth.findOneAndUpdate({ _id: t.name }, update, { upsert: true, returnDocument: 'after' }).lean<SubgraphHealthDoc>())!;
    }),
  );
}

export async function pingDatabase(connection: Connection): Promise<{ up: boolean; latencyMs: number | null }> {
  const started = performance.now();
  try {
    await connection.db!.admin().ping();
    return { up: true, latencyMs: Math.round(performance.now() - started) };
  } catch {
    return { up: false, latencyMs: null };
  }
}

/** Gateways that reported within this long count as running. */
export const GATEWAY_FRESH_MS = 30_000;
