// What a subgraph knows about the client request it is serving, and what every transaction committed while serving
// it must do before it commits (./transactions.ts calls beforeCommit inside each transaction):
// - **Deadline**: the gateway signs when it stops waiting (`dl`, platform/identity.ts); past it a transaction aborts,
//   so a caller told "failed" (the gateway's timeout) was not applied.
// - **Audit** (a transactional outbox): a user's mutation upserts one `audit_outbox` document keyed by the gateway's
//   request id, committed exactly when the mutation is. The sync process chains it into the trail
//   (subgraphs/operations/audit/outbox.ts), where an entry is stored once per request id, so the gateway's own record
//   of the request is not stored twice (README.md, "Audit trail").
// - **Idempotency**: a user's mutation sent with an `Idempotency-Key` inserts `idempotency_keys/<sub>:<key>` with the
//   digest of the request in the same transaction, and its answer once sent. A retry with the same key and request
//   gets that answer without running again; with another request, BAD_USER_INPUT; while the first is still running,
//   IDEMPOTENCY_KEY_IN_USE (nothing applied; retry). Keys live 24 hours (README.md, "Retrying safely").
import { AsyncLocalStorage } from 'node:async_hooks';
import { isIP } from 'node:net';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError, Kind } from 'graphql';
import type { ClientSession, Connection } from 'mongoose';
import type { Principal, RequestOrigin } from '../identity.ts';

export const AUDIT_OUTBOX = 'audit_outbox';
export const IDEMPOTENCY_KEYS = 'idempotency_keys';
/** How long a key keeps its answer. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

/** One outbox document: an audit entry waiting to be chained. */
export interface AuditOutboxDoc {
  /** The gateway's request id. */
  _id: string;
  at: Date;
  actor: string;
  roles: string[];
  address: string | null;
  /** The subgraph that performed the mutation: the entry's source. */
  source: 'oa' | 'archive' | 'sync';
  action: string;
  operationName: string | null;
  outcome: 'OK';
}

/** A key's record: the request it was used for and, once sent, the answer. */
export interface IdempotencyDoc {
  /** `<subgraph>:<principal sub>:<key>`: keys are the caller's own, and each subgraph holds its part of a request. */
  _id: string;
  /** SHA-256 of the subgraph request's body: the same key with another request is refused. */
  digest: string;
  at: Date;
  /** The JSON answered, once sent; null while the request runs or if the process died before answering. */
  response: string | null;
}

interface Served {
  who: { principal: Principal; origin: RequestOrigin; source: AuditOutboxDoc['source']; at: Date; bodyDigest: string };
  connection: Connection;
  mutation: boolean;
  note: Omit<AuditOutboxDoc, 'outcome'> | null;
  /** The key's record id once this request's transaction holding it committed. */
  keyCommitted: string | null;
}

const serving = new AsyncLocalStorage<Served>();

const keyId = (source: string, principal: Principal, key: string) => `${source}:${principal.sub}:${key}`;

/** Whether a subgraph request runs a mutation: the gateway's query plans send mutations as `mutation …` documents. */
const isMutationBody = (body: Buffer): boolean => {
  try {
    const query = (JSON.parse(body.toString('utf8')) as { query?: unknown }).query;
    return typeof query === 'string' && /^\s*mutation\b/.test(query);
  } catch {
    return false;
  }
};

const idempotencyError = (message: string, code: string) => new GraphQLError(message, { extensions: { code } });

/**
 * Before a mutation runs: the stored answer of an earlier request with the same Idempotency-Key and body (to send
 * as it is), or null to run it. Throws BAD_USER_INPUT when the key was used for another request. The other subgraph
 * requests of the same client request (entities of the mutation's result) carry the key too and simply run.
 */
export async function storedAnswer(connection: Connection, source: string, principal: Principal, origin: RequestOrigin, body: Buffer, bodyDigest: string, now = Date.now()): Promise<string | null> {
  if (!origin.idempotencyKey || principal.kind !== 'user' || !isMutationBody(body)) return null;
  const keys = connection.collection<IdempotencyDoc>(IDEMPOTENCY_KEYS);
  const _id = keyId(source, principal, origin.idempotencyKey);
  const found = await keys.findOne({ _id });
  if (!found) return null;
  if (found.at.getTime() < now - IDEMPOTENCY_TTL_MS) {
    await keys.deleteOne({ _id, at: found.at });
    return null;
  }
  if (found.digest !== bodyDigest) throw idempotencyError('This Idempotency-Key was used for another request; use a new key for a new request', 'BAD_USER_INPUT');
  if (found.response === null) throw idempotencyError('The request with this Idempotency-Key was applied or is still running; retry shortly for its answer', 'IDEMPOTENCY_KEY_IN_USE');
  return found.response;
}

/** Runs a subgraph request with what it knows of its client (its transactions use it before committing). */
export const serveRequest = <T>(who: Omit<Served['who'], 'at'>, connection: Connection, fn: () => Promise<T>): Promise<T> =>
  serving.run({ who: { ...who, at: new Date() }, connection, mutation: false, note: null, keyCommitted: null }, fn);

/**
 * The Apollo plugin of served requests: marks a mutation once its operation is known, notes a user's mutation for
 * the audit (`mutation <root fields>`, as the gateway writes it; needs the gateway's request id), and stores the
 * answer of a mutation whose Idempotency-Key committed.
 */
export function servedRequestPlugin<T extends BaseContext>(): ApolloServerPlugin<T> {
  return {
    requestDidStart: async () => ({
      didResolveOperation: async ({ operation }) => {
        const served = serving.getStore();
        if (!served || operation?.operation !== 'mutation') return;
        served.mutation = true;
        const { principal, origin, source, at } = served.who;
        if (principal.kind !== 'user' || !origin.requestId) return;
        const fields = [...new Set(operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD && !s.name.value.startsWith('__') ? [s.name.value] : [])))];
        const action = `mutation ${fields.join(',')}`.slice(0, 300);
        // Only what the trail accepts (subgraphs/operations/audit/trail.ts): the outbox must never hold an entry it refuses.
        const operationName = origin.operationName && /^[_A-Za-z][_0-9A-Za-z]{0,99}$/.test(origin.operationName) ? origin.operationName : null;
        const address = origin.clientAddress && isIP(origin.clientAddress) ? origin.clientAddress : null;
        served.note = { _id: origin.requestId, at, actor: principal.sub, roles: [...principal.roles], address, source, action, operationName };
      },
      willSendResponse: async ({ response }) => {
        const served = serving.getStore();
        if (!served?.keyCommitted || response.body.kind !== 'single') return;
        await served.connection
          .collection<IdempotencyDoc>(IDEMPOTENCY_KEYS)
          .updateOne({ _id: served.keyCommitted }, { $set: { response: JSON.stringify(response.body.singleResult) } });
      },
    }),
  };
}

/**
 * Throws DEADLINE_EXCEEDED when the caller of the request served has stopped waiting (its signed deadline is past):
 * before work that is wasted then (a transaction waiting in its lane, copying files), and before every commit.
 * A service's call (the sync pipeline's) is abandoned only before its work starts (`stage` 'arrival': on arrival, and
 * before fileVouchers copies originals); once started it runs to its commit: its calls are idempotent and a timed-out
 * one is run again, which finds what this one did. Abandoning started work instead made a pipeline on a loaded machine
 * redo every batch and never progress (the 10,000-claim documents run).
 */
/**
 * Runs `fn` outside the request being served: work a request only starts (a worker loop's pass it woke) must not be
 * bound by its deadline, nor write its audit entry or Idempotency-Key.
 */
export const outsideRequest = <T>(fn: () => T): T => serving.exit(fn);

export function abandonPastDeadline(stage: 'arrival' | 'start' | 'commit' = 'start'): void {
  const served = serving.getStore();
  const deadline = served?.who.origin.deadline;
  if (stage !== 'arrival' && served?.who.principal.kind === 'service') return;
  if (deadline != null && Date.now() > deadline) {
    throw idempotencyError('The caller stopped waiting for this request; nothing of it was applied', 'DEADLINE_EXCEEDED');
  }
}

/** Inside each transaction, last: the deadline, the audit entry and the Idempotency-Key of the request served. */
export async function beforeCommit(connection: Connection, session: ClientSession): Promise<(() => void) | null> {
  const served = serving.getStore();
  if (!served) return null;
  const { origin, principal } = served.who;
  abandonPastDeadline('commit');
  if (served.note) {
    const { _id, ...rest } = served.note;
    // An upsert: a mutation of several transactions, or one the driver runs again, leaves one document.
    await connection.collection<AuditOutboxDoc>(AUDIT_OUTBOX).updateOne({ _id }, { $setOnInsert: { ...rest, outcome: 'OK' } }, { upsert: true, session });
  }
  if (!served.mutation || !origin.idempotencyKey || principal.kind !== 'user' || served.keyCommitted) return null;
  const _id = keyId(served.who.source, principal, origin.idempotencyKey);
  try {
    // An insert, not an upsert: of two requests with one key, the second to commit fails here and applies nothing.
    await connection.collection<IdempotencyDoc>(IDEMPOTENCY_KEYS).insertOne({ _id, digest: served.who.bodyDigest, at: new Date(), response: null }, { session });
  } catch (err) {
    if ((err as { code?: number }).code === 11000) {
      throw idempotencyError('The request with this Idempotency-Key was applied or is still running; retry shortly for its answer', 'IDEMPOTENCY_KEY_IN_USE');
    }
    throw err;
  }
  return () => {
    served.keyCommitted = _id;
  };
}

/**
 * The indexes both timers read by age: the outbox drain (every poll: entries past the grace period, oldest first) and
 * the key sweep. Without them each poll read the whole outbox (about 300 entries at 50 mutations/s, 3% of the
 * database's CPU) and each sweep a day of keys.
 */
export async function ensureServedRequestIndexes(connection: Connection): Promise<void> {
  await connection.collection(AUDIT_OUTBOX).createIndex({ at: 1 }, { name: 'audit_outbox_by_time' });
  await connection.collection(IDEMPOTENCY_KEYS).createIndex({ at: 1 }, { name: 'idempotency_keys_by_time' });
}

/** Removes keys past their 24 hours (the sync process's timer). */
export async function sweepIdempotencyKeys(connection: Connection, now = Date.now()): Promise<number> {
  const { deletedCount } = await connection.collection<IdempotencyDoc>(IDEMPOTENCY_KEYS).deleteMany({ at: { $lt: new Date(now - IDEMPOTENCY_TTL_MS) } });
  return deletedCount;
}
