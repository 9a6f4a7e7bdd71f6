// The command table: each command's handler, kind and accepted fields. Each handler receives the parsed command and
// answers with the reply document MongoDB would give (commands-admin.ts, commands-read.ts, commands-write.ts,
// commands-catalog.ts).
import os from 'node:os';
import type { CommandContext } from './command-context.ts';
import { buildInfo, hello, listDatabases, serverStatus } from './commands-admin.ts';
import { create, createIndexes, drop, dropDatabase, dropIndexes, listCollections, listIndexes } from './commands-catalog.ts';
import { aggregate, count, distinct, explain, find, getMore, killCursors } from './commands-read.ts';
import { type WriteOutcome, findAndModify, insert, remove, update } from './commands-write.ts';
import { COLL_MOD_FIELDS, collMod } from './coll-mod.ts';
import { ErrorCodes, fail } from './errors.ts';
import type { Doc } from './values.ts';

export type CommandKind = 'read' | 'write' | 'catalog' | 'admin';

export interface CommandDef {
  kind: CommandKind;
  /** Fields this command accepts besides the generic ones; any other field is refused (40415). Unset: not checked. */
  fields?: string[];
  /** Allowed inside a multi-document transaction. */
  inTransaction?: boolean;
  /** A retryable write: replies are remembered per session and txnNumber. */
  retryable?: boolean;
  run: (ctx: CommandContext) => Doc | WriteOutcome;
}

const ok = (): Doc => ({});

export const COMMANDS: Record<string, CommandDef> = {
  hello: { kind: 'admin', run: hello },
  ismaster: { kind: 'admin', run: hello },
  isMaster: { kind: 'admin', run: hello },
  ping: { kind: 'admin', run: ok },
  buildInfo: { kind: 'admin', run: buildInfo },
  buildinfo: { kind: 'admin', run: buildInfo },
  serverStatus: { kind: 'admin', run: serverStatus },
  listDatabases: { kind: 'admin', run: listDatabases },
  connectionStatus: { kind: 'admin', run: () => ({ authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] } }) },
  whatsmyuri: { kind: 'admin', run: (ctx) => ({ you: `127.0.0.1:${ctx.connectionId}` }) },
  getCmdLineOpts: { kind: 'admin', run: () => ({ argv: process.argv.slice(1), parsed: {} }) },
  hostInfo: { kind: 'admin', run: () => ({ system: { hostname: os.hostname(), numCores: os.cpus().length, memSizeMB: Math.round(os.totalmem() / 2 ** 20) }, os: { type: os.type() } }) },
  getParameter: {
    kind: 'admin',
    run: (ctx) => {
      if (ctx.body.featureCompatibilityVersion !== undefined) return { featureCompatibilityVersion: { version: '7.0' } };
      return fail(ErrorCodes.InvalidOptions, 'no option found to get');
    },
  },
  getLog: { kind: 'admin', run: () => ({ totalLinesWritten: 0, log: [] }) },
  find: { kind: 'read', inTransaction: true, fields: ['filter', 'sort', 'projection', 'hint', 'skip', 'limit', 'batchSize', 'singleBatch', 'max', 'min', 'returnKey', 'showRecordId', 'tailable', 'oplogReplay', 'noCursorTimeout', 'awaitData', 'allowPartialResults', 'collation', 'allowDiskUse', 'let'], run: find },
  explain: { kind: 'read', fields: ['explain', 'verbosity'], run: explain },
  getMore: { kind: 'read', inTransaction: true, fields: ['collection', 'batchSize', 'term', 'lastKnownCommittedOpTime'], run: getMore },
  killCursors: { kind: 'read', inTransaction: true, fields: ['cursors'], run: killCursors },
  count: { kind: 'read', fields: ['query', 'limit', 'skip', 'hint', 'collation', 'fields'], run: count },
  distinct: { kind: 'read', inTransaction: true, fields: ['key', 'query', 'collation'], run: distinct }, // hint: 7.1+
  aggregate: { kind: 'read', inTransaction: true, fields: ['pipeline', 'explain', 'allowDiskUse', 'cursor', 'bypassDocumentValidation', 'collation', 'hint', 'let'], run: aggregate },
  insert: { kind: 'write', inTransaction: true, retryable: true, fields: ['documents', 'ordered', 'bypassDocumentValidation'], run: insert },
  update: { kind: 'write', inTransaction: true, retryable: true, fields: ['updates', 'ordered', 'bypassDocumentValidation', 'let'], run: update },
  delete: { kind: 'write', inTransaction: true, retryable: true, fields: ['deletes', 'ordered', 'let'], run: remove },
  findAndModify: { kind: 'write', inTransaction: true, retryable: true, fields: ['query', 'sort', 'remove', 'update', 'new', 'fields', 'upsert', 'bypassDocumentValidation', 'arrayFilters', 'hint', 'let', 'collation'], run: findAndModify },
  findandmodify: { kind: 'write', inTransaction: true, retryable: true, fields: ['query', 'sort', 'remove', 'update', 'new', 'fields', 'upsert', 'bypassDocumentValidation', 'arrayFilters', 'hint', 'let', 'collation'], run: findAndModify },
  create: { kind: 'catalog', inTransaction: true, run: create },
  drop: { kind: 'catalog', fields: [], run: drop },
  dropDatabase: { kind: 'catalog', fields: [], run: dropDatabase },
  listCollections: { kind: 'read', fields: ['filter', 'nameOnly', 'authorizedCollections', 'cursor'], run: listCollections },
  createIndexes: { kind: 'catalog', fields: ['indexes', 'commitQuorum'], run: createIndexes },
  listIndexes: { kind: 'read', fields: ['cursor'], run: listIndexes },
  dropIndexes: { kind: 'catalog', fields: ['index'], run: dropIndexes },
  deleteIndexes: { kind: 'catalog', fields: ['index'], run: dropIndexes },
  collMod: { kind: 'catalog', fields: COLL_MOD_FIELDS, run: collMod },
};

/** Fields any command may carry: routing, sessions, transactions, concerns, API versioning. */
const GENERIC_FIELDS = new Set([
  '$db', 'lsid', 'txnNumber', 'autocommit', 'startTransaction', '$clusterTime', '$readPreference', 'readConcern',
  'writeConcern', 'comment', 'maxTimeMS', 'apiVersion', 'apiStrict', 'apiDeprecationErrors', 'mayBypassWriteBlocking',
  '$client',
]);

/** MongoDB refuses fields a command does not know; so does the engine, rather than ignoring them. */
export function checkFields(name: string, def: CommandDef, body: Doc): void {
  if (!def.fields) return;
  const keys = Object.keys(body);
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    if (!GENERIC_FIELDS.has(k) && !def.fields.includes(k)) {
      fail(ErrorCodes.Location40415, `BSON field '${name}.${k}' is an unknown field.`, { codeName: 'Location40415' });
    }
  }
}
