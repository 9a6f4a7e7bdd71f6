// `npm run start:archive`: the archive subgraph alone, for production layouts (PORT, default ARCHIVE_PORT or 4002).
import { connectDatabase } from '../platform/database.ts';
import { startArchiveSubgraph } from '../subgraphs/archive/index.ts';
import { archiveOptions } from './archive-options.ts';
import { localAppends } from '../platform/integration/events.ts';
import { reportReady, ringSyncWhenStored, supervisedChild } from '../platform/supervisor.ts';
import { runProcess } from './process.ts';

await runProcess(process.env.ARCHIVE_PORT ?? '4002', async ({ config, logger, lifecycle }) => {
  const database = await connectDatabase(config, logger);
  lifecycle.registerShutdown('database', () => database.close());
  // The sync process hears of this process's events at once (platform/integration/event-bus.ts, STORED).
  const doorbell = ringSyncWhenStored(config.redisUrl, logger, localAppends);
  if (doorbell) lifecycle.registerShutdown('event bus', () => doorbell.close());
  const archive = await startArchiveSubgraph({ ...(await archiveOptions(config, logger, database.connection)), port: config.port, host: supervisedChild() ? config.subgraphHost : undefined, overdueIntervalMs: config.escalationIntervalMs });
  lifecycle.registerShutdown('archive subgraph', () => archive.close());
  reportReady({ port: archive.port, url: archive.url, address: archive.address });
});
