// The audit entry of a client mutation, written by the subgraph that performs it in the same transaction as the
// mutation (a transactional outbox): an acknowledged mutation always has its entry, even when the process dies before
// the gateway's own record of it leaves (README.md, "Audit trail"). The subgraph notes who asked (the principal and
// request origin the gateway signed into the internal identity) when a user's mutation starts; every transaction
// committed while serving it (./transactions.ts) upserts one `audit_outbox` document keyed by the gateway's request
// id. The sync process moves the outbox into the hash-chained trail (subgraphs/operations/audit/outbox.ts), where an
// entry is stored once per request id, so the gateway's record of the same request is not stored twice.
import { AsyncLocalStorage } from 'node:async_hooks';
import { isIP } from 'node:net';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { Kind } from 'graphql';
import type { ClientSession, Connection } from 'mongoose';
import type { Principal, RequestOrigin } from '../identity.ts';

export const AUDIT_OUTBOX = 'audit_outbox';

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

/** Who asked for the request being served, and its entry once it is known to be a user's mutation. */
interface Served {
  who: { principal: Principal; origin: RequestOrigin; source: AuditOutboxDoc['source']; at: Date };
  note: Omit<AuditOutboxDoc, 'outcome'> | null;
}

const serving = new AsyncLocalStorage<Served>();

/** Runs a subgraph request, so that a user's mutation in it can note itself (auditedMutations). */
export const serveRequest = <T>(who: Omit<Served['who'], 'at'>, fn: () => Promise<T>): Promise<T> => serving.run({ who: { ...who, at: new Date() }, note: null }, fn);

/**
 * The Apollo plugin that notes a user's mutation once its operation is known: `mutation <root fields>`, as the
 * gateway writes it. Needs the gateway's request id (service calls and unsigned origins are not client requests).
 */
export function auditedMutations<T extends BaseContext>(): ApolloServerPlugin<T> {
  return {
    requestDidStart: async () => ({
      didResolveOperation: async ({ operation }) => {
        const served = serving.getStore();
        if (!served || operation?.operation !== 'mutation') return;
        const { principal, origin, source, at } = served.who;
        if (principal.kind !== 'user' || !origin.requestId) return;
        const fields = [...new Set(operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD && !s.name.value.startsWith('__') ? [s.name.value] : [])))];
        const action = `mutation ${fields.join(',')}`.slice(0, 300);
        // Only what the trail accepts (subgraphs/operations/audit/trail.ts): the outbox must never hold an entry it refuses.
        const operationName = origin.operationName && /^[_A-Za-z][_0-9A-Za-z]{0,99}$/.test(origin.operationName) ? origin.operationName : null;
        const address = origin.clientAddress && isIP(origin.clientAddress) ? origin.clientAddress : null;
        served.note = { _id: origin.requestId, at, actor: principal.sub, roles: [...principal.roles], address, source, action, operationName };
      },
    }),
  };
}

/**
 * Inside a transaction: the entry of the mutation being served, if any. Idempotent (an upsert on the request id), so
 * a mutation of several transactions, or a transaction the driver runs again, leaves one document.
 */
export async function writeNotedEntry(connection: Connection, session: ClientSession): Promise<void> {
  const note = serving.getStore()?.note;
  if (!note) return;
  const { _id, ...rest } = note;
  await connection.collection<AuditOutboxDoc>(AUDIT_OUTBOX).updateOne({ _id }, { $setOnInsert: { ...rest, outcome: 'OK' } }, { upsert: true, session });
}
