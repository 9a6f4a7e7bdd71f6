// The gateway assembled from configuration: authentication, the executable supergraph with permissions, HTTP,
// and the subscriptions of subscriptions/feeds.ts over graphql-ws (/graphql) and graphql-sse (/graphql/stream).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Config } from '../platform/config.ts';
import type { EventBus } from '../platform/integration/event-bus.ts';
import type { Logger } from '../platform/logger.ts';
import { metricsAccess } from '../platform/metrics-http.ts';
import { type AuditRecord, AuditRecorder, syncAuditSink } from './audit.ts';
import { AuditSpool } from './audit-spool.ts';
import { createAuthenticator } from './auth.ts';
import { ApiKeyAuthenticator, syncApiKeyCheck } from './api-keys.ts';
import { isApiKeyAuthorization } from '../platform/api-key-token.ts';
import { identityGuard } from '../platform/identity.ts';
import { GATEWAY_SERVICE, oaDirectoryLookup } from './directory.ts';
import { GatewayMetrics } from './metrics.ts';
import { type GatewayServer, createGatewayServer } from './server.ts';
import { EventFeed } from './subscriptions/feed.ts';
import { SYNC_EVENT_LOG } from './subscriptions/feeds.ts';
import { OperationRunner } from './subscriptions/operation.ts';
import { sseRoute } from './subscriptions/sse.ts';
import { StreamTickets } from './subscriptions/stream-ticket.ts';
import { FeedStreams, readHead } from './subscriptions/stream.ts';
import { type WebSocketEndpoint, attachWebSocket } from './subscriptions/websocket.ts';
import { gatewayExecution } from './execution.ts';
import { reportCsvRoute } from './report-csv.ts';
import { type FilesRoute, filesRoute } from './files.ts';
import { archiveFilesRoute } from './archive-files.ts';
import { archivePackagesRoute } from './archive-packages.ts';
import { loadSupergraphSdl, subgraphFetch } from './supergraph.ts';
import { type Heartbeat, startHeartbeat } from './heartbeat.ts';
import { serveTraced } from '../platform/tracing.ts';

/** The route a request span is named after: the gateway's own paths, never a client's free text. */
export const gatewayRoute = (url: string | undefined): string => {
  const path = (url ?? '/').split('?', 1)[0];
  if (path === '/graphql' || path === '/graphql/stream' || path === '/metrics' || path === '/files') return path;
  if (path.startsWith('/archive/files/')) return '/archive/files/{id}';
  if (path.startsWith('/archive/packages/')) return '/archive/packages/{fiscalYear}.zip';
  return path.startsWith('/reports/') ? '/reports/{name}' : 'other';
};

export const SUBGRAPH_TIMEOUT_MS = 10_000;

export interface Gateway extends GatewayServer {
  metrics: GatewayMetrics;
  /** Hands audit entries to the sync subgraph (gateway/audit.ts). */
  audit: AuditRecorder;
  streams: FeedStreams;
  /** What the event bus has announced to this instance. */
  feed: EventFeed;
  /** This instance's reports to the sync subgraph (systemStatus). */
  heartbeat: Heartbeat;
  /** Serves graphql-ws on the server's /graphql upgrades. */
  attach(server: Server): WebSocketEndpoint;
  /** POST /files (gateway/files.ts): its spool directory. */
  files: Pick<FilesRoute, 'spoolDir'>;
}

/** `urls` overrides where subgraphs are reached (the all-in-one process knows the ports it picked). */
export async function createGateway(
  config: Config,
  logger: Logger,
  urls: { oa: string; archive: string; sync: string },
  opts: {
    supergraphPath?: string;
    bus: EventBus;
    /** How often the gateway reads the head of the log while anyone subscribes (default 2 s). */
    subscriptionPollMs?: number;
    subscriptionPageSize?: number;
    /** How often this instance reports itself to the sync subgraph (default 10 s). */
    heartbeatMs?: number;
    /** The audit spool file (gateway/audit-spool.ts), one per gateway; in memory only without it. */
    auditSpool?: string;
    /** How long an API key check is trusted (default API_KEY_CACHE_MS). */
    apiKeyCacheMs?: number;
  },
): Promise<Gateway> {
  const metrics = new GatewayMetrics({ access: metricsAccess(config) });
  const directory = oaDirectoryLookup({ oaUrl: urls.oa, internalSecret: config.internalSecret, timeoutMs: SUBGRAPH_TIMEOUT_MS });
  const authenticateUser = createAuthenticator({
    jwtSecret: config.jwtSecret,
    jwksUrl: config.jwtJwksUrl,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    maxTtlSeconds: config.jwtMaxTtlSeconds,
    lookup: directory,
  });
  // `Authorization: ApiKey …` is an integration's key (gateway/api-keys.ts); anything else goes to the JWT check.
  const apiKeys = new ApiKeyAuthenticator({
    check: syncApiKeyCheck({ syncUrl: urls.sync, internalSecret: config.internalSecret, timeoutMs: SUBGRAPH_TIMEOUT_MS }),
    cacheMs: opts.apiKeyCacheMs ?? config.apiKeyCacheMs,
  });
  const authenticate = (authorization: string | undefined) => (authorization && isApiKeyAuthorization(authorization) ? apiKeys.authenticate(authorization) : authenticateUser(authorization));
  const gatewayLogger = logger.child({ component: 'gateway' });
  // The shield, the masked-only schema, the pass-through and the planner, as gateway/execution.ts builds them.
  const { schema, maskedOnlySchema, passThrough, planned } = gatewayExecution(
    {
      supergraphSdl: loadSupergraphSdl(opts.supergraphPath),
      urls,
      internalSecret: config.internalSecret,
      timeoutMs: SUBGRAPH_TIMEOUT_MS,
      fetchFor: (subgraph) => metrics.timedFetch(subgraph, subgraphFetch),
    },
    gatewayLogger,
  );
  // The query planner's native addon is loaded now, not on the first query across subgraphs.
  void planned.execution();
  const production = config.nodeEnv === 'production';
  const audit = new AuditRecorder({
    sink: syncAuditSink({ url: urls.sync, internalSecret: config.internalSecret }),
    logger: gatewayLogger,
    registry: metrics.registry,
    trustProxy: config.trustProxy,
    spool: opts.auditSpool ? new AuditSpool<AuditRecord>(opts.auditSpool) : undefined,
  });
  // Webhooks' selections, run by the sync service under their integration's key (gateway/server.ts, `internal`).
  const internal = identityGuard(config.internalSecret, { audience: 'gateway', logger: gatewayLogger });
  const server = await createGatewayServer({ schema, maskedOnlySchema, passThrough, planned, authenticate: (h) => authenticate(h), directory, logger: gatewayLogger, production, metrics, audit, subgraphTimeoutMs: SUBGRAPH_TIMEOUT_MS, internal });
  // While anyone subscribes, the gateway reads the head of the log itself now and then, once for everybody.
  const gatewayIdentity = { principal: GATEWAY_SERVICE, directory };
  const feed = new EventFeed(opts.bus, { readHead: () => readHead(schema, SYNC_EVENT_LOG.head, gatewayIdentity), pollMs: opts.subscriptionPollMs ?? 2000 });
  const streams = new FeedStreams({ schema, maskedOnlySchema, log: SYNC_EVENT_LOG, feed, logger: gatewayLogger, pageSize: opts.subscriptionPageSize, production });
  metrics.trackSubscriptions(() => streams.open);
  const runner = new OperationRunner({ schema, maskedOnlySchema, streams, logger: gatewayLogger, production });
  const sse = sseRoute({ runner, authenticate: (h) => authenticate(h), directory, logger: gatewayLogger, audit, tickets: new StreamTickets(config.internalSecret) });
  // GET /reports/<name>.csv: the reports for BI tools, run through `server` as POST /graphql runs them.
  const reportsCsv = reportCsvRoute({ server, authenticate: (h) => authenticate(h), logger: gatewayLogger, audit });
  // POST /files: attachments streamed through a private spool to the oa subgraph (gateway/files.ts).
  const files = filesRoute({ oaUrl: urls.oa, internalSecret: config.internalSecret, authenticate: (h) => authenticate(h), logger: gatewayLogger, audit, maxBytes: config.fileMaxBytes, timeoutMs: SUBGRAPH_TIMEOUT_MS });
  // GET /archive/files/<id>: archived originals, authorised, logged and streamed by the archive (gateway/archive-files.ts).
  const archiveFiles = archiveFilesRoute({ archiveUrl: urls.archive, internalSecret: config.internalSecret, authenticate: (h) => authenticate(h), logger: gatewayLogger, audit, timeoutMs: SUBGRAPH_TIMEOUT_MS });
  // GET /archive/packages/<fiscalYear>.zip: handover packages, authorised, logged and streamed by the archive (gateway/archive-packages.ts).
  const archivePackages = archivePackagesRoute({ archiveUrl: urls.archive, internalSecret: config.internalSecret, authenticate: (h) => authenticate(h), logger: gatewayLogger, audit, timeoutMs: SUBGRAPH_TIMEOUT_MS });
  const sockets: WebSocketEndpoint[] = [];
  const heartbeat: Heartbeat = startHeartbeat({ syncUrl: urls.sync, internalSecret: config.internalSecret, openSubscriptions: () => streams.open, logger: gatewayLogger, intervalMs: opts.heartbeatMs });
  return {
    ...server,
    metrics,
    audit,
    streams,
    feed,
    heartbeat,
    files,
    // In the request's span (or the one gateway/http-front.ts started): platform/tracing.ts.
    handle(req: IncomingMessage, res: ServerResponse) {
      return serveTraced('gateway', req, res, gatewayRoute(req.url), async () => (await sse(req, res)) || (await reportsCsv(req, res)) || (await files(req, res)) || (await archiveFiles(req, res)) || (await archivePackages(req, res)) || server.handle(req, res));
    },
    attach(httpServer) {
      const endpoint = attachWebSocket(httpServer, { runner, authenticate: (h) => authenticate(h), directory, logger: gatewayLogger, audit });
      sockets.push(endpoint);
      return endpoint;
    },
    async stop() {
      heartbeat.stop();
      apiKeys.close();
      feed.close();
      sse.shutdown();
      streams.closeAll();
      await Promise.all(sockets.map((s) => s.close()));
      await server.stop();
      files.close();
      // Last: what the closing connections and requests recorded goes out too.
      await audit.stop();
    },
  };
}
