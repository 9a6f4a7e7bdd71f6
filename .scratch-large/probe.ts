import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { MongoClient } from 'mongodb';
import { spawnEngine } from '../test/engine/child.ts';
import { claimDoc } from '../bench/fixtures.ts';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-'));
const child = await spawnEngine(['--port', '0', '--dbpath', dir]);
const c = await MongoClient.connect(child.uri);
const coll = c.db('bench').collection('claims');
await coll.createIndex({ claimNo: 1 }, { unique: true });
await coll.createIndex({ departmentId: 1, submittedAt: 1 });
const N = 30000;
let next = Array.from({ length: 1000 }, (_, j) => claimDoc(j));
const t = Date.now();
for (let s = 0; s < N; s += 1000) {
  const p = coll.insertMany(next as any[]);
  if (s + 1000 < N) next = Array.from({ length: 1000 }, (_, j) => claimDoc(s + 1000 + j));
  await p;
}
const sec = (Date.now() - t) / 1000;
console.log('docs/s', Math.round(N / sec));
const st = fs.readFileSync(`/proc/${child.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1];
console.log('rss MB', Number(st) / 1024);
await c.close(); child.proc.kill('SIGINT'); await child.exited; fs.rmSync(dir, { recursive: true, force: true });
