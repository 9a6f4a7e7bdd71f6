// The gateway assembled from configuration: authentication, the executable supergraph with permissions, HTTP.
import type { Config } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import { createAuthenticator } from './auth.ts';
import { oaDirectoryLookup } from './directory.ts';
import { GatewayMetrics } from './metrics.ts';
import { applyPermissions } from './permissions.ts';
import { type GatewayServer, createGatewayServer } from './server.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from './supergraph.ts';

export const SUBGRAPH_TIMEOUT_MS = 10_000;

/** `urls` overrides where subgraphs are reached (the all-in-one process knows the ports it picked). */
export async function createGateway(
  config: Config,
  logger: Logger,
  urls: { oa: string; archive: string },
  supergraphPath?: string,
): Promise<GatewayServer & { metrics: GatewayMetrics }> {
  const metrics = new GatewayMetrics();
  const directory = oaDirectoryLookup({ oaUrl: urls.oa, internalSecret: config.internalSecret, timeoutMs: SUBGRAPH_TIMEOUT_MS });
  const authenticate = createAuthenticator({
    jwtSecret: config.jwtSecret,
    jwksUrl: config.jwtJwksUrl,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    lookup: directory,
  });
  const schema = applyPermissions(
    buildSupergraphSchema({
      supergraphSdl: loadSupergraphSdl(supergraphPath),
      urls,
      internalSecret: config.internalSecret,
      timeoutMs: SUBGRAPH_TIMEOUT_MS,
      fetchFor: (subgraph) => metrics.timedFetch(subgraph),
    }),
  );
  const server = await createGatewayServer({
    schema,
    authenticate: (h) => authenticate(h),
    directory,
    logger: logger.child({ component: 'gateway' }),
    production: config.nodeEnv === 'production',
    metrics,
  });
  return { ...server, metrics };
}
