// A batch of sync jobs the archive does not answer in time (subgraphs/sync/pipeline.ts runJobs): the jobs fail for
// that attempt and are retried after their backoff, together again; they are not run again one by one at once (a
// hundred single calls on an archive still busy with the batch: how filing collapsed under the documents benchmark).
// The archive finishes the unanswered batch meanwhile, and the retry finds what it made: each claim once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Org } from '../oa/seed.ts';
import { until } from '../helpers/wait.ts';
import { ArchiveProxy } from './archive-proxy.ts';
import { type Stack, approvedClaim, seed, startStack } from './stack.ts';

const proxy = new ArchiveProxy();
let stack: Stack;
let org: Org;

beforeAll(async () => {
  const url = await proxy.listen();
  stack = await startStack({ label: 'sync_batch_timeout', archiveUrlForSync: url, syncCallTimeoutMs: 1500, sync: { maxAttempts: 5, retryBaseMs: 5000, retryMaxMs: 5000 } });
  proxy.target = stack.archiveUrl;
  org = await seed(stack);
});
afterAll(async () => {
  await stack?.close();
  proxy.server.close();
});

const jobsOf = (claimIds: string[]) => stack.connection.collection('sync_jobs').find({ claimId: { $in: claimIds } }).toArray();
/** Every claim has its job (the pipeline makes them from the log) and each is as `ok` says. */
const allJobs = async (claimIds: string[], ok: (job: Record<string, unknown>) => boolean) => {
  const jobs = await jobsOf(claimIds);
  return jobs.length === claimIds.length && jobs.every(ok);
};

describe('a batch the archive does not answer in time', () => {
  it('fails each job for that attempt and retries them together later, never one by one; each claim is filed once', async () => {
    await stack.sync.services.pipeline.stop();
    const claims: { id: string; claimNo: string }[] = [];
    for (let i = 0; i < 5; i++) claims.push(await approvedClaim(stack, org, `${40 + i}.00`));
    const ids = claims.map((c) => c.id);
    let release = () => undefined as void;
    proxy.hold = new Promise<void>((r) => (release = r));
    proxy.operations.length = 0;
    try {
      stack.sync.services.pipeline.start(50);
      // The held batch call times out (1.5 s): every job of it FAILED, with the timeout as its error (the retry
      // comes 2.5 to 5 s later: the backoff with its jitter).
      await until(() => allJobs(ids, (j) => j.status === 'FAILED' && j.attempts === 1), 'every job FAILED after its first attempt', 20_000);
      for (const job of await jobsOf(ids)) expect(job.lastError).toBe('archive subgraph no answer within 1500 ms');
      // One batch call reached the archive, and nothing was sent again one by one.
      expect(proxy.operations.filter((o) => o !== 'SyncClaim')).toEqual(['SyncVouchers']);
    } finally {
      proxy.hold = null;
      release();
    }
    await until(() => allJobs(ids, (j) => j.status === 'SUCCEEDED'), 'every job SUCCEEDED', 30_000);
    // The unanswered batch was finished once released, and the retry found what it made: each claim once.
    for (const id of ids) {
      const vouchers = await stack.connection.collection('vouchers').find({ claimId: id }).toArray();
      expect(vouchers).toHaveLength(1);
      expect(await stack.connection.collection('archive_records').countDocuments({ voucherId: vouchers[0]._id.toHexString() })).toBe(1);
    }
    const failures = await stack.connection.collection('domain_events').countDocuments({ type: 'SYNC_FAILED', 'subject.id': { $in: ids } });
    expect(failures).toBeGreaterThanOrEqual(ids.length);
  }, 90_000);
});
