// Hosts one Apollo Federation 2 subgraph over node:http. Every GraphQL request, including `_service` and
// `_entities`, must carry an internal identity (platform/identity.ts) minted for this subgraph, this method and
// this very body, used once; anything else gets 401 before GraphQL sees it. GraphQL is served over POST only: a
// GET carries its operation in the URL, which the identity does not bind. Errors leave with an actionable code
// and never with internals.
import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type BaseContext } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { type DocumentNode, GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Connection } from 'mongoose';
import { MAX_BODY_BYTES, errorBody, executeApollo, json, publicError } from './apollo-http.ts';
import { serveRequest, servedRequestPlugin, storedAnswer } from './integration/served-request.ts';

/** Subgraphs whose users' mutations are audited in their own transactions: the trail's sources. */
const AUDITED_SOURCES = ['oa', 'archive', 'sync'] as const;
import { type Principal, type RequestOrigin, ReplayCache, identityGuard } from './identity.ts';
import type { Logger } from './logger.ts';
import { serveTraced } from './tracing.ts';

export type Route = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface SubgraphOptions<TContext extends BaseContext> {
  name: string;
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<TContext>;
  /** INTERNAL_SECRET: verifies the identity the gateway forwards. */
  secret: string;
  logger: Logger;
  production: boolean;
  /** The subgraph's database: users' mutations audit themselves, keep their deadline and Idempotency-Key there. */
  connection?: Connection;
  /** Builds the per-request context (DataLoaders included) for a verified principal and where its request came from. */
  context: (principal: Principal, origin: RequestOrigin) => TContext | Promise<TContext>;
  /** Routes answered before the identity check (health, signed webhooks from outside platforms). */
  publicRoutes?: Route[];
  /** Milliseconds since the epoch, for checking identities' lifetimes (tests move it). */
  identityClock?: () => number;
  /** The token ids this subgraph accepted (default: one cache per Subgraph, bounded by REPLAY_CACHE_LIMIT). */
  replayCache?: ReplayCache;
}

export interface RunningSubgraph {
  port: number;
  /** The address the server is bound to (127.0.0.1 unless SUBGRAPH_HOST says otherwise in `npm start`). */
  address: string;
  url: string;
  close(): Promise<void>;
}

export class Subgraph<TContext extends BaseContext> {
  readonly apollo: ApolloServer<TContext>;
  private readonly guard: ReturnType<typeof identityGuard>;

  constructor(private readonly opts: SubgraphOptions<TContext>) {
    this.guard = identityGuard(opts.secret, {
      audience: opts.name,
      logger: opts.logger,
      maxBodyBytes: MAX_BODY_BYTES,
      clock: opts.identityClock,
      replay: opts.replayCache ?? new ReplayCache(),
    });
    this.apollo = new ApolloServer<TContext>({
      schema: buildSubgraphSchema([{ typeDefs: opts.typeDefs, resolvers: opts.resolvers }]),
      includeStacktraceInErrorResponses: false,
      introspection: !opts.production,
      // Production: no "Did you mean …?" in validation errors (here) nor in coercion errors (formatError), as at the gateway.
      hideSchemaDetailsFromClientErrors: opts.production,
      csrfPrevention: true,
      // The process's own shutdown (platform/shutdown.ts) stops Apollo; its signal handlers would race it.
      stopOnTerminationSignals: false,
      // No inline traces (they would hand resolver timings to any caller) and no cache-control hints (nothing is
      // cached over HTTP here): both would wrap every field resolver.
      plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), ApolloServerPluginCacheControlDisabled(), servedRequestPlugin()],
      logger: {
        debug: (m: string) => opts.logger.debug({ subgraph: opts.name }, m),
        info: (m: string) => opts.logger.info({ subgraph: opts.name }, m),
        warn: (m: string) => opts.logger.warn({ subgraph: opts.name }, m),
        error: (m: string) => opts.logger.error({ subgraph: opts.name }, m),
      },
      formatError: (formatted, error) => this.formatError(formatted, error),
    });
  }

  private formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
    return publicError(formatted, error, (err) => this.opts.logger.error({ subgraph: this.opts.name, path: formatted.path, err }, 'unexpected error in a resolver'), {
      hideSchemaDetails: this.opts.production,
    });
  }

  async start(): Promise<void> {
    await this.apollo.start();
  }

  /** The node:http request handler. */
  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      for (const route of this.opts.publicRoutes ?? []) if (await route(req, res)) return;
      const url = new URL(req.url ?? '/', 'http://subgraph');
      if (url.pathname !== '/graphql') return json(res, 404, errorBody('Not found', 'NOT_FOUND'));
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return json(res, 405, errorBody('GraphQL is served over POST', 'BAD_REQUEST'));
      }
      // In a SERVER span continuing the caller's traceparent (platform/tracing.ts): what this request logs and the
      // events it appends carry that trace.
      await serveTraced(this.opts.name, req, res, '/graphql', () => this.serveGraphql(req, res));
    } catch (err) {
      this.opts.logger.error({ subgraph: this.opts.name, err }, 'subgraph request failed');
      if (!res.headersSent) json(res, 500, errorBody('Internal server error', 'INTERNAL_SERVER_ERROR'));
      else res.end();
    }
  };

  /** POST /graphql: the internal identity checked, then the operation (audited and idempotent for users' mutations). */
  private async serveGraphql(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The raw body is read once by the guard, checked against the token's digest, and then parsed.
    const verified = await this.guard(req, res);
    if (!verified) return;
    const { principal, origin, body } = verified;
    if (origin.deadline != null && Date.now() > origin.deadline) return json(res, 200, errorBody('The caller stopped waiting for this request; it was not run', 'DEADLINE_EXCEEDED'));
    const run = () => executeApollo(this.apollo, req, res, async () => this.opts.context(principal, origin), body);
    const source = AUDITED_SOURCES.find((n) => n === this.opts.name);
    const connection = this.opts.connection;
    if (!source || !connection) return run();
    // A user's mutation writes its audit entry, checks its deadline and holds its Idempotency-Key in its own
    // transactions (platform/integration/served-request.ts); a retry of one already answered gets that answer.
    const bodyDigest = createHash('sha256').update(body).digest('hex');
    let stored: string | null;
    try {
      stored = await storedAnswer(connection, source, principal, origin, body, bodyDigest);
    } catch (err) {
      if (!(err instanceof GraphQLError)) throw err;
      return json(res, 200, errorBody(err.message, String(err.extensions.code)));
    }
    if (stored !== null) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'idempotent-replay': 'true', 'cache-control': 'no-store' });
      res.end(stored);
      return;
    }
    await serveRequest({ principal, origin, source, bodyDigest }, connection, run);
  }

  /** Starts Apollo and an HTTP server on the port (0 = free); close() stops both. */
  async listen(port: number, host?: string): Promise<RunningSubgraph> {
    await this.start();
    const server: Server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const { port: actual, address } = server.address() as AddressInfo;
    return {
      port: actual,
      address,
      url: `http://${urlHost(host)}:${actual}/graphql`,
      close: async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await this.apollo.stop();
      },
    };
  }
}

/** Where this process reaches a subgraph bound to `host`: loopback for a wildcard (all interfaces) or no host. */
function urlHost(host: string | undefined): string {
  if (host === undefined || host === '' || host === '0.0.0.0' || host === '::' || host === '[::]') return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
