// `npm run start:archive`: the archive subgraph alone, for production layouts (PORT, default ARCHIVE_PORT or 4002).
import { connectDatabase } from '../platform/database.ts';
import { startArchiveSubgraph } from '../subgraphs/archive/index.ts';
import { archiveOptions } from './archive-options.ts';
import { reportReady, supervisedChild } from '../platform/supervisor.ts';
import { runProcess } from './process.ts';

await runProcess(process.env.ARCHIVE_PORT ?? '4002', async ({ config, logger, lifecycle }) => {
  const database = await connectDatabase(config, logger);
  lifecycle.registerShutdown('database', () => database.close());
  const archive = await startArchiveSubgraph({ ...(await archiveOptions(config, logger, database.connection)), port: config.port, host: supervisedChild() ? config.subgraphHost : undefined, overdueIntervalMs: config.escalationIntervalMs });
  lifecycle.registerShutdown('archive subgraph', () => archive.close());
  reportReady({ port: archive.port, url: archive.url, address: archive.address });
});
