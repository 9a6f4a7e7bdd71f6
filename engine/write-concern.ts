// Write concerns against the engine's one-member replica set. A malformed writeConcern fails the command before
// it runs (FailedToParse, as WriteConcernOptions::parse); a well-formed one the set cannot satisfy does not stop
// the write: the command succeeds and its reply carries a writeConcernError, as a primary answers after
// applying the write and finding it cannot wait for it: `w` above the number of data-bearing members gives
// UnsatisfiableWriteConcern (100) "Not enough data-bearing nodes", an unknown tag mode UnknownReplWriteConcern
// (79). w: 0, w: 1, w: 'majority', j and wtimeout are satisfied by the single member.
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, isNumeric, isPlainObject, toNumber } from './values.ts';

/** Commands that wait for a write concern (the others ignore one, as before). */
const WAITS_FOR_WRITE_CONCERN = new Set([
  'insert', 'update', 'delete', 'findAndModify', 'findandmodify', 'create', 'drop', 'dropDatabase', 'createIndexes',
  'dropIndexes', 'deleteIndexes', 'collMod', 'commitTransaction', 'abortTransaction', 'renameCollection',
]);

/** Data-bearing members of the replica set the engine reports. */
const MEMBERS = 1;

function parse(wc: unknown): Doc | undefined {
  if (wc === undefined || wc === null) return undefined;
  if (!isPlainObject(wc)) throw new MongoServerError(ErrorCodes.TypeMismatch, "BSON field 'writeConcern' is the wrong type, expected type 'object'");
  const w = wc.w;
  if (w !== undefined && typeof w !== 'string' && !isPlainObject(w)) {
    if (!isNumeric(w)) throw new MongoServerError(ErrorCodes.FailedToParse, 'w has to be a number, string or object');
    const n = toNumber(w);
    if (!Number.isInteger(n) || n < 0 || n > 50) {
      throw new MongoServerError(ErrorCodes.FailedToParse, `w has to be a non-negative number and not greater than 50; found: ${String(n)}`);
    }
  }
  if (isPlainObject(w)) {
    for (const v of Object.values(w)) {
      if (!isNumeric(v)) throw new MongoServerError(ErrorCodes.FailedToParse, 'tagged write concern requires numeric values');
    }
  }
  return wc;
}

/** The writeConcernError a successful write command's reply carries, or undefined when the concern is met. */
export function writeConcernError(body: Doc): Doc | undefined {
  const name = Object.keys(body)[0];
  if (!WAITS_FOR_WRITE_CONCERN.has(name)) return undefined;
  const wc = parse(body.writeConcern);
  if (!wc || wc.w === undefined) return undefined;
  const w = wc.w;
  const used: Doc = { w };
  if (wc.j !== undefined) used.j = wc.j;
  used.wtimeout = wc.wtimeout ?? 0;
  used.provenance = 'clientSupplied';
  if (typeof w === 'string') {
    if (w === 'majority') return undefined;
    return {
      code: ErrorCodes.UnknownReplWriteConcern,
      codeName: 'UnknownReplWriteConcern',
      errmsg: `No write concern mode named '${w}' found in replica set configuration`,
      errInfo: { writeConcern: used },
    };
  }
  if (isPlainObject(w)) {
    return {
      code: ErrorCodes.UnknownReplWriteConcern,
      codeName: 'UnknownReplWriteConcern',
      errmsg: 'No write concern mode matches the given tags in replica set configuration',
      errInfo: { writeConcern: used },
    };
  }
  if (toNumber(w) <= MEMBERS) return undefined;
  return {
    code: ErrorCodes.UnsatisfiableWriteConcern,
    codeName: 'UnsatisfiableWriteConcern',
    errmsg: 'Not enough data-bearing nodes',
    errInfo: { writeConcern: used },
  };
}

/**
 * Runs a command under its write concern: a malformed one fails it before it runs, an unsatisfiable one adds a
 * writeConcernError to its (successful) reply.
 */
export function withWriteConcern(body: Doc, run: () => Doc): Doc {
  if (WAITS_FOR_WRITE_CONCERN.has(Object.keys(body)[0])) parse(body.writeConcern);
  const reply = run();
  const error = writeConcernError(body);
  return error ? { ...reply, writeConcernError: error } : reply;
}
