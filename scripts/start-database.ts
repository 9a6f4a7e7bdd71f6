// The embedded database as a process of its own: what `npm start` runs first when MONGODB_URI is unset
// (platform/supervisor.ts). The engine on 127.0.0.1 (a free port) with its data and
// credentials in DATA_DIR; stopped last, it flushes and snapshots on SIGTERM. For the engine alone with its own
// command line, see `npm run db` (engine/cli.ts).
import { DEFAULT_DB_NAME, logEmbeddedEngine, openEmbeddedEngine } from '../platform/database.ts';
import { redactUri } from '../platform/logger.ts';
import { reportReady } from '../platform/supervisor.ts';
import { runProcess } from './process.ts';

await runProcess(undefined, async ({ config, logger, lifecycle }) => {
  const { engine, dataDir } = await openEmbeddedEngine(config, logger, 0);
  lifecycle.registerShutdown('database', () => engine.close());
  logEmbeddedEngine(logger, engine, dataDir);
  const uri = engine.uriFor(DEFAULT_DB_NAME);
  reportReady({ port: engine.port, uri, safeUri: redactUri(uri), dataDir });
});
