// Engine benchmark (`npm run bench -- engine`): the embedded engine on SQLite storage at a realistic size, in one run.
//
//   1. load     a child process (`engine/cli.ts --dbpath DIR --port 0`, as `npm run db` runs it) gets 200,000 expense
//               claims of ~2 KB (claimNo unique, departmentId+submittedAt indexed), 20,000 archive records with 20 KB
//               of content and 600 MB of GridFS files (50 × 10 MB + 1 × 100 MB), all through the official driver over
//               loopback TCP; every batch is one commit, in the OS before it is acknowledged and on the disk when the
//               engine's --fsync mode says (ENGINE_FSYNC picks it for this run; the CLI's default otherwise)
//   2. restart  a new child on the full directory: spawn → ready line → first answered query; indexed lookups over
//               the driver; then a client reads everything back (every document through a cursor, every GridFS file
//               streamed and hashed) while the child's RSS is sampled from /proc/PID/status
//   3. in process  `new Engine({ dbPath, cacheMb })` on the same directory: time to ready, and the indexed lookup
//               through `executeTrusted` without driver or network
//   4. kill -9  three rounds of a writer (ordered insertMany of 1,000 with known _ids, and single updates) killed at
//               a random moment; after a restart every acknowledged write must be there, and of the batch in flight
//               at most a prefix
//   5. fsync    the first 50,000 claims again into an empty directory with --fsync commit (the WAL fsynced at every
//               commit), beside the same inserts of phase 1
//   6. engine alone  60,000 claims as OP_MSG insert messages encoded before the clock starts, one batch at a time
//               over one raw authenticated connection, three times after an uncounted warm-up of 20,000: what the
//               engine takes per batch, without the driver's encoding
// The data directory is under os.tmpdir() and removed at the end. The run bounds itself (BUDGET_MS).
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BSON } from 'bson';
import { type Document, GridFSBucket, type ObjectId } from 'mongodb';
import { Engine } from '../engine/index.ts';
import {
  ARCHIVES, BATCH, BUDGET_MS, CACHE_MB, CLAIMS, CRASH_ROUNDS, FSYNC, FSYNC_SAMPLE, LARGE_FILE_MB, LOOKUPS, MiB, PRE_ENCODED, PRE_ENCODED_RUNS,
  RssSampler, SMALL_FILES, SMALL_FILE_MB, cacheOption, connect, fsyncNote, live, mb, now, percentile, progress, seconds, startChild, stopChild, t0,
} from './engine-child.ts';
import { insertBatches, insertPreEncoded, insertPreviousShape, insertWithFsyncPerCommit } from './engine-inserts.ts';
import { archiveDoc, claimDoc, claimNo, idOf, prng } from './fixtures.ts';

// ---------------------------------------------------------------------------------------------------------
// GridFS content: distinct for every file and MiB, hashed while it is written

const POOL = randomBytes(4 * MiB);

function* fileChunks(file: number, sizeMb: number): Generator<Buffer> {
  for (let m = 0; m < sizeMb; m++) {
    const offset = ((file * 7919 + m * 104729) % (3 * MiB)) & ~7;
    const chunk = Buffer.from(POOL.subarray(offset, offset + MiB));
    chunk.writeUInt32BE(file, 0);
    chunk.writeUInt32BE(m, 4);
    yield chunk;
  }
}

function fileHash(file: number, sizeMb: number): string {
  const h = createHash('sha256');
  for (const c of fileChunks(file, sizeMb)) h.update(c);
  return h.digest('hex');
}

async function uploadFile(bucket: GridFSBucket, file: number, sizeMb: number): Promise<ObjectId> {
  const upload = bucket.openUploadStream(`scan-${String(file).padStart(3, '0')}.pdf`, { metadata: { file, sizeMb } });
  await pipeline(Readable.from(fileChunks(file, sizeMb)), upload);
  return upload.id as ObjectId;
}

async function downloadHash(bucket: GridFSBucket, id: ObjectId): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  await pipeline(
    bucket.openDownloadStream(id),
    new Writable({
      write(chunk: Buffer, _enc, done) {
        h.update(chunk);
        bytes += chunk.length;
        done();
      },
    }),
  );
  return { hash: h.digest('hex'), bytes };
}

// ---------------------------------------------------------------------------------------------------------
// Phases

interface LoadFigures {
  claimsPerSecond: number;
  /** Over the first FSYNC_SAMPLE claims, to compare with the same inserts under --fsync commit. */
  firstClaimsPerSecond: number;
  claimsSeconds: number;
  archivesPerSecond: number;
  archiveMBps: number;
  gridfsMBps: number;
  gridfsBytes: number;
  files: Array<{ id: ObjectId; file: number; sizeMb: number; hash: string }>;
  loadMaxRss: number;
}

async function load(dbPath: string): Promise<LoadFigures> {
  const child = await startChild(dbPath);
  const sampler = new RssSampler(child.pid);
  const client = await connect(child.uri);
  try {
    const db = client.db('bench');
    const claims = db.collection('claims');
    await claims.createIndex({ claimNo: 1 }, { unique: true });
    await claims.createIndex({ departmentId: 1, submittedAt: 1 });
    progress(`loading ${CLAIMS.toLocaleString('en')} claims of ~${BSON.calculateObjectSize(claimDoc(1))} bytes in ordered batches of ${BATCH}`);
    const sample: { at: number; ms?: number } = { at: Math.min(FSYNC_SAMPLE, CLAIMS) };
    const claimsMs = await insertBatches(CLAIMS, claimDoc, (docs) => claims.insertMany(docs), 'claims', sample);
    const claimsPerSecond = CLAIMS / (claimsMs / 1000);
    progress(`claims: ${seconds(claimsMs)}, ${Math.round(claimsPerSecond).toLocaleString('en')} docs/s`);

    const archives = db.collection('archives');
    await archives.createIndex({ archiveNo: 1 }, { unique: true });
    await archives.createIndex({ fiscalYear: 1, period: 1 });
    const archiveBytes = ARCHIVES * BSON.calculateObjectSize(archiveDoc(1));
    progress(`loading ${ARCHIVES.toLocaleString('en')} archive records of ~${BSON.calculateObjectSize(archiveDoc(1))} bytes`);
    const archivesMs = await insertBatches(ARCHIVES, archiveDoc, (docs) => archives.insertMany(docs), 'archives');
    progress(`archives: ${seconds(archivesMs)}, ${Math.round(ARCHIVES / (archivesMs / 1000)).toLocaleString('en')} docs/s`);

    const bucket = new GridFSBucket(db, { bucketName: 'scans' });
    const plan = [...Array.from({ length: SMALL_FILES }, (_, i) => ({ file: i, sizeMb: SMALL_FILE_MB })), { file: SMALL_FILES, sizeMb: LARGE_FILE_MB }];
    const gridfsBytes = plan.reduce((s, f) => s + f.sizeMb * MiB, 0);
    progress(`uploading ${plan.length} GridFS files, ${mb(gridfsBytes)} in all`);
    const files: LoadFigures['files'] = [];
    const gStart = now();
    for (const f of plan) files.push({ id: await uploadFile(bucket, f.file, f.sizeMb), ...f, hash: '' });
    const gridfsMs = now() - gStart;
    for (const f of files) f.hash = fileHash(f.file, f.sizeMb);
    progress(`GridFS: ${seconds(gridfsMs)}, ${(gridfsBytes / MiB / (gridfsMs / 1000)).toFixed(1)} MB/s`);
    return {
      claimsPerSecond,
      firstClaimsPerSecond: sample.at / ((sample.ms ?? claimsMs) / 1000),
      claimsSeconds: claimsMs / 1000,
      archivesPerSecond: ARCHIVES / (archivesMs / 1000),
      archiveMBps: archiveBytes / MiB / (archivesMs / 1000),
      gridfsMBps: gridfsBytes / MiB / (gridfsMs / 1000),
      gridfsBytes,
      files,
      loadMaxRss: sampler.stop().maxRss,
    };
  } finally {
    sampler.stop();
    await client.close();
    await stopChild(child);
  }
}

function sizeOnDisk(dir: string): { total: number; files: string } {
  let total = 0;
  const parts: string[] = [];
  for (const f of fs.readdirSync(dir)) {
    const st = fs.statSync(path.join(dir, f));
    if (!st.isFile()) continue;
    total += st.size;
    if (st.size > MiB) parts.push(`${f} ${mb(st.size)}`);
  }
  return { total, files: parts.join(', ') };
}

interface RestartFigures {
  readyMs: number;
  firstAnswerMs: number;
  driverP50: number;
  driverP99: number;
  readMs: number;
  readDocs: number;
  readBytes: number;
  mismatches: number;
  rss: { maxRss: number; hwm: number; samples: number };
}

async function restartAndRead(dbPath: string, files: LoadFigures['files']): Promise<RestartFigures> {
  const child = await startChild(dbPath);
  const sampler = new RssSampler(child.pid);
  const client = await connect(child.uri);
  try {
    const claims = client.db('bench').collection('claims');
    const first = await claims.findOne({ claimNo: claimNo(CLAIMS - 1) });
    const firstAnswerMs = now() - child.spawnedAt;
    if (!first) throw new Error('the first query after the restart did not find its claim');
    progress(`restart: ready ${seconds(child.readyMs)}, first answer ${seconds(firstAnswerMs)} after spawn`);

    const rnd = prng(7);
    const samples: number[] = [];
    for (let i = 0; i < LOOKUPS + 200; i++) {
      const no = claimNo(Math.floor(rnd() * CLAIMS));
      const t = now();
      const doc = await claims.findOne({ claimNo: no });
      if (i >= 200) samples.push(now() - t);
      if (doc?.claimNo !== no) throw new Error(`lookup of ${no} failed`);
    }
    progress(`indexed lookups over the driver: p50 ${percentile(samples, 50).toFixed(3)} ms`);

    // Everything back: documents through cursors (every 997th compared byte for byte), files streamed and hashed.
    progress('reading everything back (claims, archives, GridFS) while sampling the engine RSS');
    const readStart = now();
    let readDocs = 0;
    let readBytes = 0;
    let mismatches = 0;
    for (const [name, make] of [['claims', claimDoc], ['archives', archiveDoc]] as const) {
      let n = 0;
      for await (const doc of client.db('bench').collection(name).find({})) {
        const bytes = BSON.serialize(doc);
        readBytes += bytes.length;
        if (n % 997 === 0) {
          const i = Buffer.from((doc._id as ObjectId).id).readUInt32BE(8);
          if (!Buffer.from(bytes).equals(Buffer.from(BSON.serialize(make(i))))) mismatches++;
        }
        n++;
      }
      const expected = name === 'claims' ? CLAIMS : ARCHIVES;
      if (n !== expected) throw new Error(`read ${n} ${name}, expected ${expected}`);
      readDocs += n;
      progress(`read ${n.toLocaleString('en')} ${name}`);
    }
    const bucket = new GridFSBucket(client.db('bench'), { bucketName: 'scans' });
    for (const f of files) {
      const { hash, bytes } = await downloadHash(bucket, f.id);
      readBytes += bytes;
      if (hash !== f.hash || bytes !== f.sizeMb * MiB) mismatches++;
    }
    const readMs = now() - readStart;
    progress(`read ${mb(readBytes)} in ${seconds(readMs)}; GridFS files hashed`);
    return {
      readyMs: child.readyMs,
      firstAnswerMs,
      driverP50: percentile(samples, 50),
      driverP99: percentile(samples, 99),
      readMs,
      readDocs,
      readBytes,
      mismatches,
      rss: sampler.stop(),
    };
  } finally {
    sampler.stop();
    await client.close();
    await stopChild(child);
  }
}

async function inProcess(dbPath: string): Promise<{ readyMs: number; firstMs: number; p50: number; p99: number }> {
  const start = now();
  const engine = new Engine({ dbPath, port: 0, cacheMb: CACHE_MB });
  const running = await engine.listen();
  const readyMs = now() - start;
  try {
    const find = (no: string) => {
      const reply = engine.executeTrusted({ find: 'claims', filter: { claimNo: no }, limit: 1, $db: 'bench' });
      const batch = (reply.cursor as { firstBatch?: Document[] } | undefined)?.firstBatch;
      if (reply.ok !== 1 || batch?.length !== 1 || batch[0].claimNo !== no) throw new Error(`lookup of ${no} failed: ${String(reply.errmsg)}`);
    };
    find(claimNo(0));
    const firstMs = now() - start;
    const rnd = prng(11);
    const samples: number[] = [];
    for (let i = 0; i < LOOKUPS * 2 + 500; i++) {
      const no = claimNo(Math.floor(rnd() * CLAIMS));
      const t = now();
      find(no);
      if (i >= 500) samples.push(now() - t);
    }
    return { readyMs, firstMs, p50: percentile(samples, 50), p99: percentile(samples, 99) };
  } finally {
    await running.close();
  }
}

interface CrashRound {
  ackedBatches: number;
  ackedUpdates: number;
  inFlightPrefix: number | undefined;
  lost: number;
  invalidPartial: number;
  invented: number;
  killAfterMs: number;
  recoveryReadyMs: number;
}

const crashDoc = (round: number, n: number): Document => ({ ...claimDoc(n), _id: idOf(100 + round, n), claimNo: `CR-${round}-${n}` });

async function crashRound(dbPath: string, round: number): Promise<CrashRound> {
  const child = await startChild(dbPath);
  const client = await connect(child.uri);
  const db = client.db('bench');
  const rnd = prng(1000 + round);
  let stop = false;

  const ackedBatches: number[] = [];
  let inFlightBatch: number | undefined;
  const batches = (async () => {
    for (let b = 0; !stop; b++) {
      const docs = Array.from({ length: BATCH }, (_, j) => crashDoc(round, b * BATCH + j));
      inFlightBatch = b;
      try {
        await db.collection('crashlog').insertMany(docs, { ordered: true });
      } catch {
        return;
      }
      ackedBatches.push(b);
      inFlightBatch = undefined;
    }
  })();

  // Single updates: the claim each one touched and its sequence, acknowledged or in flight.
  const ackedSeq = new Map<number, number>();
  let inFlightUpdate: { claim: number; seq: number } | undefined;
  const updates = (async () => {
    for (let seq = 1; !stop; seq++) {
      const claim = Math.floor(rnd() * CLAIMS);
      inFlightUpdate = { claim, seq };
      try {
        const r = await db.collection('claims').updateOne({ claimNo: claimNo(claim) }, { $set: { crash: { round, seq } } });
        if (r.matchedCount !== 1) throw new Error(`update of claim ${claim} matched ${r.matchedCount}`);
      } catch (err) {
        if ((err as Error).message.startsWith('update of claim')) throw err;
        return;
      }
      ackedSeq.set(claim, seq);
      inFlightUpdate = undefined;
    }
  })();

  // Kill once both writers have been acknowledged a few times, at a random moment after that.
  const deadline = now() + 60_000;
  while ((ackedBatches.length < 1 || ackedSeq.size < 5) && now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const killAfterMs = 200 + Math.floor(Math.random() * 2500); // a different moment every run
  await new Promise((r) => setTimeout(r, killAfterMs));
  child.proc.kill('SIGKILL');
  const { signal } = await child.exited;
  if (signal !== 'SIGKILL') throw new Error(`the engine was not killed by SIGKILL (${signal})`);
  stop = true;
  await Promise.all([batches, updates]);
  await client.close().catch(() => {});

  const again = await startChild(dbPath);
  const verify = await connect(again.uri);
  try {
    const vdb = verify.db('bench');
    const present = new Set(
      (await vdb.collection('crashlog').find({ _id: { $gte: idOf(100 + round, 0), $lte: idOf(100 + round, 2 ** 40) } }, { projection: { _id: 1 } }).toArray()).map((d) =>
        Buffer.from((d._id as ObjectId).id).readUInt32BE(8),
      ),
    );
    let lost = 0;
    for (const b of ackedBatches) for (let j = 0; j < BATCH; j++) if (!present.has(b * BATCH + j)) lost++;
    // The batch in flight: a prefix of it (all or nothing here: one batch is one commit).
    let invalidPartial = 0;
    let inFlightPrefix: number | undefined;
    if (inFlightBatch !== undefined) {
      let k = 0;
      while (k < BATCH && present.has(inFlightBatch * BATCH + k)) k++;
      for (let j = k; j < BATCH; j++) if (present.has(inFlightBatch * BATCH + j)) invalidPartial = 1;
      inFlightPrefix = k;
    }
    const known = new Set([...ackedBatches, ...(inFlightBatch === undefined ? [] : [inFlightBatch])]);
    const invented = [...present].filter((n) => !known.has(Math.floor(n / BATCH))).length;
    // A sampled document of an acknowledged batch comes back whole.
    if (ackedBatches.length) {
      const n = ackedBatches[ackedBatches.length - 1] * BATCH + 500;
      const doc = await vdb.collection('crashlog').findOne({ _id: idOf(100 + round, n) });
      if (!doc || !Buffer.from(BSON.serialize(doc)).equals(Buffer.from(BSON.serialize(crashDoc(round, n))))) lost++;
    }
    // Updates: each touched claim holds its last acknowledged sequence, or the one in flight.
    const touched = [...ackedSeq.keys()];
    const stored = new Map<string, { round: number; seq: number } | undefined>();
    for (let i = 0; i < touched.length; i += 500) {
      const part = touched.slice(i, i + 500).map(claimNo);
      for (const d of await vdb.collection('claims').find({ claimNo: { $in: part } }, { projection: { claimNo: 1, crash: 1 } }).toArray()) {
        stored.set(d.claimNo as string, d.crash as { round: number; seq: number } | undefined);
      }
    }
    for (const [claim, seq] of ackedSeq) {
      const s = stored.get(claimNo(claim));
      const ok = s?.round === round && (s.seq === seq || (inFlightUpdate?.claim === claim && s.seq === inFlightUpdate.seq));
      if (!ok) lost++;
    }
    return {
      ackedBatches: ackedBatches.length,
      ackedUpdates: [...ackedSeq.values()].length,
      inFlightPrefix,
      lost,
      invalidPartial,
      invented,
      killAfterMs,
      recoveryReadyMs: again.readyMs,
    };
  } finally {
    await verify.close();
    await stopChild(again);
  }
}

// ---------------------------------------------------------------------------------------------------------

export async function benchEngine(): Promise<void> {
  const dbPath = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-engine-'));
  const watchdog = setTimeout(() => {
    console.error(`engine benchmark: over its budget of ${BUDGET_MS / 60_000} minutes; stopping`);
    for (const p of live) p.kill('SIGKILL');
    fs.rmSync(dbPath, { recursive: true, force: true });
    process.exit(1);
  }, BUDGET_MS);
  watchdog.unref();
  console.log('\n## Embedded engine (SQLite storage)');
  console.log(`Load average at the start: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (other processes on this 2-core machine skew the figures).`);
  console.log(`Engine in a child process (engine/cli.ts --dbpath ${dbPath}), the official driver over loopback TCP; page cache: ${cacheOption().note}; commits: ${fsyncNote(FSYNC)}.`);
  try {
    const loaded = await load(dbPath);
    const disk = sizeOnDisk(dbPath);
    progress(`size on disk after a clean stop: ${mb(disk.total)} (${disk.files})`);
    const restarted = await restartAndRead(dbPath, loaded.files);
    progress('in-process engine on the same directory');
    const local = await inProcess(dbPath);
    progress(`in process: ready ${seconds(local.readyMs)}, lookup p50 ${local.p50.toFixed(4)} ms`);
    const rounds: CrashRound[] = [];
    for (let r = 1; r <= CRASH_ROUNDS; r++) {
      const round = await crashRound(dbPath, r);
      rounds.push(round);
      progress(
        `crash round ${r}: killed ${round.killAfterMs} ms in; ${round.ackedBatches} batches and ${round.ackedUpdates} updates acknowledged; ` +
          `batch in flight: ${round.inFlightPrefix === undefined ? 'none' : `${round.inFlightPrefix} of ${BATCH} present`}; lost ${round.lost}, invalid partial ${round.invalidPartial}, invented ${round.invented}; recovery ready ${seconds(round.recoveryReadyMs)}`,
      );
    }
    const finalDisk = sizeOnDisk(dbPath);
    progress(`the first ${Math.min(FSYNC_SAMPLE, CLAIMS).toLocaleString('en')} claims again, into an empty directory, with --fsync commit`);
    const fsyncCommitRate = await insertWithFsyncPerCommit();
    progress(`${Math.min(PRE_ENCODED, CLAIMS).toLocaleString('en')} claims as pre-encoded OP_MSG batches, into an empty directory (the engine alone)`);
    const preEncodedRates = await insertPreEncoded();
    const preEncodedRate = [...preEncodedRates].sort((a, b) => a - b)[Math.floor(preEncodedRates.length / 2)];
    progress('100,000 documents of the previous benchmark (~100 bytes, one index), into an empty directory');
    const smallRate = await insertPreviousShape();

    const ok = (pass: boolean) => (pass ? 'OK' : 'MISSED');
    const rssTarget = (CACHE_MB + 200) * MiB;
    const maxRss = Math.max(restarted.rss.maxRss, restarted.rss.hwm);
    const dataBytes = CLAIMS * BSON.calculateObjectSize(claimDoc(1)) + ARCHIVES * BSON.calculateObjectSize(archiveDoc(1)) + loaded.gridfsBytes;
    const lost = rounds.reduce((s, r) => s + r.lost + r.invented, 0);
    const invalid = rounds.reduce((s, r) => s + r.invalidPartial, 0);
    const prev = 'not recorded';
    const rows: Array<[string, string, string, string, string]> = [
      ['data set (claims + archives + GridFS)', `${mb(dataBytes)}: ${CLAIMS.toLocaleString('en')} + ${ARCHIVES.toLocaleString('en')} docs, ${SMALL_FILES + 1} files`, '≥ 1 GB', ok(dataBytes >= 1024 * MiB), prev],
      ['size on disk (clean stop / after crash rounds)', `${mb(disk.total)} / ${mb(finalDisk.total)}`, '—', '', prev],
      [
        `insert claims, batches of 1,000, the engine alone (pre-encoded OP_MSG, one connection), ${Math.min(PRE_ENCODED, CLAIMS).toLocaleString('en')} × ${PRE_ENCODED_RUNS} after a warm-up: median (runs)`,
        `${Math.round(preEncodedRate).toLocaleString('en')} docs/s (${preEncodedRates.map((r) => Math.round(r).toLocaleString('en')).join(', ')})`,
        '≥ 20,000 docs/s',
        ok(preEncodedRate >= 20_000),
        prev,
      ],
      [`insert claims, batches of 1,000, through the driver (its encoding on the same 2 cores), all ${CLAIMS.toLocaleString('en')}`, `${Math.round(loaded.claimsPerSecond).toLocaleString('en')} docs/s`, '—', '', prev],
      [
        `insert the first ${Math.min(FSYNC_SAMPLE, CLAIMS).toLocaleString('en')} claims: ${FSYNC ?? 'default'} / --fsync commit`,
        `${Math.round(loaded.firstClaimsPerSecond).toLocaleString('en')} / ${fsyncCommitRate === undefined ? 'n/a' : Math.round(fsyncCommitRate).toLocaleString('en')} docs/s`,
        '—',
        '',
        prev,
      ],
      ['insert the previous benchmark documents (~100 bytes), batches of 1,000', `${Math.round(smallRate).toLocaleString('en')} docs/s`, '≥ 20,000 docs/s', ok(smallRate >= 20_000), prev],
      ['insert archive records (20 KB), batches of 1,000', `${Math.round(loaded.archivesPerSecond).toLocaleString('en')} docs/s (${loaded.archiveMBps.toFixed(1)} MB/s)`, '—', '', prev],
      ['GridFS upload', `${loaded.gridfsMBps.toFixed(1)} MB/s`, '—', '', prev],
      ['indexed lookup p50 / p99, in process (executeTrusted)', `${local.p50.toFixed(3)} / ${local.p99.toFixed(3)} ms`, '≤ 1 ms (p50)', ok(local.p50 <= 1), prev],
      ['indexed lookup p50 / p99, over the driver', `${restarted.driverP50.toFixed(3)} / ${restarted.driverP99.toFixed(3)} ms`, '—', '', prev],
      ['restart: spawn → ready line (CLI)', seconds(restarted.readyMs), '≤ 5 s', ok(restarted.readyMs <= 5000), prev],
      ['restart: spawn → first answered query (CLI)', seconds(restarted.firstAnswerMs), '≤ 5 s', ok(restarted.firstAnswerMs <= 5000), prev],
      ['restart in process: new Engine → ready / first answer', `${seconds(local.readyMs)} / ${seconds(local.firstMs)}`, '≤ 5 s', ok(local.firstMs <= 5000), prev],
      ['restart after kill -9 → ready (max of rounds)', seconds(Math.max(...rounds.map((r) => r.recoveryReadyMs))), '≤ 5 s', ok(Math.max(...rounds.map((r) => r.recoveryReadyMs)) <= 5000), prev],
      ['engine RSS while a client reads everything (max VmRSS / VmHWM)', `${mb(restarted.rss.maxRss)} / ${mb(restarted.rss.hwm)}`, `≤ ${CACHE_MB + 200} MB (cache ${CACHE_MB} + 200)`, ok(maxRss <= rssTarget), prev],
      ['read everything back (cursor + GridFS streams)', `${mb(restarted.readBytes)} in ${seconds(restarted.readMs)}, ${restarted.mismatches} mismatches`, '0 mismatches', ok(restarted.mismatches === 0), prev],
      ['engine RSS while loading (max VmRSS)', mb(loaded.loadMaxRss), '—', '', prev],
    ];
    console.log('');
    console.log('| figure | this build (SQLite) | target | | previous release (from README) |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
    console.log('');
    console.log(`${rounds.length}/${CRASH_ROUNDS} crash rounds: ${lost} lost acknowledged writes, ${invalid} invalid partial batches`);
    console.log(
      'previous release (from README): the README records no engine benchmark figures for the journal+snapshot storage, ' +
        'and that storage no longer exists in this tree, so there is nothing to run side by side.',
    );
    console.log(`Load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; whole section ${seconds(Date.now() - t0)}.`);
    console.log(`Reads: ${restarted.readDocs.toLocaleString('en')} documents and ${SMALL_FILES + 1} files; RSS sampled ${restarted.rss.samples} times every 100 ms from /proc/${'<pid>'}/status.`);
  } finally {
    clearTimeout(watchdog);
    for (const p of live) p.kill('SIGKILL');
    fs.rmSync(dbPath, { recursive: true, force: true });
  }
}
