// `subscription { syncEvents(types, after) { … } }` (and `subscription { alerts { … } }`), federated. Each subscriber's selection is run as a query of
// Query.syncEvents through the same executable supergraph and permission rules as any query, with `after` set to
// the last event the subscriber has received. Hence:
// - nested fields (the claim and its applicant, the voucher, the archive record) resolve from their subgraphs;
// - shield rules and masking apply to every event exactly as to a query, and the sync subgraph's row scope decides
//   which events the subscriber sees at all;
// - replay and live delivery are one loop over the durable log: no gap and no duplicate at the seam;
// - a subscriber holds at most one page of events, and only fetches when it has sent the previous one, so a slow
//   subscriber cannot make the gateway buffer without bound.
// Subscribers with the same identity, selection and position share one fetch (1,000 dashboards cost one query).
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
import type { Logger } from '../../platform/logger.ts';
import type { PermissionContext } from '../permissions.ts';
import type { SyncEventFeed } from './feed.ts';

/** Names the gateway adds to a subscriber's operation; a client may not use them. */
const AFTER_VARIABLE = 'gatewaySyncAfter';
const SEQ_ALIAS = 'gatewaySyncSeq';
const FATAL_CODES = new Set(['FORBIDDEN', 'UNAUTHENTICATED', 'BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED']);

export interface SubscriberContext extends PermissionContext {
  /** When the subscriber's token expires (ms since the epoch); the stream ends with UNAUTHENTICATED then. */
  expiresAt?: number;
}

export interface SyncStreamOptions {
  /** The supergraph with permissions applied. */
  schema: GraphQLSchema;
  feed: SyncEventFeed;
  logger: Logger;
  /** Events fetched per read (replay pages). */
  pageSize?: number;
  /** A subscriber re-reads on its own after this long without an announcement (the feed polls the head more often). */
  pollMs?: number;
  /** First wait after a failed read (the sync subgraph down); doubles up to 30 s. */
  retryMs?: number;
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
  document: DocumentNode;
  responseKey: string;
  /** The field of each item that is the subscription's payload (alerts: `alert`), or none (the item itself). */
  unwrap: string | null;
  key: string;
}

/**
 * The subscription fields and the query each is served from. Both read the same durable log (seq order), so
 * replay, the seam and backpressure work the same way.
 */
const SOURCES: Readonly<Record<string, { query: string; wrap: string | null }>> = {
  syncEvents: { query: 'syncEvents', wrap: null },
  alerts: { query: 'alertEvents', wrap: 'alert' },
};

export class SyncEventStreams {
  private readonly inflight = new Map<string, Promise<Page>>();
  private readonly active = new Set<AbortController>();
  private readonly pageSize: number;
  private readonly pollMs: number;
  private readonly retryMs: number;

  constructor(private readonly opts: SyncStreamOptions) {
    this.pageSize = opts.pageSize ?? 100;
    this.pollMs = opts.pollMs ?? 60_000;
    this.retryMs = opts.retryMs ?? 1000;
  }

  /** Subscriptions currently open (for /metrics and systemStatus). */
  get open(): number {
    return this.active.size;
  }

  /** Ends every open stream (shutdown): subscribers complete and reconnect elsewhere with `after`. */
  closeAll(): void {
    for (const c of this.active) c.abort();
  }

  /**
   * The stream of results for a validated subscription operation. Errors that concern the request itself
   * (unknown field, bad `after`, not allowed) come back as a single result with errors, then the stream ends.
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
        await this.opts.feed.waitBeyond(after, this.pollMs, stop);
      }
      if (expiry.signal.aborted && !signal.aborted && !closing.signal.aborted) {
        yield { errors: [{ message: 'Token expired: reconnect with a fresh token, passing the last seq received as after', extensions: { code: 'UNAUTHENTICATED' } }] };
      }
    } finally {
      clearTimeout(expiryTimer);
      this.active.delete(closing);
    }
  }

  private prepare(req: StreamRequest): PreparedQuery | { errors: GraphQLFormattedError[] } {
    const op = operationOf(req.document, req.operationName);
    const bad = (message: string) => ({ errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] });
    if (!op || op.operation !== OperationTypeNode.SUBSCRIPTION) return bad('Expected a subscription operation');
    const [root] = op.selectionSet.selections;
    const source = root?.kind === Kind.FIELD ? SOURCES[root.name.value] : undefined;
    if (op.selectionSet.selections.length !== 1 || root.kind !== Kind.FIELD || !source) {
      return bad(`Subscribe to one of ${Object.keys(SOURCES).join(', ')} as a single field at the root of the subscription`);
    }
    if (op.variableDefinitions?.some((v) => v.variable.name.value === AFTER_VARIABLE) || root.selectionSet?.selections.some((s) => s.kind === Kind.FIELD && s.alias?.value === SEQ_ALIAS)) {
      return bad(`${AFTER_VARIABLE} and ${SEQ_ALIAS} are reserved names`);
    }
    const responseKey = root.alias?.value ?? root.name.value;
    const name = (value: string) => ({ kind: Kind.NAME, value }) as const;
    const seqField: FieldNode = { kind: Kind.FIELD, alias: name(SEQ_ALIAS), name: name('seq') };
    // syncEvents reads Query.syncEvents with the same selection; alerts reads Query.alertEvents { seq alert { … } }.
    const selections: SelectionNode[] = source.wrap
      ? [seqField, { kind: Kind.FIELD, name: name(source.wrap), selectionSet: root.selectionSet }]
      : [...(root.selectionSet?.selections ?? []), seqField];
    const field: FieldNode = {
      ...root,
      alias: name(responseKey),
      name: name(source.query),
      arguments: [
        ...(root.arguments ?? []).filter((a) => a.name.value !== 'after'),
        { kind: Kind.ARGUMENT, name: name('after'), value: { kind: Kind.VARIABLE, name: name(AFTER_VARIABLE) } },
        { kind: Kind.ARGUMENT, name: name('first'), value: { kind: Kind.INT, value: String(this.pageSize) } },
      ],
      selectionSet: { kind: Kind.SELECTION_SET, selections },
    };
    const query: OperationDefinitionNode = {
      ...op,
      operation: OperationTypeNode.QUERY,
      variableDefinitions: [
        ...(op.variableDefinitions ?? []),
        { kind: Kind.VARIABLE_DEFINITION, variable: { kind: Kind.VARIABLE, name: name(AFTER_VARIABLE) }, type: { kind: Kind.NAMED_TYPE, name: name('String') } },
      ],
      selectionSet: { kind: Kind.SELECTION_SET, selections: [field] },
    };
    const document: DocumentNode = { kind: Kind.DOCUMENT, definitions: [query, ...req.document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)] };
    const p = req.context.principal;
    const who = p ? `${p.kind}:${p.sub}:${[...p.roles].sort().join(',')}:${p.departmentId ?? ''}` : 'anonymous';
    return { document, responseKey, unwrap: source.wrap, key: `${who}\n${print(document)}\n${JSON.stringify(req.variableValues ?? {})}` };
  }

  /**
   * The subscription's `after` (literal or variable), or the head of the log when absent. Otherwise the result
   * that ends the stream (a malformed `after`, a refused read), or undefined when the subscriber left meanwhile.
   */
  private async initialAfter(req: StreamRequest, prepared: PreparedQuery, stop: AbortSignal): Promise<number | FormattedExecutionResult | undefined> {
    const malformed = { errors: [{ message: 'after must be a seq as returned by syncEvents (digits only)', extensions: { code: 'BAD_USER_INPUT' } }] };
    const op = operationOf(req.document, req.operationName)!;
    const root = op.selectionSet.selections[0] as FieldNode;
    const arg = root.arguments?.find((a) => a.name.value === 'after');
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
      const { head, result } = await queryHead(this.opts.schema, req.context);
      if (head !== null) return Math.max(head, announced);
      const errors = (result.errors ?? []).map((e) => this.format(e));
      if (errors.some((e) => FATAL_CODES.has(String(e.extensions?.code)))) return { errors };
      this.opts.logger.warn({ key: prepared.responseKey, codes: errors.map((e) => e.extensions?.code) }, 'reading the head of the sync event log failed; retrying');
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
    const result = await execute({
      schema: this.opts.schema,
      document: prepared.document,
      variableValues: { ...(req.variableValues ?? {}), [AFTER_VARIABLE]: String(after).padStart(12, '0') },
      // A fresh context per read: shield caches its caller-only decisions per context, like per request.
      contextValue: { principal: req.context.principal, directory: req.context.directory },
    });
    const errors = (result.errors ?? []).map((e) => this.format(e));
    const list = (result.data as Record<string, unknown> | null | undefined)?.[prepared.responseKey];
    if (!Array.isArray(list)) {
      const all = errors.length ? errors : [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }];
      const fatal = all.some((e) => FATAL_CODES.has(String(e.extensions?.code)));
      if (!fatal) this.opts.logger.warn({ codes: all.map((e) => e.extensions?.code) }, 'reading sync events for a subscriber failed; retrying');
      return { items: [], announced, errors: all, fatal };
    }
    const skip = prepared.unwrap ? 3 : 2;
    const items = (list as Record<string, unknown>[]).map((item, i) => {
      const { [SEQ_ALIAS]: seq, ...rest } = item;
      const event = prepared.unwrap ? rest[prepared.unwrap] : rest;
      const own = errors
        .filter((e) => e.path?.[0] === prepared.responseKey && e.path[1] === i)
        .map((e) => ({ ...e, path: [prepared.responseKey, ...e.path!.slice(skip)] }));
      const result: FormattedExecutionResult = { data: { [prepared.responseKey]: event }, ...(own.length ? { errors: own } : {}) };
      return { seq: Number(seq), result };
    });
    return { items, announced };
  }

  private format(error: GraphQLError): GraphQLFormattedError {
    return publicError(error.toJSON(), error, (err) => this.opts.logger.error({ err }, 'unexpected error in a subscription'));
  }
}

/** The newest seq of the log, read as the given (service) principal: what the feed polls. */
export async function readHead(schema: GraphQLSchema, context: Pick<SubscriberContext, 'principal' | 'directory'>): Promise<number> {
  const { head } = await queryHead(schema, context);
  if (head === null) throw new Error('the head of the sync event log is unreadable');
  return head;
}

/** `{ syncEventHead }` under the given identity: the seq, or null with the result saying why. */
async function queryHead(schema: GraphQLSchema, context: Pick<SubscriberContext, 'principal' | 'directory'>) {
  const result = await execute({ schema, document: HEAD_QUERY, contextValue: { principal: context.principal, directory: context.directory } });
  const head = (result.data as { syncEventHead?: string } | null | undefined)?.syncEventHead;
  return { head: head ? Number(head) : null, result };
}

const HEAD_QUERY: DocumentNode = {
  kind: Kind.DOCUMENT,
  definitions: [
    {
      kind: Kind.OPERATION_DEFINITION,
      operation: OperationTypeNode.QUERY,
      selectionSet: { kind: Kind.SELECTION_SET, selections: [{ kind: Kind.FIELD, name: { kind: Kind.NAME, value: 'syncEventHead' } }] },
    },
  ],
};

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

