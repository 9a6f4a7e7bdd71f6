// `npm run start:oa`: the oa subgraph alone, for production layouts (PORT, default OA_PORT or 4001; MONGODB_URI).
import { connectDatabase } from '../platform/database.ts';
import { startOaSubgraph } from '../subgraphs/oa/index.ts';
import { oaOptions } from './oa-options.ts';
import { localAppends } from '../platform/integration/events.ts';
import { reportReady, ringSyncWhenStored, supervisedChild } from '../platform/supervisor.ts';
import { runProcess } from './process.ts';

await runProcess(process.env.OA_PORT ?? '4001', async ({ config, logger, lifecycle }) => {
  const database = await connectDatabase(config, logger);
  lifecycle.registerShutdown('database', () => database.close());
  // The sync process hears of this process's events at once (platform/integration/event-bus.ts, STORED).
  const doorbell = ringSyncWhenStored(config.redisUrl, logger, localAppends);
  if (doorbell) lifecycle.registerShutdown('event bus', () => doorbell.close());
  // Under `npm start` on SUBGRAPH_HOST (loopback by default: only the gateway calls it); alone, on every interface.
  const oa = await startOaSubgraph({ ...(await oaOptions(config, logger, database.connection, config.port)), host: supervisedChild() ? config.subgraphHost : undefined });
  lifecycle.registerShutdown('oa subgraph', () => oa.close());
  reportReady({ port: oa.port, url: oa.url, address: oa.address });
});
