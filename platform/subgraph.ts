// Hosts one Apollo Federation 2 subgraph over node:http. Every GraphQL request, including `_service` and
// `_entities`, must carry the gateway-signed internal identity (platform/identity.ts); anything else gets 401
// before GraphQL sees it. Errors leave with an actionable code and never with internals.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, HeaderMap, type BaseContext } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import type { GraphQLFormattedError } from 'graphql';
import { type DocumentNode, GraphQLError } from 'graphql';
import { PUBLIC_ERROR_CODES } from './graphql.ts';
import { type Principal, identityGuard } from './identity.ts';
import type { Logger } from './logger.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

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

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
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
      // No inline traces: they would hand resolver timings to any caller, and no Apollo service reads them here.
      plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled()],
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
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && PUBLIC_ERROR_CODES.has(code)) {
      return { message: formatted.message, locations: formatted.locations, path: formatted.path, extensions: { ...formatted.extensions, stacktrace: undefined } };
    }
    const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
    this.opts.logger.error({ subgraph: this.opts.name, path: formatted.path, err: original }, 'unexpected error in a resolver');
    return { message: 'Internal server error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  }

  async start(): Promise<void> {
    await this.apollo.start();
  }

  /** The node:http request handler. */
  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      for (const route of this.opts.publicRoutes ?? []) if (await route(req, res)) return;
      const url = new URL(req.url ?? '/', 'http://subgraph');
      if (url.pathname !== '/graphql') return json(res, 404, { errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }] });
      const principal = this.guard(req, res);
      if (!principal) return;
      let body: unknown;
      if (req.method === 'POST') {
        const raw = await readBody(req);
        if (!raw) return json(res, 413, { errors: [{ message: 'Request body too large', extensions: { code: 'BAD_USER_INPUT' } }] });
        try {
          body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
        } catch {
          return json(res, 400, { errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_USER_INPUT' } }] });
        }
      }
      const headers = new HeaderMap();
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      const result = await this.apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
        context: async () => this.opts.context(principal),
      });
      for (const [k, v] of result.headers) res.setHeader(k, v);
      res.statusCode = result.status ?? 200;
      if (result.body.kind === 'complete') res.end(result.body.string);
      else {
        for await (const chunk of result.body.asyncIterator) res.write(chunk);
        res.end();
      }
    } catch (err) {
      this.opts.logger.error({ subgraph: this.opts.name, err }, 'subgraph request failed');
      if (!res.headersSent) json(res, 500, { errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
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
