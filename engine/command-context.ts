// What a command handler receives (the parsed command, the data it reaches, the server's state), and the
// reading of its arguments.
import type { ObjectId } from 'bson';
import type { Access } from './access.ts';
import type { Catalog } from './catalog.ts';
import type { Cursors } from './cursors.ts';
import { ErrorCodes, fail } from './errors.ts';
import type { WarnLogger } from './validation.ts';
import { type Doc, isPlainObject, toNumber } from './values.ts';

export interface ServerInfo {
  host: string;
  port: number;
  setName: string;
  electionId: ObjectId;
  startedAt: number;
  persistent: boolean;
  connections: { current: number; total: number };
  counters: Record<'insert' | 'query' | 'update' | 'delete' | 'getmore' | 'command', number>;
}

export interface CommandContext {
  db: string;
  body: Doc;
  access: Access;
  catalog: Catalog;
  cursors: Cursors;
  server: ServerInfo;
  connectionId: number;
  inTransaction: boolean;
  logger: WarnLogger;
}

// ---------------------------------------------------------------------------------------------------------
// Arguments

export const nameArg = (ctx: CommandContext, field: string): string => {
  const v = ctx.body[field];
  if (typeof v !== 'string' || v.length === 0) {
    fail(ErrorCodes.InvalidNamespace, `collection name has invalid type ${v === null ? 'null' : typeof v}`);
  }
  return v as string;
};

export const intArg = (v: unknown, name: string, fallback: number): number => {
  if (v === undefined || v === null) return fallback;
  const n = toNumber(v);
  if (!Number.isFinite(n) || !Number.isInteger(n)) fail(ErrorCodes.TypeMismatch, `Field '${name}' must be a number`);
  return n;
};

export const docArg = (v: unknown, name: string): Doc | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) fail(ErrorCodes.TypeMismatch, `BSON field '${name}' is the wrong type '${Array.isArray(v) ? 'array' : typeof v}', expected type 'object'`);
  return v as Doc;
};

/** Options MongoDB supports that this engine would silently ignore: refuse them instead. */
export function refuse(ctx: CommandContext, fields: string[]): void {
  for (const f of fields) {
    if (ctx.body[f] !== undefined && ctx.body[f] !== false) {
      fail(ErrorCodes.NotImplemented, `option '${f}' of '${Object.keys(ctx.body)[0]}' is not supported by the embedded engine`);
    }
  }
  const collation = ctx.body.collation as Doc | undefined;
  if (collation && !(Object.keys(collation).length === 1 && collation.locale === 'simple')) {
    fail(ErrorCodes.NotImplemented, 'collations other than the simple binary one are not supported by the embedded engine');
  }
}

export const ns = (ctx: CommandContext, coll: string) => `${ctx.db}.${coll}`;
