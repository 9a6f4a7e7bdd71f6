// Subscriptions served from a durable event log. Each subscription field is a feed (the gateway is given their
// definitions: feeds.ts), and each subscriber's selection is run as a query of the feed's Query field through the
// same executable supergraph and permission rules as any query, with the cursor set to the last event the
// subscriber has received. Hence:
// - nested fields resolve from their subgraphs;
// - shield rules and masking apply to every event exactly as to a query, and the row scope of the subgraph that
//   owns the log decides which events the subscriber sees at all;
// - replay and live delivery are one loop over the durable log: no gap and no duplicate at the seam;
// - a subscriber holds at most one page of events, and only fetches when it has sent the previous one, so a slow
//   subscriber cannot make the gateway buffer without bound.
// Subscribers with the same permission view (view.ts: for identities that read every row and select no sensitive
// field, the roles; otherwise the identity itself), selection and position share one fetch (1,000 dashboards cost one
// query).
import {
  type DocumentNode,
  type FieldNode,
  type GraphQLError,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  Kind,
  type OperationDefinitionNode,
  OperationTypeNode,
  type SelectionNode,
  execute,
  print,
} from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { publicError } from '../../platform/apollo-http.ts';
import type { EventAudience } from '../../platform/integration/event-bus.ts';
import type { Principal } from '../../platform/identity.ts';
import type { Logger } from '../../platform/logger.ts';
import type { PermissionContext } from '../permissions.ts';
import type { EventFeed } from './feed.ts';
import { allowsWholeOperation } from '../operation-rules.ts';
import { viewKey } from './view.ts';

const FATAL_CODES = new Set(['FORBIDDEN', 'UNAUTHENTICATED', 'BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED']);

export interface SubscriberContext extends PermissionContext {
  /** When the subscriber's token expires (ms since the epoch); the stream ends with UNAUTHENTICATED then. */
  expiresAt?: number;
  /** An API key's principal: aborted when the key is revoked; the stream ends with UNAUTHENTICATED then. */
  revoked?: AbortSignal;
}

/**
 * A durable log of events in seq order, announced on the event bus, and the subscription fields served from it.
 * Its feeds share its seqs, head and announcements, so replay, the seam and backpressure work alike for each.
 */
export interface EventLog {
  /** The Query field holding the newest seq: where a subscription without a cursor starts, and what the feed polls. */
  head: string;
  /** Seqs are decimal strings zero-padded to this width; the cursor the gateway passes on is written so too. */
  seqWidth: number;
  /** Names the gateway adds to a subscriber's operation (the cursor variable, the seq alias); a client may not use them. */
  reserved: { cursor: string; seq: string };
  feeds: readonly FeedDefinition[];
  /**
   * For a subscriber whose row scope is their own: which announced events may be in it (from the audience the
   * publisher put on them). Absent, or null for this subscriber: every announcement makes it read.
   */
  audience?: (principal: Principal | null) => ((a: EventAudience) => boolean) | null;
}

/** A subscription field, served by running the subscriber's selection against a Query field, a page at a time. */
export interface FeedDefinition {
  /** The Subscription field. */
  subscription: string;
  /** The Query field read: a list of items in seq order, after the cursor. */
  query: string;
  /** The field of each item that is the subscription's payload, or null when the item itself is. */
  payload: string | null;
  /** The field of each item holding its seq (next to the payload field when there is one). */
  seq: string;
  /** The String argument of both fields taking the seq to read after. */
  cursor: string;
  /** The query's argument taking the page size. */
  pageSize: string;
  /** Arguments of the subscription field passed on to the query as they are (an event-type filter). */
  filters: readonly string[];
}

export interface FeedStreamsOptions {
  /** The supergraph with permissions applied. */
  schema: GraphQLSchema;
  /** Masking only, for reads the caller may run whole (gateway/operation-rules.ts); `schema` otherwise. */
  maskedOnlySchema?: GraphQLSchema;
  log: EventLog;
  feed: EventFeed;
  logger: Logger;
  /** Events fetched per read (replay pages). */
  pageSize?: number;
  /** A subscriber re-reads on its own after this long without an announcement (the feed polls the head more often). */
  pollMs?: number;
  /** First wait after a failed read (the log's subgraph down); doubles up to 30 s. */
  retryMs?: number;
  /** Production: error messages lose graphql-js's "Did you mean …?" (a subscriber's misspelt enum variable). */
  production?: boolean;
}

export interface StreamRequest {
  document: DocumentNode;
  variableValues?: Readonly<Record<string, unknown>> | null;
  operationName?: string | null;
  context: SubscriberContext;
  /** Awaited before each event is handed on (SSE: the response's buffer has drained). */
  beforeYield?: () => Promise<void>;
}

interface Page {
  items: { seq: number; result: FormattedExecutionResult }[];
  /** The highest seq announced when the read began: the read saw every event up to it. */
  announced: number;
  /** Set when the read failed: fatal errors end the stream; others are retried. */
  errors?: readonly GraphQLFormattedError[];
  fatal?: boolean;
}

interface PreparedQuery {
  feed: FeedDefinition;
  document: DocumentNode;
  responseKey: string;
  key: string;
}

export class FeedStreams {
  private readonly inflight = new Map<string, Promise<Page>>();
  private readonly active = new Set<AbortController>();
  private readonly pageSize: number;
  private readonly pollMs: number;
  private readonly retryMs: number;

  constructor(private readonly opts: FeedStreamsOptions) {
    checkLog(opts.schema, opts.log);
    this.pageSize = opts.pageSize ?? 100;
    this.pollMs = opts.pollMs ?? 60_000;
    this.retryMs = opts.retryMs ?? 1000;
  }

  /** Subscriptions currently open (for /metrics and systemStatus). */
  get open(): number {
    return this.active.size;
  }

  /** Ends every open stream (shutdown): subscribers complete and reconnect elsewhere with their cursor. */
  closeAll(): void {
    for (const c of this.active) c.abort();
  }

  /**
   * The stream of results for a validated subscription operation. Errors that concern the request itself
   * (unknown field, bad cursor, not allowed) come back as a single result with errors, then the stream ends.
   */
  stream(req: StreamRequest): AsyncGenerator<FormattedExecutionResult> {
    const controller = new AbortController();
    const inner = this.run(req, controller.signal);
    // return() must end a subscriber that is waiting for events now, not after the next event arrives.
    const outer: AsyncGenerator<FormattedExecutionResult> = {
      next: () => inner.next(),
      return: (value) => {
        controller.abort();
        return inner.return(value);
      },
      throw: (err) => {
        controller.abort();
        return inner.throw(err);
      },
      [Symbol.asyncIterator]() {
        return outer;
      },
      async [Symbol.asyncDispose]() {
        await outer.return(undefined);
      },
    };
    return outer;
  }

  private async *run(req: StreamRequest, signal: AbortSignal): AsyncGenerator<FormattedExecutionResult> {
    const prepared = this.prepare(req);
    if ('errors' in prepared) {
      yield { errors: prepared.errors };
      return;
    }
    const expiry = new AbortController();
    const expiresIn = req.context.expiresAt === undefined ? undefined : req.context.expiresAt - Date.now();
    // setTimeout holds at most ~24.8 days; a longer-lived token is rechecked after that.
    const expiryTimer = expiresIn === undefined ? undefined : setTimeout(() => expiry.abort(), Math.max(0, Math.min(expiresIn, 2 ** 31 - 1)));
    const revoked = req.context.revoked;
    // The signal is shared by every stream of the key: the listener goes when this stream ends.
    const onRevoked = () => expiry.abort();
    revoked?.addEventListener('abort', onRevoked, { once: true });
    const stop = AbortSignal.any([signal, expiry.signal]);
    const closing = new AbortController();
    this.active.add(closing);
    closing.signal.addEventListener('abort', () => expiry.abort(), { once: true });
    try {
      const start = await this.initialAfter(req, prepared, stop);
      if (typeof start !== 'number') {
        if (start) yield start;
        return;
      }
      let after = start;
      let retry = this.retryMs;
      // For a subscriber who sees only their own events: which announced events may be theirs (log.audience).
      const wants = this.opts.log.audience?.(req.context.principal) ?? null;
      while (!stop.aborted) {
        const page = await this.read(req, prepared, after);
        if (stop.aborted) break;
        if (page.errors) {
          if (page.fatal) {
            yield { errors: page.errors };
            return;
          }
          await sleep(retry, stop);
          retry = Math.min(retry * 2, 30_000);
          continue;
        }
        retry = this.retryMs;
        for (const item of page.items) {
          if (stop.aborted) break;
          await req.beforeYield?.();
          yield item.result;
          after = item.seq;
        }
        if (page.items.length === this.pageSize) continue;
        // Everything up to what had been announced before the read is now known to this subscriber, even the
        // events its scope or types filter out: wait for something newer.
        // (Taken when the shared read began, not when this subscriber joined it.)
        after = Math.max(after, page.announced);
        await this.waitForConcern(after, wants, stop);
      }
      if (expiry.signal.aborted && !signal.aborted && !closing.signal.aborted) {
        const why = revoked?.aborted ? 'API key revoked: reconnect with an active key' : 'Token expired: reconnect with a fresh token';
        yield { errors: [{ message: `${why}, passing the last seq received as ${prepared.feed.cursor}`, extensions: { code: 'UNAUTHENTICATED' } }] };
      }
    } finally {
      clearTimeout(expiryTimer);
      revoked?.removeEventListener('abort', onRevoked);
      this.active.delete(closing);
    }
  }

  /**
   * Waits for an event announced after `after`; with `wants`, for one that may concern the subscriber: events
   * announced as another's are passed over without reading the log (1,000 employees subscribed, one approval: one
   * of them reads). The cursor does not move past them: the next read, for a wanted event or at the poll timeout,
   * covers them, and the subgraph's row scope decides what the subscriber gets, as always.
   */
  private async waitForConcern(after: number, wants: ((a: EventAudience) => boolean) | null, stop: AbortSignal): Promise<void> {
    let seen = after;
    for (;;) {
      await this.opts.feed.waitBeyond(seen, this.pollMs, stop);
      const head = this.opts.feed.head;
      if (stop.aborted || !wants || head <= seen || this.opts.feed.concerns(seen, wants)) return;
      seen = head;
    }
  }

  private prepare(req: StreamRequest): PreparedQuery | { errors: GraphQLFormattedError[] } {
    const op = operationOf(req.document, req.operationName);
    const bad = (message: string) => ({ errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] });
    if (!op || op.operation !== OperationTypeNode.SUBSCRIPTION) return bad('Expected a subscription operation');
    const { feeds, reserved } = this.opts.log;
    const [root] = op.selectionSet.selections;
    const feed = root?.kind === Kind.FIELD ? feeds.find((f) => f.subscription === root.name.value) : undefined;
    if (op.selectionSet.selections.length !== 1 || root.kind !== Kind.FIELD || !feed) {
      return bad(`Subscribe to one of ${feeds.map((f) => f.subscription).join(', ')} as a single field at the root of the subscription`);
    }
    if (op.variableDefinitions?.some((v) => v.variable.name.value === reserved.cursor) || root.selectionSet?.selections.some((s) => s.kind === Kind.FIELD && s.alias?.value === reserved.seq)) {
      return bad(`${reserved.cursor} and ${reserved.seq} are reserved names`);
    }
    const responseKey = root.alias?.value ?? root.name.value;
    const name = (value: string) => ({ kind: Kind.NAME, value }) as const;
    const seqField: FieldNode = { kind: Kind.FIELD, alias: name(reserved.seq), name: name(feed.seq) };
    // The query's items are the payload itself (the subscriber's selection plus the seq), or wrap it: { seq payload { … } }.
    const selections: SelectionNode[] = feed.payload
      ? [seqField, { kind: Kind.FIELD, name: name(feed.payload), selectionSet: root.selectionSet }]
      : [...(root.selectionSet?.selections ?? []), seqField];
    const field: FieldNode = {
      ...root,
      alias: name(responseKey),
      name: name(feed.query),
      arguments: [
        ...(root.arguments ?? []).filter((a) => feed.filters.includes(a.name.value)),
        { kind: Kind.ARGUMENT, name: name(feed.cursor), value: { kind: Kind.VARIABLE, name: name(reserved.cursor) } },
        { kind: Kind.ARGUMENT, name: name(feed.pageSize), value: { kind: Kind.INT, value: String(this.pageSize) } },
      ],
      selectionSet: { kind: Kind.SELECTION_SET, selections },
    };
    const query: OperationDefinitionNode = {
      ...op,
      operation: OperationTypeNode.QUERY,
      variableDefinitions: [
        ...(op.variableDefinitions ?? []),
        { kind: Kind.VARIABLE_DEFINITION, variable: { kind: Kind.VARIABLE, name: name(reserved.cursor) }, type: { kind: Kind.NAMED_TYPE, name: name('String') } },
      ],
      selectionSet: { kind: Kind.SELECTION_SET, selections: [field] },
    };
    const document: DocumentNode = { kind: Kind.DOCUMENT, definitions: [query, ...req.document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)] };
    // Subscribers with equal permission views (view.ts), selection and variables share one read.
    const who = viewKey(req.context.principal, document, req.variableValues ?? undefined);
    return { feed, document, responseKey, key: `${who}\n${print(document)}\n${JSON.stringify(req.variableValues ?? {})}` };
  }

  /**
   * The subscription's cursor (literal or variable), or the head of the log when absent. Otherwise the result
   * that ends the stream (a malformed cursor, a refused read), or undefined when the subscriber left meanwhile.
   */
  private async initialAfter(req: StreamRequest, prepared: PreparedQuery, stop: AbortSignal): Promise<number | FormattedExecutionResult | undefined> {
    const { cursor, query } = prepared.feed;
    // Worded as the log's subgraph words a malformed cursor in a query.
    const malformed = { errors: [{ message: `${cursor} must be a seq as returned by ${query} (digits only)`, extensions: { code: 'BAD_USER_INPUT' } }] };
    const op = operationOf(req.document, req.operationName)!;
    const root = op.selectionSet.selections[0] as FieldNode;
    const arg = root.arguments?.find((a) => a.name.value === cursor);
    let value: unknown = null;
    if (arg?.value.kind === Kind.STRING) value = arg.value.value;
    else if (arg?.value.kind === Kind.VARIABLE) value = req.variableValues?.[arg.value.name.value] ?? null;
    else if (arg && arg.value.kind !== Kind.NULL) return malformed;
    if (value === null || value === undefined) return this.head(req, prepared, stop);
    if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) return malformed;
    return Number(value);
  }

  private async head(req: StreamRequest, prepared: PreparedQuery, stop: AbortSignal): Promise<number | FormattedExecutionResult | undefined> {
    for (let wait = this.retryMs; !stop.aborted; wait = Math.min(wait * 2, 30_000)) {
      const announced = this.opts.feed.head;
      const { head, result } = await queryHead(this.opts.schema, this.opts.log.head, req.context);
      if (head !== null) return Math.max(head, announced);
      const errors = (result.errors ?? []).map((e) => this.format(e));
      if (errors.some((e) => FATAL_CODES.has(String(e.extensions?.code)))) return { errors };
      this.opts.logger.warn({ key: prepared.responseKey, head: this.opts.log.head, codes: errors.map((e) => e.extensions?.code) }, 'reading the head of the event log failed; retrying');
      await sleep(wait, stop);
    }
    return undefined;
  }

  /** One page after `after`, shared by every subscriber asking for the same thing at the same time. */
  private read(req: StreamRequest, prepared: PreparedQuery, after: number): Promise<Page> {
    const key = `${prepared.key}\n${after}`;
    let page = this.inflight.get(key);
    if (!page) {
      page = this.fetch(req, prepared, after).finally(() => this.inflight.delete(key));
      this.inflight.set(key, page);
    }
    return page;
  }

  private async fetch(req: StreamRequest, prepared: PreparedQuery, after: number): Promise<Page> {
    const announced = this.opts.feed.head;
    const whole = this.opts.maskedOnlySchema && allowsWholeOperation(this.opts.schema, prepared.document, req.context.principal);
    const result = await execute({
      schema: whole ? this.opts.maskedOnlySchema! : this.opts.schema,
      document: prepared.document,
      variableValues: { ...(req.variableValues ?? {}), [this.opts.log.reserved.cursor]: String(after).padStart(this.opts.log.seqWidth, '0') },
      // A fresh context per read: shield caches its caller-only decisions per context, like per request.
      contextValue: { principal: req.context.principal, directory: req.context.directory },
    });
    const errors = (result.errors ?? []).map((e) => this.format(e));
    const list = (result.data as Record<string, unknown> | null | undefined)?.[prepared.responseKey];
    if (!Array.isArray(list)) {
      const all = errors.length ? errors : [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }];
      const fatal = all.some((e) => FATAL_CODES.has(String(e.extensions?.code)));
      if (!fatal) this.opts.logger.warn({ query: prepared.feed.query, codes: all.map((e) => e.extensions?.code) }, 'reading events for a subscriber failed; retrying');
      return { items: [], announced, errors: all, fatal };
    }
    const { payload } = prepared.feed;
    // An error's path in the query, [key, i, (payload,) …], becomes the subscription's [key, …].
    const skip = payload ? 3 : 2;
    const items = (list as Record<string, unknown>[]).map((item, i) => {
      const { [this.opts.log.reserved.seq]: seq, ...rest } = item;
      const event = payload ? rest[payload] : rest;
      const own = errors
        .filter((e) => e.path?.[0] === prepared.responseKey && e.path[1] === i)
        .map((e) => ({ ...e, path: [prepared.responseKey, ...e.path!.slice(skip)] }));
      const result: FormattedExecutionResult = { data: { [prepared.responseKey]: event }, ...(own.length ? { errors: own } : {}) };
      return { seq: Number(seq), result };
    });
    return { items, announced };
  }

  private format(error: GraphQLError): GraphQLFormattedError {
    return publicError(error.toJSON(), error, (err) => this.opts.logger.error({ err }, 'unexpected error in a subscription'), { hideSchemaDetails: this.opts.production });
  }
}

/** The newest seq of the log (`{ <head> }`), read as the given (service) principal: what the feed polls. */
export async function readHead(schema: GraphQLSchema, field: string, context: Pick<SubscriberContext, 'principal' | 'directory'>): Promise<number> {
  const { head } = await queryHead(schema, field, context);
  if (head === null) throw new Error(`the head of the event log (${field}) is unreadable`);
  return head;
}

/** `{ <field> }` under the given identity: the seq, or null with the result saying why. */
async function queryHead(schema: GraphQLSchema, field: string, context: Pick<SubscriberContext, 'principal' | 'directory'>) {
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: OperationTypeNode.QUERY,
        selectionSet: { kind: Kind.SELECTION_SET, selections: [{ kind: Kind.FIELD, name: { kind: Kind.NAME, value: field } }] },
      },
    ],
  };
  const result = await execute({ schema, document, contextValue: { principal: context.principal, directory: context.directory } });
  const head = (result.data as Record<string, unknown> | null | undefined)?.[field];
  return { head: typeof head === 'string' && head ? Number(head) : null, result };
}

/**
 * Refuses a log whose definition does not match the supergraph (a renamed field or argument), at start-up rather
 * than at a subscriber's first read. Every argument of a subscription field must be its cursor or a filter: any
 * other would be dropped on the way to the query.
 */
function checkLog(schema: GraphQLSchema, log: EventLog): void {
  const queries = schema.getQueryType()?.getFields() ?? {};
  const subscriptions = schema.getSubscriptionType()?.getFields() ?? {};
  const problems: string[] = [];
  if (!queries[log.head]) problems.push(`Query.${log.head} is missing`);
  for (const f of log.feeds) {
    const sub = subscriptions[f.subscription];
    const query = queries[f.query];
    if (!sub) problems.push(`Subscription.${f.subscription} is missing`);
    if (!query) problems.push(`Query.${f.query} is missing`);
    if (!sub || !query) continue;
    for (const a of sub.args) if (a.name !== f.cursor && !f.filters.includes(a.name)) problems.push(`Subscription.${f.subscription}(${a.name}) is neither its cursor nor a filter`);
    for (const a of [f.cursor, f.pageSize, ...f.filters]) if (!query.args.some((q) => q.name === a)) problems.push(`Query.${f.query} has no argument ${a}`);
  }
  if (problems.length) throw new Error(`The subscription feeds do not match the supergraph: ${problems.join('; ')}`);
}

function operationOf(document: DocumentNode, operationName?: string | null): OperationDefinitionNode | undefined {
  const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return operationName ? ops.find((o) => o.name?.value === operationName) : ops.length === 1 ? ops[0] : undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

