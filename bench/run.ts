// `npm run bench`: every benchmark section, measured side by side in one run on this machine.
import { benchEngine } from './engine.ts';

console.log(`# Benchmarks (${new Date().toISOString()}, Node ${process.version}, ${(await import('node:os')).cpus().length} cores)`);
await benchEngine();
