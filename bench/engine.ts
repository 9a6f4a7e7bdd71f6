// Engine benchmark: bulk inserts, point lookups by _id / indexed / unindexed field, one large transaction.
// The engine runs in a child process (as `npm run db` would), journaling to a temporary directory, so the
// client and the server each have a core, and every acknowledged write is on its way to disk.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient, ObjectId } from 'mongodb';
import { Engine } from '../engine/index.ts';

const DOCS = 100_000;
const BATCH = 1_000;

async function startEngineProcess(dbPath: string): Promise<{ child: ChildProcess; uri: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'engine/cli.ts', '--port', '0', '--dbpath', dbPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const uri = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /engine ready: (mongodb:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`engine exited early with code ${code}`)));
  });
  return { child, uri };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(n, 300); i++) await fn(n + i); // warm-up: let the JIT settle first
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(samples);
}

/** The same lookups timed inside an in-process engine, without driver or network: the cost the index saves. */
async function engineExecution(): Promise<{ byId: number; indexed: number; unindexed: number }> {
  const engine = new Engine({ port: 0, dbPath: null });
  const running = await engine.listen();
  try {
    const run = (body: Record<string, unknown>) => {
      const reply = engine.execute({ ...body, $db: 'bench' }, 0);
      if (reply.ok !== 1) throw new Error(`engine command failed: ${String(reply.errmsg)}`);
      return reply;
    };
    run({ createIndexes: 'items', indexes: [{ key: { k: 1 }, name: 'k_1' }] });
    const ids: ObjectId[] = [];
    for (let start = 0; start < DOCS; start += BATCH) {
      const documents = Array.from({ length: BATCH }, (_, j) => {
        const _id = new ObjectId();
        ids.push(_id);
        return { _id, i: start + j, k: `key-${start + j}`, u: start + j, note: 'expense claim item' };
      });
      run({ insert: 'items', documents });
    }
    const pick = (i: number) => (i * 7919) % DOCS;
    const time = async (n: number, filter: (i: number) => Record<string, unknown>) =>
      timeEach(n, async (i) => {
        const reply = run({ find: 'items', filter: filter(i) });
        if ((reply.cursor as { firstBatch: unknown[] }).firstBatch.length !== 1) throw new Error('lookup did not find its document');
      });
    return {
      byId: await time(2000, (i) => ({ _id: ids[pick(i)] })),
      indexed: await time(2000, (i) => ({ k: `key-${pick(i)}` })),
      unindexed: await time(25, (i) => ({ u: pick(i) })),
    };
  } finally {
    await running.close();
  }
}

export async function benchEngine(): Promise<void> {
  const dbPath = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-engine-'));
  const { child, uri } = await startEngineProcess(dbPath);
  const client = await MongoClient.connect(`${uri}/bench`);
  try {
    const coll = client.db('bench').collection<{ _id?: ObjectId; i: number; k: string; u: number; note: string }>('items');
    await coll.createIndex({ k: 1 });

    const ids: ObjectId[] = [];
    let t = process.hrtime.bigint();
    for (let start = 0; start < DOCS; start += BATCH) {
      const docs = Array.from({ length: BATCH }, (_, j) => ({ i: start + j, k: `key-${start + j}`, u: start + j, note: 'expense claim item' }));
      const res = await coll.insertMany(docs);
      ids.push(...Object.values(res.insertedIds));
    }
    const insertSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    const docsPerSecond = DOCS / insertSeconds;

    const pick = (i: number) => (i * 7919) % DOCS;
    // find(...).toArray(): every match, so the unindexed query always scans the whole collection.
    const byId = await timeEach(1000, (i) => coll.find({ _id: ids[pick(i)] }).toArray());
    const byIndexed = await timeEach(1000, (i) => coll.find({ k: `key-${pick(i)}` }).toArray());
    const byUnindexed = await timeEach(25, (i) => coll.find({ u: pick(i) }).toArray());

    const txColl = client.db('bench').collection('ledger');
    await txColl.insertOne({ warmup: true });
    const session = client.startSession();
    t = process.hrtime.bigint();
    await session.withTransaction(async () => {
      for (let i = 0; i < 1000; i++) await txColl.insertOne({ entry: i, amount: i * 100 }, { session });
    });
    const txMs = Number(process.hrtime.bigint() - t) / 1e6;
    await session.endSession();
    const committed = await txColl.countDocuments({ entry: { $exists: true } });

    const ping = await timeEach(1000, () => client.db('bench').command({ ping: 1 }));
    const engineOnly = await engineExecution();

    const ratio = byUnindexed / byIndexed;
    const engineRatio = engineOnly.unindexed / engineOnly.indexed;
    const verdict = (ok: boolean) => (ok ? 'OK' : 'BELOW TARGET');
    console.log('\n## Embedded engine');
    console.log('Client figures: the official driver over loopback TCP to the engine in a child process, journaling to a temp dir.');
    console.log(`insertMany ${DOCS.toLocaleString('en')} docs in batches of ${BATCH}: ${insertSeconds.toFixed(2)} s = ${Math.round(docsPerSecond).toLocaleString('en')} docs/s (target >= 20,000) ${verdict(docsPerSecond >= 20_000)}`);
    console.log('');
    console.log('| find (all matches) on 100,000 docs | client round trip, median | engine execution, median |');
    console.log('|---|---|---|');
    console.log(`| by _id | ${byId.toFixed(3)} ms | ${engineOnly.byId.toFixed(4)} ms |`);
    console.log(`| by indexed field | ${byIndexed.toFixed(3)} ms | ${engineOnly.indexed.toFixed(4)} ms |`);
    console.log(`| by unindexed field | ${byUnindexed.toFixed(3)} ms | ${engineOnly.unindexed.toFixed(4)} ms |`);
    console.log(`| ratio unindexed/indexed | ${ratio.toFixed(1)}x | ${engineRatio.toFixed(1)}x |`);
    console.log('');
    console.log(`Index speed-up inside the engine: ${engineRatio.toFixed(0)}x (target >= 50x) ${verdict(engineRatio >= 50)}`);
    console.log(`Client round trips carry a fixed cost of ${ping.toFixed(3)} ms (median driver ping on this machine), which bounds the client-side ratio.`);
    console.log(`transaction of 1,000 inserts (withTransaction, one commit): ${txMs.toFixed(0)} ms, ${committed} documents committed`);
  } finally {
    await client.close();
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(dbPath, { recursive: true, force: true });
  }
}
