// Hosts one Apollo Federation 2 subgraph over node:http. Every GraphQL request, including `_service` and
// `_entities`, must carry the gateway-signed internal identity (platform/identity.ts); anything else gets 401
// before GraphQL sees it. Errors leave with an actionable code and never with internals.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type BaseContext } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import type { DocumentNode, GraphQLFormattedError } from 'graphql';
import { errorBody, executeApollo, json, publicError } from './apollo-http.ts';
import { type Principal, identityGuard } from './identity.ts';
import type { Logger } from './logger.ts';

export type Route = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface SubgraphOptions<TContext extends BaseContext> {
  name: string;
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<TContext>;
  /** INTERNAL_SECRET: verifies the identity the gateway forwards. */
  secret: string;
  logger: Logger;
  production: boolean;
  /** Builds the per-request context (DataLoaders included) for a verified principal. */
  context: (principal: Principal) => TContext | Promise<TContext>;
  /** Routes answered before the identity check (health, signed webhooks from outside platforms). */
  publicRoutes?: Route[];
}

export interface RunningSubgraph {
  port: number;
  url: string;
  close(): Promise<void>;
}

export class Subgraph<TContext extends BaseContext> {
  readonly apollo: ApolloServer<TContext>;
  private readonly guard: ReturnType<typeof identityGuard>;

  constructor(private readonly opts: SubgraphOptions<TContext>) {
    this.guard = identityGuard(opts.secret, opts.logger);
    this.apollo = new ApolloServer<TContext>({
      schema: buildSubgraphSchema([{ typeDefs: opts.typeDefs, resolvers: opts.resolvers }]),
      includeStacktraceInErrorResponses: false,
      introspection: !opts.production,
      csrfPrevention: true,
      // The process's own shutdown (platform/shutdown.ts) stops Apollo; its signal handlers would race it.
      stopOnTerminationSignals: false,
      // No inline traces (they would hand resolver timings to any caller) and no cache-control hints (nothing is
      // cached over HTTP here): both would wrap every field resolver.
      plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), ApolloServerPluginCacheControlDisabled()],
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
    return publicError(formatted, error, (err) => this.opts.logger.error({ subgraph: this.opts.name, path: formatted.path, err }, 'unexpected error in a resolver'));
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
      const principal = this.guard(req, res);
      if (!principal) return;
      await executeApollo(this.apollo, req, res, async () => this.opts.context(principal));
    } catch (err) {
      this.opts.logger.error({ subgraph: this.opts.name, err }, 'subgraph request failed');
      if (!res.headersSent) json(res, 500, errorBody('Internal server error', 'INTERNAL_SERVER_ERROR'));
      else res.end();
    }
  };

  /** Starts Apollo and an HTTP server on the port (0 = free); close() stops both. */
  async listen(port: number, host?: string): Promise<RunningSubgraph> {
    await this.start();
    const server: Server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const actual = (server.address() as AddressInfo).port;
    return {
      port: actual,
      url: `http://127.0.0.1:${actual}/graphql`,
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
