import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { spawn } from 'node:child_process';
import { MongoClient } from 'mongodb';
import { connectionString, parseReadyLine, readCredentialsFile } from '../engine/index.ts';
import { claimDoc, archiveDoc } from '../bench/fixtures.ts';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-'));
async function start(prof: boolean) {
const extra = prof && process.env.PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF}`] : [];
const child = spawn(process.execPath, [...extra, '--import', 'tsx', 'engine/cli.ts', '--port', '0', '--dbpath', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
const uri = await new Promise<string>((res) => { let out = ''; child.stdout!.on('data', (c) => { out += c; const r = parseReadyLine(out); if (r) res(connectionString(readCredentialsFile(r.credentialsPath), r.host, r.port)); }); });
return { child, uri };
}
let { child, uri } = await start(false);
let c = await MongoClient.connect(uri);
for (const [name, make, N] of [['claims', claimDoc, 10000], ['archives', archiveDoc, 2000]] as const) {
  for (let s = 0; s < N; s += 1000) await c.db('b').collection(name).insertMany(Array.from({ length: 1000 }, (_, j) => make(s + j)) as any[]);
}
await c.close(); child.kill('SIGINT'); await new Promise((r) => child.once('exit', r));
({ child, uri } = await start(true));
c = await MongoClient.connect(uri);
for (const name of ['claims', 'archives']) {
  const t = Date.now(); let n = 0;
  for await (const _ of c.db('b').collection(name).find({})) n++;
  console.log(name, n, Date.now() - t, 'ms');
}
await c.close(); child.kill('SIGINT'); await new Promise((r) => child.once('exit', r)); fs.rmSync(dir, { recursive: true, force: true });
