import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { spawn } from 'node:child_process';
import { MongoClient } from 'mongodb';
import { connectionString, parseReadyLine, readCredentialsFile } from '../engine/index.ts';
import { claimDoc } from '../bench/fixtures.ts';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-'));
const extra = process.env.PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF}`] : [];
const child = spawn(process.execPath, [...extra, '--import', 'tsx', 'engine/cli.ts', '--port', '0', '--dbpath', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
const uri = await new Promise<string>((res) => { let out = ''; child.stdout!.on('data', (c) => { out += c; const r = parseReadyLine(out); if (r) res(connectionString(readCredentialsFile(r.credentialsPath), r.host, r.port)); }); });
const c = await MongoClient.connect(uri);
const coll = c.db('bench').collection('claims');
await coll.createIndex({ claimNo: 1 }, { unique: true });
await coll.createIndex({ departmentId: 1, submittedAt: 1 });
const N = Number(process.env.N ?? 20000);
let next = Array.from({ length: 1000 }, (_, j) => claimDoc(j));
const t = Date.now();
for (let s = 0; s < N; s += 1000) {
  const p = coll.insertMany(next as any[]);
  if (s + 1000 < N) next = Array.from({ length: 1000 }, (_, j) => claimDoc(s + 1000 + j));
  await p;
}
const sec = (Date.now() - t) / 1000;
console.log('docs/s', Math.round(N / sec));
await c.close(); child.kill('SIGINT'); await new Promise((r) => child.once('exit', r)); fs.rmSync(dir, { recursive: true, force: true });
