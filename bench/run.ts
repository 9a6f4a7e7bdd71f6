// `npm run bench`: every benchmark section, measured side by side in one run on this machine, in production mode
// (NODE_ENV=production, as the service runs: graphql skips its development-time checks).
// `npm run bench -- sync` (or engine, gateway, reports; several allowed) runs only the sections named.
// `npm run bench -- spike` (the SQLite-vs-LMDB storage spike) runs only when named: it needs the lmdb package,
// which is not a dependency (`npm install --no-save lmdb` first).
// `npm run bench -- soak` (the real system under mixed load for BENCH_SOAK_SECONDS, default 300) runs only when named.
// `npm run bench -- documents` (originals uploaded, filed and packaged on the real system; bench/documents.ts) too.
// `npm run bench -- close`: a month's books and reports generated from 50,000 vouchers (bench/close.ts).
// `npm run bench -- handover`: a year of 120,000 records handed over to the archive department (bench/handover.ts).
import os from 'node:os';
import { benchEngine } from './engine.ts';
import { benchGateway } from './gateway.ts';
import { benchReports } from './reports.ts';
import { benchSync } from './sync.ts';

const only = new Set(process.argv.slice(2));
const wanted = (section: string) => only.size === 0 || only.has(section);

console.log(`# Benchmarks (${new Date().toISOString()}, Node ${process.version}, ${os.cpus().length} cores)`);
if (wanted('engine')) await benchEngine();
if (wanted('gateway')) await benchGateway();
if (wanted('sync')) await benchSync();
if (wanted('reports')) await benchReports();
if (only.has('soak')) await (await import('./soak.ts')).benchSoak();
if (only.has('documents')) await (await import('./documents.ts')).benchDocuments();
if (wanted('close')) await (await import('./close.ts')).benchClose();
if (wanted('handover')) await (await import('./handover.ts')).benchHandover();
if (only.has('spike')) await (await import('./storage-spike.ts')).benchStorageSpike();
