// Document validation (collection option `validator`, with `validationLevel` and `validationAction`), set at
// `create` or by `collMod`. Inserts, updates, replacements and upserts are checked unless the command says
// bypassDocumentValidation: true; 'moderate' does not check updates of documents that already failed, 'off'
// checks nothing, and 'warn' logs the failure and writes anyway. A failing write answers
// DocumentValidationFailure (121), "Document failed validation", with `errInfo` shaped as
// src/mongo/db/matcher/doc_validation_error.cpp shapes it: {failingDocumentId, details: {operatorName, ...}}.
// Validators are query filters; $jsonSchema is refused (mingo has no JSON Schema validator).
import { ErrorCodes, MongoServerError } from './errors.ts';
import { reach } from './matcher.ts';
import { type Matcher, compileFilter } from './query.ts';
import { typeName } from './value-strings.ts';
import { type Doc, isPlainObject } from './values.ts';

export type ValidationLevel = 'off' | 'strict' | 'moderate';
export type ValidationAction = 'error' | 'warn';

const LEVELS = ['off', 'strict', 'moderate'];
const ACTIONS = ['error', 'warn'];

export interface WarnLogger {
  warn(obj: object, msg?: string): void;
}

/** Checks a validator as create and collMod do; throws the parse error a query with it would give. */
export function checkValidator(validator: unknown, command: string): Doc {
  if (!isPlainObject(validator)) {
    throw new MongoServerError(ErrorCodes.TypeMismatch, `BSON field '${command}.validator' is the wrong type '${typeName(validator)}', expected type 'object'`);
  }
  const walk = (f: Doc): void => {
    for (const [k, v] of Object.entries(f)) {
      if (k === '$jsonSchema') {
        throw new MongoServerError(ErrorCodes.NotImplemented, '$jsonSchema validators are not supported by the embedded engine; use query operators');
      }
      if ((k === '$and' || k === '$or' || k === '$nor') && Array.isArray(v)) for (const c of v) if (isPlainObject(c)) walk(c);
    }
  };
  walk(validator);
  compileFilter(validator);
  return validator;
}

function enumArg(v: unknown, field: string, command: string, allowed: string[]): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    throw new MongoServerError(ErrorCodes.TypeMismatch, `BSON field '${command}.${field}' is the wrong type '${typeName(v)}', expected type 'string'`);
  }
  if (!allowed.includes(v)) {
    throw new MongoServerError(ErrorCodes.BadValue, `Enumeration value '${v}' for field '${command}.${field}' is not a valid value.`);
  }
  return v;
}

export const validationLevelArg = (v: unknown, command: string) => enumArg(v, 'validationLevel', command, LEVELS) as ValidationLevel | undefined;
export const validationActionArg = (v: unknown, command: string) => enumArg(v, 'validationAction', command, ACTIONS) as ValidationAction | undefined;

/** The validation options of a `create` command (validator, validationLevel, validationAction), checked. */
export function createValidationOptions(body: Doc): Doc {
  const out: Doc = {};
  if (body.validator !== undefined && body.validator !== null) out.validator = checkValidator(body.validator, 'create');
  const level = validationLevelArg(body.validationLevel, 'create');
  const action = validationActionArg(body.validationAction, 'create');
  if (level) out.validationLevel = level;
  if (action) out.validationAction = action;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The error details.

const INVERTED: Record<string, string> = {
  'comparison failed': 'comparison succeeded',
  'no matching value found in array': 'matching value found in array',
  'path does not exist': 'path does exist',
  'type did not match': 'type did match',
  'expression did not match': 'expression did match',
  'regular expression did not match': 'regular expression did match',
};
for (const [k, v] of Object.entries(INVERTED)) INVERTED[v] = k;

const REASONS: Record<string, string> = {
  $eq: 'comparison failed',
  $gt: 'comparison failed',
  $gte: 'comparison failed',
  $lt: 'comparison failed',
  $lte: 'comparison failed',
  $ne: 'comparison succeeded',
  $in: 'no matching value found in array',
  $nin: 'matching value found in array',
  $regex: 'regular expression did not match',
};

/** The values a path considers: one value, the elements of arrays on the way, or nothing (missing). */
function considered(doc: Doc, path: string): { missing: true } | { values: unknown[]; array: boolean } {
  const reached = reach(doc, path.split('.'));
  const values: unknown[] = [];
  let array = false;
  for (const v of reached) {
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      array = true;
      continue; // its elements follow
    }
    values.push(v);
  }
  if (path.includes('.') && reach(doc, [path.split('.')[0]]).some(Array.isArray)) array = true;
  if (values.length === 0 && !array) return { missing: true };
  return { values, array: array || values.length > 1 };
}

function leafDetails(path: string, op: string, arg: unknown, specifiedAs: Doc, doc: Doc, inverted: boolean): Doc {
  const out: Doc = { operatorName: op, specifiedAs };
  const reason = (r: string) => (inverted ? (INVERTED[r] ?? r) : r);
  if (op === '$exists') {
    out.reason = reason(arg ? 'path does not exist' : 'path does exist');
    return out;
  }
  const c = considered(doc, path);
  if ('missing' in c) {
    out.reason = 'field was missing';
    return out;
  }
  out.reason = reason(op === '$type' ? 'type did not match' : (REASONS[op] ?? 'no match'));
  if (c.array) out.consideredValues = c.values;
  else out.consideredValue = c.values[0];
  if (op === '$type' && c.values.length) out.consideredType = typeName(c.values[0]);
  return out;
}

/** Clauses of a filter as MongoDB parses it: one per field operator, logical operator and $expr. */
function clauses(filter: Doc): Array<{ clause: Doc; details: (doc: Doc, inverted: boolean) => Doc }> {
  const out: Array<{ clause: Doc; details: (doc: Doc, inverted: boolean) => Doc }> = [];
  for (const [key, cond] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      const subs = Array.isArray(cond) ? cond.filter(isPlainObject) : [];
      out.push({ clause: { [key]: cond }, details: (doc, inv) => logicalDetails(key, subs, doc, inv) });
    } else if (key === '$expr') {
      out.push({
        clause: { $expr: cond },
        details: (_doc, inv) => ({ operatorName: '$expr', specifiedAs: { $expr: cond }, reason: inv ? 'expression did match' : 'expression did not match', expressionResult: inv }),
      });
    } else if (key.startsWith('$')) {
      out.push({ clause: { [key]: cond }, details: () => ({ operatorName: key, specifiedAs: { [key]: cond }, reason: 'no match' }) });
    } else if (isPlainObject(cond) && Object.keys(cond).length > 0 && Object.keys(cond)[0].startsWith('$')) {
      for (const [op, arg] of Object.entries(cond)) {
        if (op === '$options') continue;
        const specifiedAs = { [key]: op === '$regex' && '$options' in cond ? { $regex: arg, $options: cond.$options } : { [op]: arg } };
        if (op === '$not') {
          out.push({
            clause: specifiedAs,
            details: (doc, inv) => {
              const inner = isPlainObject(arg) ? clauses({ [key]: arg }) : [];
              const d = inner.length === 1 ? inner[0].details(doc, !inv) : { operatorName: '$regex', specifiedAs: { [key]: arg }, reason: 'regular expression did match' };
              return { operatorName: '$not', details: d };
            },
          });
        } else out.push({ clause: specifiedAs, details: (doc, inv) => leafDetails(key, op, arg, specifiedAs, doc, inv) });
      }
    } else {
      out.push({ clause: { [key]: cond }, details: (doc, inv) => leafDetails(key, '$eq', cond, { [key]: cond }, doc, inv) });
    }
  }
  return out;
}

const matches = (f: Doc, doc: Doc): boolean => compileFilter(f).test(doc);

function logicalDetails(op: string, subs: Doc[], doc: Doc, inverted: boolean): Doc {
  // $nor reports the clauses that matched; $and and $or those that did not (all of them, for $or).
  const wantMatching = op === '$nor' ? !inverted : inverted;
  const listed = subs
    .map((sub, index) => ({ sub, index }))
    .filter(({ sub }) => matches(sub, doc) === wantMatching)
    .map(({ sub, index }) => ({ index, details: filterDetails(sub, doc, wantMatching) }));
  return { operatorName: op, [wantMatching ? 'clausesSatisfied' : 'clausesNotSatisfied']: listed };
}

/** The details of why `doc` fails `filter` (or, inverted, why it matches). */
function filterDetails(filter: Doc, doc: Doc, inverted = false): Doc {
  const cs = clauses(filter);
  if (cs.length === 1) return cs[0].details(doc, inverted);
  const listed = cs
    .map((c, index) => ({ c, index }))
    .filter(({ c }) => matches(c.clause, doc) === inverted)
    .map(({ c, index }) => ({ index, details: c.details(doc, inverted) }));
  return { operatorName: '$and', [inverted ? 'clausesSatisfied' : 'clausesNotSatisfied']: listed };
}

export function validationErrorInfo(validator: Doc, doc: Doc): Doc {
  return { failingDocumentId: doc._id, details: filterDetails(validator, doc) };
}

// ---------------------------------------------------------------------------------------------------------

/** Validators compiled once per collection options object (collMod installs a new one). */
const compiledValidators = new WeakMap<Doc, Matcher>();

export interface ValidationTarget {
  readonly ns: string;
  readonly options: Doc;
}

/**
 * Checks a document about to be written. `before` is the current version for updates (moderate level skips
 * documents that already fail); `bypass` is the command's bypassDocumentValidation.
 */
/** Whether a write to `coll` is checked against a validator at all (so the document need not be decoded otherwise). */
export function validatorApplies(coll: ValidationTarget, bypass = false): boolean {
  const validator = coll.options.validator;
  if (!isPlainObject(validator) || Object.keys(validator).length === 0 || bypass) return false;
  return coll.options.validationLevel !== 'off';
}

export function validateDocument(coll: ValidationTarget, doc: Doc, opts: { before?: Doc; bypass?: boolean; logger?: WarnLogger } = {}): void {
  if (!validatorApplies(coll, opts.bypass === true)) return;
  const validator = coll.options.validator as Doc;
  const level = (coll.options.validationLevel as ValidationLevel | undefined) ?? 'strict';
  let matcher = compiledValidators.get(validator);
  if (!matcher) compiledValidators.set(validator, (matcher = compileFilter(validator)));
  if (matcher.test(doc)) return;
  if (level === 'moderate' && opts.before && !matcher.test(opts.before)) return;
  const errInfo = validationErrorInfo(validator, doc);
  if (coll.options.validationAction === 'warn') {
    // mongod logs the whole document; here it would put bank and ID numbers in the log: its _id and the rule suffice.
    const details = isPlainObject(errInfo.details) ? errInfo.details : {};
    opts.logger?.warn({ id: 20294, namespace: coll.ns, documentId: String(doc._id), operatorName: details.operatorName }, 'Document would fail validation');
    return;
  }
  throw new MongoServerError(ErrorCodes.DocumentValidationFailure, 'Document failed validation', { extra: { errInfo } });
}
