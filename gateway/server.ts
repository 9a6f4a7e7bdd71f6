// The gateway's HTTP endpoint: authenticate first (401 and no data otherwise), then the executable supergraph
// with the permission model applied, limits on depth, aliases and cost, CSRF prevention, and errors without
// internals. Introspection is off in production.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { GatewayExecutor, GatewayInterface, GatewaySchemaLoadOrUpdateCallback } from '@apollo/server-gateway-interface';
import { execute } from '@graphql-tools/executor';
import { GraphQLError, type ExecutionResult, type FormattedExecutionResult, type GraphQLSchema, getVariableValues, printSchema } from 'graphql';
import type { ApolloServerPlugin } from '@apollo/server';
import { errorBody, executeApollo, json, publicError } from '../platform/apollo-http.ts';
import type { Logger } from '../platform/logger.ts';
import type { AuditRecorder } from './audit.ts';
import { type DirectoryLookup, identityOf } from './auth.ts';
import { refuseAuthentication } from './auth-http.ts';
import { type GuardedRequest, IDEMPOTENCY_KEY, INTERNAL_IDENTITY_HEADER, type Principal, type RequestOrigin } from '../platform/identity.ts';
import { PARSE_OPTIONS, plainParseMessage } from './intake.ts';
import { DEFAULT_LIMITS, type Limits, limitsRule, noIntrospectionRule } from './limits.ts';
import type { GatewayMetrics } from './metrics.ts';
import { allowsWholeOperation } from './operation-rules.ts';
import type { PermissionContext } from './permissions.ts';
import { type JoinMap, type passThrough, singleSubgraphOf } from './single-subgraph.ts';
import { type PlannedExecution, plannable } from './planned.ts';
import { currentTraceId, trace } from '../platform/tracing.ts';

export interface GatewayServerOptions {
  /** The supergraph with permissions applied (applyPermissions). */
  schema: GraphQLSchema;
  /**
   * The supergraph with only the masking of sensitive fields (applyMaskingOnly): operations whose every field the
   * caller may read by the caller-only rules run on it (gateway/operation-rules.ts). Without it, all run on `schema`.
   */
  maskedOnlySchema?: GraphQLSchema;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  directory: DirectoryLookup;
  logger: Logger;
  production: boolean;
  limits?: Limits;
  metrics?: GatewayMetrics;
  /** Records mutations, refusals and failed authentications in the audit trail (gateway/audit.ts). */
  audit?: AuditRecorder;
  /** Benchmarks only (bench/gateway.ts): false runs without the intake's token limit and operation limits, to price them. */
  intake?: boolean;
  /** How long the gateway waits for a subgraph (the deadline signed into each call is 1 s less). */
  subgraphTimeoutMs?: number;
  /**
   * Operations one subgraph answers alone, that the caller may read whole, go to it as the client wrote them
   * (gateway/single-subgraph.ts). Needs `maskedOnlySchema`; without it every operation runs stitched.
   */
  passThrough?: { joins: JoinMap; send: ReturnType<typeof passThrough> };
  /**
   * Queries across subgraphs that the caller may read whole and that select no sensitive field run on the query
   * planner (gateway/planned.ts). Needs `maskedOnlySchema`; without it they run stitched.
   */
  planned?: { joins: JoinMap; execution: () => Promise<PlannedExecution | null> };
  /**
   * Requests of the sync service on behalf of an integration (a webhook's GraphQL selection, run under its API key):
   * no Authorization header, an internal identity for the audience `gateway` whose principal is an integration
   * (identityGuard of platform/identity.ts). Any other principal is refused: services do not query through here.
   */
  internal?: (req: IncomingMessage, res: ServerResponse) => Promise<GuardedRequest | undefined>;
}

/** When subgraphs must stop: a second before the gateway gives up, so that an answer in flight still arrives. */
export const requestDeadline = (startedAt: number, subgraphTimeoutMs = 10_000) => startedAt + Math.max(1_000, subgraphTimeoutMs - 1_000);

export interface GatewayServer {
  apollo: ApolloServer<PermissionContext>;
  /** Handles /graphql; answers false for other paths. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * Runs one operation for a caller another HTTP route has authenticated (GET /reports/<name>.csv,
   * gateway/report-csv.ts) through the same Apollo pipeline as POST /graphql: its limits, permission model, audit
   * and error formatting. The errors come formatted (no stack). Sets x-request-id on `res`.
   */
  run(req: IncomingMessage, res: ServerResponse, principal: Principal, startedAt: number, operation: { query: string; variables: Record<string, unknown> }): Promise<FormattedExecutionResult>;
  stop(): Promise<void>;
}

/**
 * The client's operationName goes into the request's origin, which every subgraph call signs (at most 100 characters).
 * A recorded request span (platform/tracing.ts) is named after the operation: its type and name, never its variables.
 */
const originOperationName: ApolloServerPlugin<PermissionContext> = {
  requestDidStart: async ({ request, contextValue }) => {
    if (contextValue.origin && typeof request.operationName === 'string') contextValue.origin.operationName = request.operationName.slice(0, 100) || null;
    const span = trace.getActiveSpan();
    if (!span?.isRecording()) return;
    return {
      didResolveOperation: async ({ operation, operationName }) => {
        if (operation) span.setAttributes({ 'graphql.operation.type': operation.operation, ...(operationName ? { 'graphql.operation.name': operationName.slice(0, 100) } : {}) });
      },
    };
  },
};

/** A subscription POSTed to /graphql is told where subscriptions are served, instead of failing obscurely. */
const subscriptionsElsewhere: ApolloServerPlugin<PermissionContext> = {
  requestDidStart: async () => ({
    didResolveOperation: async ({ operation }) => {
      if (operation?.operation === 'subscription') {
        throw new GraphQLError('Subscriptions are served over graphql-ws (WebSocket) on /graphql and over SSE on /graphql/stream', {
          extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
        });
      }
    },
  }),
};

/**
 * Apollo's executor hook (its gateway interface, the one @apollo/gateway plugs into): Apollo parses and validates
 * against the shielded schema as before; an operation the caller-only rules allow whole and one subgraph answers
 * alone goes to that subgraph as written (gateway/single-subgraph.ts); a query across subgraphs they allow whole,
 * without a sensitive field, runs on the query planner (gateway/planned.ts); any other runs on the masked-only schema
 * when the caller-only rules allow all of it, on the shielded one otherwise.
 */
function permissionGateway(shielded: GraphQLSchema, maskedOnly: GraphQLSchema, opts: GatewayServerOptions): GatewayInterface {
  const { passThrough: pass, planned, metrics } = opts;
  const listeners = new Set<GatewaySchemaLoadOrUpdateCallback>();
  const fallbacks = plannerFallbacks(opts.logger);
  const ran = (path: 'single_subgraph' | 'planned' | 'planner_fallback' | 'stitched') => metrics?.executionPaths.inc({ path });
  const executor: GatewayExecutor = async (rc) => {
    const context = rc.context as unknown as PermissionContext;
    const whole = allowsWholeOperation(shielded, rc.document, context.principal);
    // Variables first, on both paths, against the gateway's schema (its Money, Date and DateTime check like the
    // subgraphs', gateway/input-scalars.ts): a bad value is refused in the client's words, its own variable names and
    // extensions.field, before any call; no data: a request error (400).
    const coerced = getVariableValues(shielded, rc.operation.variableDefinitions ?? [], rc.request.variables ?? {}, { maxErrors: 10 });
    if (coerced.errors) return { errors: coerced.errors.map((e) => new GraphQLError(e.message, { nodes: e.nodes, originalError: e.originalError, extensions: { code: 'BAD_USER_INPUT' } })) };
    const alone = whole && pass && rc.source !== undefined && rc.operation.operation !== 'subscription' ? singleSubgraphOf(shielded, pass.joins, rc.document) : null;
    if (alone) {
      ran('single_subgraph');
      return (await pass!.send(alone, { source: rc.source!, variables: rc.request.variables, operationName: rc.request.operationName, operation: rc.operation }, context)) as ExecutionResult;
    }
    if (whole && planned && rc.operation.operation === 'query' && plannable(shielded, planned.joins, rc.document)) {
      const run = await planned.execution();
      // A query the planner cannot plan runs stitched (a query changes nothing: running it again is safe), counted.
      if (run) {
        const result = await run({ document: rc.document, variables: rc.request.variables, operationName: rc.operationName ?? undefined, context }).catch(() => null);
        if (result) {
          ran('planned');
          return result;
        }
        ran('planner_fallback');
        fallbacks.note();
      }
    }
    ran('stitched');
    const schema = whole ? maskedOnly : shielded;
    // @graphql-tools/executor: graphql-js's algorithm with fewer promises per field (the Hive gateway's executor); about
    // 5% of the gateway's CPU on a 100-claim list less. No @defer or @stream in the schema: one result.
    return (await execute({ schema, document: rc.document, contextValue: context, variableValues: rc.request.variables, operationName: rc.operationName ?? undefined })) as ExecutionResult;
  };
  return {
    async load() {
      for (const listener of listeners) listener({ apiSchema: shielded, coreSupergraphSdl: printSchema(shielded) });
      return { schema: shielded, executor };
    },
    onSchemaLoadOrUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {},
  };
}

/** How often at most the gateway says that queries fell back from the planner to stitching. */
const FALLBACK_WARNING_MS = 60_000;

/**
 * Queries the planner took but could not run: one warning with their count at most every FALLBACK_WARNING_MS (the
 * count is in /metrics as it happens). Nothing of the query goes to the log: its text can hold a client's values.
 */
function plannerFallbacks(logger: Logger) {
  let count = 0;
  let timer: NodeJS.Timeout | null = null;
  const flush = (): void => {
    timer = null;
    if (!count) return;
    logger.warn({ queries: count, metric: 'gateway_execution_paths_total{path="planner_fallback"}' }, 'queries the query planner could not run were run stitched');
    count = 0;
    timer = setTimeout(flush, FALLBACK_WARNING_MS);
    timer.unref();
  };
  return {
    note(): void {
      count++;
      if (!timer) flush();
    },
  };
}

export async function createGatewayServer(opts: GatewayServerOptions): Promise<GatewayServer> {
  const apollo = new ApolloServer<PermissionContext>({
    ...(opts.maskedOnlySchema ? { gateway: permissionGateway(opts.schema, opts.maskedOnlySchema, opts) } : { schema: opts.schema }),
    // Production refuses it through noIntrospectionRule below, in the words of every other transport.
    introspection: true,
    // Production: validation errors lose their "Did you mean …?" (Apollo's plugin); formatError below strips those
    // of variable coercion, which Apollo's plugin does not see.
    hideSchemaDetailsFromClientErrors: opts.production,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    // The process's own shutdown (platform/shutdown.ts) stops Apollo; its signal handlers would race it.
    stopOnTerminationSignals: false,
    validationRules: [...(opts.intake === false ? [] : [limitsRule(opts.limits ?? DEFAULT_LIMITS)]), ...(opts.production ? [noIntrospectionRule] : [])],
    // The intake's token limit (gateway/intake.ts): the parser stops at it, before a huge document is parsed.
    parseOptions: opts.intake === false ? {} : PARSE_OPTIONS,
    // Cache-control hints would wrap every field resolver; responses are never cached over HTTP here.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginCacheControlDisabled(), originOperationName, subscriptionsElsewhere, ...(opts.metrics ? [opts.metrics.plugin()] : []), ...(opts.audit ? [opts.audit.plugin()] : [])],
    formatError: (formatted, error) => {
      const out = publicError(formatted, error, (err) => opts.logger.error({ path: formatted.path, err }, 'unexpected error at the gateway'), { hideSchemaDetails: opts.production });
      // The request's trace id, for the user to quote to an operator (README "Observability / tracing").
      const traceId = currentTraceId();
      return { ...out, message: plainParseMessage(out.message), ...(traceId ? { extensions: { ...out.extensions, traceId } } : {}) };
    },
    logger: {
      debug: (m: string) => opts.logger.debug({ component: 'gateway' }, m),
      info: (m: string) => opts.logger.info({ component: 'gateway' }, m),
      warn: (m: string) => opts.logger.warn({ component: 'gateway' }, m),
      error: (m: string) => opts.logger.error({ component: 'gateway' }, m),
    },
  });
  await apollo.start();
  /** The context of one client request, tagged for the audit trail; its id goes to the client as x-request-id. */
  const requestContext = (req: IncomingMessage, res: ServerResponse, principal: Principal, startedAt: number, idempotencyKey: string | null): PermissionContext => {
    // One id per client request, shared by all its subgraph calls (platform/identity.ts signs it into each).
    const requestId = randomUUID();
    const origin: RequestOrigin = {
      requestId,
      clientAddress: opts.audit?.addressOf(req) ?? req.socket.remoteAddress ?? null,
      operationName: null,
      idempotencyKey,
      // Subgraphs commit nothing after it: a request the gateway answers as timed out was not applied.
      deadline: requestDeadline(startedAt, opts.subgraphTimeoutMs),
    };
    // The client may quote it: it names the request in the audit trail and in every subgraph's view of it.
    res.setHeader('x-request-id', requestId);
    const context: PermissionContext = { principal, directory: opts.directory, origin };
    return opts.audit?.tag(context, req, startedAt) ?? context;
  };
  return {
    apollo,
    async handle(req, res) {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path !== '/graphql') return false;
      const startedAt = Date.now();
      let principal: Principal;
      let rawBody: Buffer | undefined;
      if (opts.internal && req.headers.authorization === undefined && req.headers[INTERNAL_IDENTITY_HEADER] !== undefined) {
        const guarded = await opts.internal(req, res);
        if (!guarded) return true;
        if (guarded.principal.kind !== 'integration') {
          json(res, 403, errorBody('Only requests on behalf of an integration are accepted with an internal identity', 'FORBIDDEN'));
          return true;
        }
        principal = guarded.principal;
        rawBody = guarded.body;
      } else {
        try {
          principal = identityOf(await opts.authenticate(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined));
        } catch (err) {
          refuseAuthentication(req, res, err, startedAt, opts);
          return true;
        }
      }
      // A client retrying a mutation sends the same Idempotency-Key (platform/integration/served-request.ts).
      const key = req.headers['idempotency-key'];
      if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))) {
        json(res, 400, errorBody('Idempotency-Key must be 8 to 128 printable ASCII characters (a UUID, for instance)', 'BAD_USER_INPUT'));
        return true;
      }
      const context = requestContext(req, res, principal, startedAt, key ?? null);
      await executeApollo(apollo, req, res, async () => context, rawBody);
      return true;
    },
    async run(req, res, principal, startedAt, operation) {
      const response = await apollo.executeOperation<Record<string, unknown>>(operation, { contextValue: requestContext(req, res, principal, startedAt, null) });
      if (response.body.kind !== 'single') throw new Error('an incremental answer to a report query');
      return response.body.singleResult;
    },
    stop: () => apollo.stop(),
  };
}
