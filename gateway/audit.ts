// The gateway's part of the audit trail (issue 7 §4): it notes every client mutation, every request refused at
// authentication (HTTP and SSE 401, WebSocket 4401), every operation refused with FORBIDDEN or UNAUTHENTICATED
// (queries included) and every subscription start, and hands them in batches to the sync subgraph's recordAudit,
// signed as the `gateway` service identity. The sync subgraph chains and stores them (subgraphs/operations/audit/, served by its process).
//
// Batches leave every 250 ms or at 100 entries. With a spool (./audit-spool.ts, the default when run from
// configuration) every entry is in a file before the request is answered and leaves it once the sync subgraph
// accepted it; a gateway killed sends what was left at its next start. Each entry carries the request's id, and the
// trail stores one entry per id: sent again, or also written by the subgraph in the mutation's own transaction
// (platform/integration/served-request.ts), a request is recorded once. The buffer is bounded (10,000): when the sync
// subgraph cannot take entries for long, the oldest are dropped, counted in gateway_audit_dropped_total and warned
// about at most once a minute, as are entries the sync subgraph refuses (each alone); requests never wait for the
// audit. stop() delivers what is left.
//
// An entry holds the verified principal's id and roles (never a token; null when authentication failed, whatever the
// request claimed), the client address, the operation type and root fields, the operation's name, the outcome and
// the duration.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { ApolloServerPlugin } from '@apollo/server';
import { type DocumentNode, type FragmentDefinitionNode, Kind, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { Counter, type Registry } from 'prom-client';
import { PUBLIC_ERROR_CODES } from '../platform/graphql.ts';
import type { Principal } from '../platform/identity.ts';
import { SubgraphCallError, subgraphClient } from '../platform/integration/subgraph-client.ts';
import type { AuditSpool, Spooled } from './audit-spool.ts';
import type { PermissionContext } from './permissions.ts';
import { GATEWAY_SERVICE } from './directory.ts';

/** Who the gateway is when it records: a service identity, without roles. */
export { GATEWAY_SERVICE };

export const AUDIT_FLUSH_MS = 250;
export const AUDIT_BATCH_SIZE = 100;
export const AUDIT_MAX_BUFFER = 10_000;
/** Bounds the sync subgraph accepts (subgraphs/operations/audit/trail.ts). */
const MAX_ACTION = 300;
const MAX_OPERATION_NAME = 100;
const WARN_EVERY_MS = 60_000;

/** One entry, as recordAudit takes it (AuditEntryInput). */
export interface AuditRecord {
  /** ISO-8601: when the request arrived. */
  at: string;
  actor: string | null;
  roles: string[];
  address: string | null;
  action: string;
  operationName: string | null;
  outcome: string;
  durationMs: number | null;
  /** The client request's id (the one signed into its subgraph calls); the trail stores an id once. */
  requestId: string;
}

/**
 * Delivers a batch; resolves with how many the sync subgraph accepted (the rest it refused, each alone), or throws
 * AuditSinkError (retryable or not) when it could not deliver.
 */
export type AuditSink = (entries: AuditRecord[]) => Promise<number>;

export class AuditSinkError extends Error {
  constructor(
    message: string,
    /** False when sending the same batch again cannot help (the sync subgraph refuses it): it is dropped. */
    readonly retryable = true,
  ) {
    super(message);
    this.name = 'AuditSinkError';
  }
}

const RECORD_AUDIT = 'mutation RecordAudit($entries: [AuditEntryInput!]!) { recordAudit(entries: $entries) }';
// The audit's own rule, not the client's: a refused identity (FORBIDDEN, UNAUTHENTICATED) is a deployment fault
// that a fix ends, so the batch waits in the bounded buffer; only a batch the sync subgraph cannot read is dropped.
const DROPPED_CODES = new Set(['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED']);

/** recordAudit on the sync subgraph, signed with INTERNAL_SECRET as GATEWAY_SERVICE. */
export function syncAuditSink(opts: { url: string; internalSecret: string; timeoutMs?: number; fetch?: typeof fetch }): AuditSink {
  const sync = subgraphClient({ name: 'sync', url: opts.url, as: GATEWAY_SERVICE, internalSecret: opts.internalSecret, timeoutMs: opts.timeoutMs ?? 5000, fetch: opts.fetch });
  return async (entries) => {
    let data: { recordAudit?: unknown };
    try {
      data = await sync<{ recordAudit?: unknown }>(RECORD_AUDIT, { entries });
    } catch (err) {
      if (!(err instanceof SubgraphCallError)) throw new AuditSinkError('sync subgraph call failed');
      throw new AuditSinkError(err.message, err.code === null || !DROPPED_CODES.has(err.code));
    }
    if (typeof data.recordAudit !== 'number') throw new AuditSinkError('sync subgraph answered without a recordAudit count');
    return data.recordAudit;
  };
}

// ── Describing a request ──────────────────────────────────────────────────────────────────────────────

/** 127.0.0.1 for ::ffff:127.0.0.1; null for anything that is not an IP address. */
export function normaliseAddress(value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  let v = value.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(v);
  if (bracketed) v = bracketed[1];
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(v)) v = v.slice(0, v.lastIndexOf(':'));
  if (/^::ffff:/i.test(v) && isIP(v.slice(7)) === 4) v = v.slice(7);
  if (v.length > 45 || isIP(v) === 0) return null;
  return v.toLowerCase();
}

export interface OperationDescription {
  type: 'query' | 'mutation' | 'subscription';
  /** Root fields in document order, each once (through fragments too). */
  fields: string[];
  name: string | null;
}

/** The operation a request runs, or null when the document does not name one unambiguously. */
export function describeOperation(document: DocumentNode | null | undefined, operationName?: string | null): OperationDescription | null {
  if (!document) return null;
  const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const op = operationName ? ops.find((o) => o.name?.value === operationName) : ops.length === 1 ? ops[0] : undefined;
  if (!op) return null;
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  const fields: string[] = [];
  const visited = new Set<string>();
  const walk = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) {
        if (!fields.includes(s.name.value)) fields.push(s.name.value);
      } else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet);
      else if (!visited.has(s.name.value)) {
        visited.add(s.name.value);
        const f = fragments.get(s.name.value);
        if (f) walk(f.selectionSet);
      }
    }
  };
  walk(op.selectionSet);
  return { type: op.operation as OperationDescription['type'], fields, name: op.name ? op.name.value.slice(0, MAX_OPERATION_NAME) : null };
}

/** `mutation decideApproval,submitExpenseClaim`, cut to the length the trail accepts. */
export function actionOf(verb: string, fields: readonly string[]): string {
  let action = verb;
  for (const [i, f] of fields.entries()) {
    const next = `${action}${i === 0 ? ' ' : ','}${f}`;
    if (next.length > MAX_ACTION - 4) return `${action},...`;
    action = next;
  }
  return action;
}

const KNOWN_OUTCOMES: ReadonlySet<string> = new Set(['INTERNAL_SERVER_ERROR', ...PUBLIC_ERROR_CODES]);
const REFUSALS = new Set(['UNAUTHENTICATED', 'FORBIDDEN']);

type ErrorLike = { readonly extensions?: Readonly<Record<string, unknown>> | null };

/** OK; or UNAUTHENTICATED / FORBIDDEN when any error says so (what the anomaly rules count); else the first code. */
export function outcomeOf(errors: readonly ErrorLike[] | null | undefined): string {
  if (!errors?.length) return 'OK';
  const codes = errors.map((e) => {
    const code = e.extensions?.code;
    return typeof code === 'string' && KNOWN_OUTCOMES.has(code) ? code : 'INTERNAL_SERVER_ERROR';
  });
  return codes.find((c) => REFUSALS.has(c)) ?? codes[0];
}

/**
 * An HTTP route's answer (uploads, archive exports) as an outcome the trail accepts (subgraphs/operations/audit:
 * OK, INTERNAL_SERVER_ERROR or a public code; anything else would have the whole batch refused): its error code
 * when the trail knows it, else by status.
 */
export function outcomeOfStatus(status: number, code?: unknown): string {
  if (status < 300) return 'OK';
  if (typeof code === 'string' && KNOWN_OUTCOMES.has(code)) return code;
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 429) return 'RATE_LIMITED';
  return status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST';
}

// ── The recorder ──────────────────────────────────────────────────────────────────────────────────────

export interface AuditRecorderOptions {
  sink: AuditSink;
  logger: { warn(obj: object, msg?: string): void };
  /** Where gateway_audit_dropped_total is registered (the gateway's metrics registry). */
  registry?: Registry;
  /** Behind a trusted proxy: the first hop of X-Forwarded-For is the client (TRUST_PROXY). */
  trustProxy?: boolean;
  flushMs?: number;
  batchSize?: number;
  maxBuffer?: number;
  /** Milliseconds since the epoch. */
  clock?: () => number;
  /** Where entries wait until delivered, surviving the process (./audit-spool.ts); in memory only without it. */
  spool?: AuditSpool<AuditRecord>;
}

const TAG = Symbol('audit');

interface RequestTag {
  address: string | null;
  startedAt: number;
}

type Tagged = { [TAG]?: RequestTag };

export interface OperationNote {
  principal: Principal | null;
  /** The request (its address is read from it) or an address already read. */
  from: IncomingMessage | string | null;
  document: DocumentNode | null | undefined;
  operationName?: string | null;
  /** When the request arrived (ms since the epoch). */
  startedAt: number;
  errors?: readonly ErrorLike[] | null;
  /** The request's id; one is made when the transport has none. */
  requestId?: string | null;
}

export class AuditRecorder {
  readonly dropped: Counter;
  private buffer: Spooled<AuditRecord>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  private stopped = false;
  private droppedSinceWarning = 0;
  private readonly warnedAt = new Map<string, number>();
  private readonly flushMs: number;
  private readonly batchSize: number;
  private readonly maxBuffer: number;
  private readonly clock: () => number;

  constructor(private readonly opts: AuditRecorderOptions) {
    this.flushMs = opts.flushMs ?? AUDIT_FLUSH_MS;
    this.batchSize = opts.batchSize ?? AUDIT_BATCH_SIZE;
    this.maxBuffer = opts.maxBuffer ?? AUDIT_MAX_BUFFER;
    this.clock = opts.clock ?? Date.now;
    this.dropped = new Counter({
      name: 'gateway_audit_dropped_total',
      help: 'Audit entries dropped because the buffer was full or the sync subgraph refused them',
      registers: opts.registry ? [opts.registry] : [],
    });
    // Entries an earlier run of this gateway spooled and did not deliver go first.
    const pending = opts.spool?.pending() ?? [];
    if (pending.length) {
      this.buffer = pending;
      this.schedule(0);
    }
  }

  /** Entries waiting to be delivered. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** The client address of a request: the socket's peer, or X-Forwarded-For's first hop behind a trusted proxy. */
  addressOf(req: IncomingMessage): string | null {
    if (this.opts.trustProxy) {
      const header = req.headers['x-forwarded-for'];
      const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0];
      const forwarded = normaliseAddress(first);
      if (forwarded) return forwarded;
    }
    return normaliseAddress(req.socket?.remoteAddress);
  }

  record(entry: AuditRecord): void {
    if (this.stopped) {
      this.drop(1, 'stopped');
      return;
    }
    if (this.buffer.length >= this.maxBuffer) {
      this.leave([this.buffer.shift()!]);
      this.drop(1, 'buffer full');
    }
    this.buffer.push(this.spooled(entry));
    if (this.buffer.length >= this.batchSize && this.failures === 0) void this.flush();
    else this.schedule(this.flushMs);
  }

  /** A request refused at authentication (HTTP or SSE 401, WebSocket 4401). No actor: an unverified token says nothing. */
  refused(req: IncomingMessage, startedAt: number): void {
    this.record({ at: new Date(startedAt).toISOString(), actor: null, roles: [], address: this.addressOf(req), action: 'authenticate', operationName: null, outcome: 'UNAUTHENTICATED', durationMs: this.since(startedAt), requestId: randomUUID() });
  }

  /** A query or mutation that ran: recorded when it is a mutation or was refused (FORBIDDEN, UNAUTHENTICATED). */
  operation(note: OperationNote): void {
    const op = describeOperation(note.document, note.operationName);
    const outcome = outcomeOf(note.errors);
    if (!op || op.type === 'subscription' || (op.type !== 'mutation' && !REFUSALS.has(outcome))) return;
    this.record({ ...this.who(note), action: actionOf(op.type, op.fields), operationName: op.name, outcome, durationMs: this.since(note.startedAt), requestId: note.requestId ?? randomUUID() });
  }

  /** A subscription accepted by a transport: `subscribe <field>`. */
  subscribed(note: Omit<OperationNote, 'errors'>): void {
    const op = describeOperation(note.document, note.operationName);
    if (!op || op.type !== 'subscription') return;
    this.record({ ...this.who(note), action: actionOf('subscribe', op.fields), operationName: op.name, outcome: 'OK', durationMs: null, requestId: note.requestId ?? randomUUID() });
  }

  /** Marks an HTTP request's GraphQL context, so the Apollo plugin knows its address and start. */
  tag<T extends PermissionContext>(context: T, req: IncomingMessage, startedAt: number): T {
    (context as T & Tagged)[TAG] = { address: this.addressOf(req), startedAt };
    return context;
  }

  /** Records the HTTP operations of contexts marked with tag(). */
  plugin(): ApolloServerPlugin<PermissionContext> {
    return {
      requestDidStart: async ({ contextValue }) => {
        const tag = (contextValue as PermissionContext & Tagged)[TAG];
        if (!tag) return;
        return {
          willSendResponse: async (rc) => {
            this.operation({ principal: rc.contextValue.principal, from: tag.address, document: rc.document, operationName: rc.request.operationName, startedAt: tag.startedAt, errors: rc.errors, requestId: rc.contextValue.origin?.requestId });
          },
        };
      },
    };
  }

  /** Delivers everything buffered now (resolves when done, or when a delivery failed: it is retried later). */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
      if (this.buffer.length) this.schedule(this.failures ? Math.min(30_000, this.flushMs * 2 ** this.failures) : this.flushMs);
    });
    return this.flushing;
  }

  /** Delivers what is left, once; what cannot be delivered is counted as dropped. Later entries are dropped. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flushing;
    this.failures = 0;
    await this.flush();
    if (this.buffer.length) {
      this.opts.logger.warn({ undelivered: this.buffer.length }, 'audit entries could not be delivered before shutdown');
      // Spooled, they are sent at the next start; only without a spool are they lost.
      if (!this.opts.spool) this.drop(this.buffer.length, 'undelivered at shutdown', false);
      this.buffer = [];
    }
    this.opts.spool?.close();
  }

  private who(note: Pick<OperationNote, 'principal' | 'from' | 'startedAt'>): Pick<AuditRecord, 'at' | 'actor' | 'roles' | 'address'> {
    const address = typeof note.from === 'string' || note.from === null ? normaliseAddress(note.from) : this.addressOf(note.from);
    return { at: new Date(note.startedAt).toISOString(), actor: note.principal?.sub ?? null, roles: [...(note.principal?.roles ?? [])], address };
  }

  private since(startedAt: number): number {
    return Math.max(0, Math.round(this.clock() - startedAt));
  }

  private schedule(delayMs: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delayMs);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    while (this.buffer.length) {
      const batch = this.buffer.splice(0, this.batchSize);
      try {
        const accepted = await this.opts.sink(batch.map((b) => b.entry));
        this.failures = 0;
        this.leave(batch);
        if (accepted < batch.length) this.drop(batch.length - accepted, 'refused by the sync subgraph as invalid');
      } catch (err) {
        const reason = err instanceof Error ? err.message : 'delivery failed';
        if (err instanceof AuditSinkError && !err.retryable) {
          // Sending it again cannot help; keep going with the rest.
          this.leave(batch);
          this.drop(batch.length, reason);
          continue;
        }
        this.failures++;
        // Back to the front, oldest first; the bound still holds by dropping the oldest.
        this.buffer.unshift(...batch);
        const over = this.buffer.length - this.maxBuffer;
        if (over > 0) {
          const dropped = this.buffer.splice(0, over);
          this.leave(dropped);
          this.drop(dropped.length, 'buffer full');
        }
        this.warnEveryMinute('failing', { reason, buffered: this.buffer.length }, 'audit entries could not be delivered to the sync subgraph; retrying');
        return;
      }
    }
  }

  /** Spools an entry; should the file fail (disk full), it waits in memory only, and the log says so. */
  private spooled(entry: AuditRecord): Spooled<AuditRecord> {
    if (!this.opts.spool) return { entry, end: 0 };
    try {
      return this.opts.spool.append(entry);
    } catch (err) {
      this.warnEveryMinute('spool', { reason: (err as NodeJS.ErrnoException).code ?? 'write failed' }, 'the audit spool cannot be written; entries wait in memory only');
      return { entry, end: 0 };
    }
  }

  /** Entries that left the buffer for good (delivered or dropped): the spool's cursor passes them. */
  private leave(entries: Spooled<AuditRecord>[]): void {
    const end = Math.max(0, ...entries.map((e) => e.end));
    if (!this.opts.spool || end === 0) return;
    try {
      this.opts.spool.delivered(end);
    } catch (err) {
      this.warnEveryMinute('spool', { reason: (err as NodeJS.ErrnoException).code ?? 'write failed' }, 'the audit spool cursor cannot be written; entries may be sent again (stored once)');
    }
  }

  private drop(n: number, reason: string, warn = true): void {
    this.dropped.inc(n);
    this.droppedSinceWarning += n;
    if (warn && this.warnEveryMinute('dropped', { dropped: this.droppedSinceWarning, reason }, 'audit entries dropped')) this.droppedSinceWarning = 0;
  }

  /** Logs at most once a minute per kind; true when it logged. */
  private warnEveryMinute(kind: string, obj: object, msg: string): boolean {
    const now = this.clock();
    const last = this.warnedAt.get(kind);
    if (last !== undefined && now - last < WARN_EVERY_MS) return false;
    this.warnedAt.set(kind, now);
    this.opts.logger.warn(obj, msg);
    return true;
  }
}
