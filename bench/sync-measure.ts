// Measuring helpers the sync benchmark's parts share (bench/sync.ts, bench/sync-connections.ts).
import { percentile } from '../subgraphs/sync/status.ts';
import type { BenchStack, SubmittedClaim } from './sync-stack.ts';

/** What every subscriber of the benchmark selects, and the events of one claim it waits for. */
export const SUBSCRIPTION = 'subscription($after: String) { syncEvents(after: $after) { seq type claim { claimNo } voucher { voucherNo } } }';
export const EVENT_TYPES = ['CLAIM_SUBMITTED', 'CLAIM_APPROVED', 'VOUCHER_CREATED', 'ARCHIVE_FILED'] as const;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const pct = (xs: number[], p: number): number => percentile([...xs].sort((a, b) => a - b), p) ?? NaN;
export const ms = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '-' : `${Math.round(x)} ms`);
export const n = (x: number) => x.toLocaleString('en');

export async function until(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 25): Promise<void> {
  const started = performance.now();
  while (!(await predicate())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The seq of the claim's event of `type`, once it is in the log (a delivery counts whether or not it carries errors). */
export async function seqOf(stack: BenchStack, claim: SubmittedClaim, type: string, timeoutMs: number): Promise<string> {
  let seq: number | undefined;
  await until(
    `${type} of ${claim.claimNo} in the log`,
    async () => {
      seq = (await stack.sync.services.events.events.findOne({ 'subject.type': 'ExpenseClaim', 'subject.id': claim.id, type }, { seq: 1, _id: 0 }).lean<{ seq: number }>())?.seq;
      return seq !== undefined;
    },
    timeoutMs,
    10,
  );
  return String(seq).padStart(12, '0');
}

export async function subgraphCalls(stack: BenchStack, subgraph: string): Promise<number> {
  const metric = await stack.gateway.metrics.subgraphLatency.get();
  return metric.values.filter((v) => v.metricName === 'gateway_subgraph_request_duration_seconds_count' && v.labels.subgraph === subgraph).reduce((s, v) => s + v.value, 0);
}
