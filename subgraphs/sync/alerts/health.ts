// Health of the parts: each subgraph probed with a signed `{ __typename }` (as the gateway's readiness check does),
// the database pinged, gateway instances as they last reported. Probe results are kept in the database with a
// count of consecutive failures, so every sync instance reports the same and the SUBGRAPH_DOWN rule can wait for
// more than one miss.
import type { Connection } from 'mongoose';
import { INTERNAL_IDENTITY_HEADER, signPrincipal } from '../../../platform/identity.ts';
import { SYNC_SERVICE } from '../subgraph-client.ts';
import type { OperationsModels, SubgraphHealthDoc } from './models.ts';

export interface ProbeTarget {
  name: string;
  url: string;
}

export async function probe(target: ProbeTarget, secret: string, timeoutMs: number): Promise<{ up: boolean; latencyMs: number }> {
  const started = performance.now();
  try {
    const res = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [INTERNAL_IDENTITY_HEADER]: signPrincipal(SYNC_SERVICE, secret, 60) },
      body: '{"query":"{ __typename }"}',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    return { up: res.status === 200, latencyMs: Math.round(performance.now() - started) };
  } catch {
    return { up: false, latencyMs: Math.round(performance.now() - started) };
  }
}

/** Probes every target and stores the outcome; returns what is stored. */
export async function probeSubgraphs(models: OperationsModels, targets: readonly ProbeTarget[], secret: string, timeoutMs: number, now = new Date()): Promise<SubgraphHealthDoc[]> {
  return Promise.all(
    targets.map(async (t) => {
      const r = await probe(t, secret, timeoutMs);
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
