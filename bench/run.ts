// `npm run bench`: every benchmark section, measured side by side in one run on this machine, in production mode
// (NODE_ENV=production, as the service runs: graphql skips its development-time checks).
import os from 'node:os';
import { benchEngine } from './engine.ts';
import { benchGateway } from './gateway.ts';

console.log(`# Benchmarks (${new Date().toISOString()}, Node ${process.version}, ${os.cpus().length} cores)`);
await benchEngine();
await benchGateway();
