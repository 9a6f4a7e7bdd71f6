// The engine benchmark's insert phases (bench/engine.ts): batches through the driver, and into empty directories
// the engine alone (pre-encoded messages), with an fsync at every commit, and the previous benchmark's documents.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Document } from 'mongodb';
import { RawConnection, opMsg } from '../test/engine/raw-wire.ts';
import { BATCH, CLAIMS, FSYNC, FSYNC_SAMPLE, PRE_ENCODED, PRE_ENCODED_RUNS, connect, hasFsyncOption, now, progress, startChild, stopChild } from './engine-child.ts';
import { claimDoc } from './fixtures.ts';

export async function insertBatches(
  total: number,
  make: (i: number) => Document,
  insert: (docs: Document[]) => Promise<unknown>,
  label: string,
  /** Called with the time taken so far once this many documents are in. */
  sample?: { at: number; ms?: number },
): Promise<number> {
  // The next batch is generated while the engine works on the current one: the client's own cost stays off the clock
  // as far as the two cores allow.
  let next = Array.from({ length: Math.min(BATCH, total) }, (_, j) => make(j));
  let lastReport = now();
  const start = now();
  for (let s = 0; s < total; s += BATCH) {
    const pending = insert(next);
    const n = s + BATCH;
    if (n < total) next = Array.from({ length: Math.min(BATCH, total - n) }, (_, j) => make(n + j));
    await pending;
    if (sample && sample.ms === undefined && s + BATCH >= sample.at) sample.ms = now() - start;
    if (now() - lastReport > 15_000) {
      lastReport = now();
      progress(`${label}: ${(s + BATCH).toLocaleString('en')} of ${total.toLocaleString('en')} (${Math.round((s + BATCH) / ((now() - start) / 1000)).toLocaleString('en')}/s)`);
    }
  }
  return now() - start;
}

/** Docs/s of `n` documents inserted in batches into one collection of a new engine on an empty directory. */
export async function insertIntoEmptyEngine(
  label: string,
  fsync: string | undefined,
  indexes: Array<[Document, { unique?: boolean }?]>,
  n: number,
  make: (i: number) => Document,
): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-engine-empty-'));
  try {
    const child = await startChild(dir, fsync);
    const client = await connect(child.uri);
    try {
      const coll = client.db('bench').collection('items');
      for (const [key, options] of indexes) await coll.createIndex(key, options ?? {});
      const ms = await insertBatches(n, make, (docs) => coll.insertMany(docs), label);
      return n / (ms / 1000);
    } finally {
      await client.close();
      await stopChild(child);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The engine's own insert rate: the first PRE_ENCODED claims as OP_MSG messages encoded before the clock starts,
 * sent over one authenticated connection one batch at a time, into PRE_ENCODED_RUNS new collections one after
 * another (the median is the figure; one run moved by a fifth with other work on the machine). A warm-up run of a
 * third as many claims goes first and is not counted: the engine is a long-running server, and its first batches
 * run before V8 has optimised its code and grown its heap (each run was faster than the one before). Through the driver
 * the client's encoding (about a third of each batch's time) runs on the same two cores and in series with the
 * engine.
 */
export async function insertPreEncoded(): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-engine-raw-'));
  const all = Math.min(PRE_ENCODED, CLAIMS);
  try {
    const child = await startChild(dir);
    const client = await connect(child.uri);
    const raw = await RawConnection.open('127.0.0.1', Number(new URL(child.uri).port));
    try {
      const url = new URL(child.uri);
      await raw.authenticate({ username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) });
      const rates: number[] = [];
      for (let run = 0; run <= PRE_ENCODED_RUNS; run++) {
        const warmUp = run === 0;
        const n = warmUp ? Math.ceil(all / 3) : all;
        const name = warmUp ? 'claims_warm_up' : `claims_${run}`;
        const coll = client.db('bench').collection(name);
        await coll.createIndex({ claimNo: 1 }, { unique: true });
        await coll.createIndex({ departmentId: 1, submittedAt: 1 });
        const messages = Array.from({ length: Math.ceil(n / BATCH) }, (_, b) =>
          opMsg({ insert: name, ordered: true, $db: 'bench' }, { sequences: { documents: Array.from({ length: Math.min(BATCH, n - b * BATCH) }, (_, j) => claimDoc(b * BATCH + j)) } }),
        );
        const start = now();
        for (const m of messages) {
          const reply = (await raw.request(m, 60_000)).documents[0];
          if (reply.ok !== 1 || reply.writeErrors) throw new Error(`pre-encoded insert refused: ${JSON.stringify(reply)}`);
        }
        const ms = now() - start;
        const count = await coll.countDocuments();
        if (count !== n) throw new Error(`pre-encoded inserts: ${count} documents stored, ${n} sent`);
        if (!warmUp) rates.push(n / (ms / 1000));
        progress(`engine alone, ${warmUp ? `warm-up (${n.toLocaleString('en')} claims, not counted)` : `run ${run}`}: ${Math.round(n / (ms / 1000)).toLocaleString('en')} docs/s`);
      }
      return rates;
    } finally {
      raw.socket.destroy();
      await client.close();
      await stopChild(child);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The first FSYNC_SAMPLE claims again, into an empty directory, with the WAL fsynced at every commit. */
export async function insertWithFsyncPerCommit(): Promise<number | undefined> {
  if (!hasFsyncOption()) return undefined;
  const indexes: Array<[Document, { unique?: boolean }?]> = [[{ claimNo: 1 }, { unique: true }], [{ departmentId: 1, submittedAt: 1 }]];
  return insertIntoEmptyEngine('claims (--fsync commit)', 'commit', indexes, Math.min(FSYNC_SAMPLE, CLAIMS), claimDoc);
}

/** The previous benchmark's documents ({ i, k, u, note }, ~100 bytes, an index on k): 100,000 in batches of 1,000. */
export const insertPreviousShape = (): Promise<number> =>
  insertIntoEmptyEngine('small documents', FSYNC, [[{ k: 1 }]], 100_000, (i) => ({ i, k: `key-${i}`, u: i, note: 'expense claim item' }));
