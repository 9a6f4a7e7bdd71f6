// Command-level `let` variables (aggregate, find, update, delete, findAndModify) and the system variables
// $$NOW and $$CLUSTER_TIME, as src/mongo/db/pipeline/variables.cpp defines them.
//
// `let` is checked and evaluated once, before any document is read: names must be valid user variable names
// (FailedToParse; NOW, CLUSTER_TIME, IS_MR, JS_SCOPE are internal constants, 4738901), values are aggregation
// expressions that may use the variables defined before them but no document field (4890500), and a reference to
// an undefined variable fails with 17276. Filters get the values substituted into their $expr (so the storage
// layer needs no variables), pipelines get them as mingo variables.
import { Timestamp } from 'bson';
import { evalExpr } from 'mingo/core';
import { CONTEXT } from './aggregation.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { exactValue } from './exact-values.ts';
import { typeName } from './value-strings.ts';
import { type Doc, bsonType, isPlainObject, toView } from './values.ts';

/** Variables by name, values in exact form. */
export type Vars = Record<string, unknown>;

const INTERNAL_CONSTANTS = new Set(['NOW', 'CLUSTER_TIME', 'IS_MR', 'JS_SCOPE', 'USER_ROLES', 'SEARCH_META']);
/** Variables every expression may read without defining them. */
const BUILTIN = new Set(['ROOT', 'CURRENT', 'REMOVE', 'NOW', 'CLUSTER_TIME', 'DESCEND', 'PRUNE', 'KEEP', 'USER_ROLES', 'SEARCH_META']);

const undefinedVariable = (name: string): MongoServerError =>
  new MongoServerError(ErrorCodes.Location17276, `Use of undefined variable: ${name}`, { codeName: 'Location17276' });

/** variableValidation::isValidNameForUserWrite. */
function checkName(name: string): void {
  if (INTERNAL_CONSTANTS.has(name)) {
    throw new MongoServerError(ErrorCodes.Location4738901, `Attempt to set internal constant: ${name}`, { codeName: 'Location4738901' });
  }
  const invalid = (why: string) => new MongoServerError(ErrorCodes.FailedToParse, `Invalid 'let' parameter :: caused by :: ${why}`);
  if (name === '') throw invalid('empty variable names are not allowed');
  if (name === 'CURRENT') return;
  const code = name.charCodeAt(0);
  if (!((code >= 0x61 && code <= 0x7a) || code >= 0x80)) throw invalid(`'${name}' starts with an invalid character for a user variable name`);
  for (const ch of name.slice(1)) {
    if (!/[a-zA-Z0-9_]/.test(ch) && ch.charCodeAt(0) < 0x80) {
      throw invalid(`'${name}' contains an invalid character for a variable name: '${ch}'`);
    }
  }
}

/** Names an operator binds for its sub-expressions ($let vars, $map/$filter `as`, $reduce this/value). */
function scopedBindings(op: string, arg: unknown): { names: string[]; scoped: string[] } | undefined {
  if (!isPlainObject(arg)) return undefined;
  switch (op) {
    case '$let':
      return { names: isPlainObject(arg.vars) ? Object.keys(arg.vars) : [], scoped: ['in'] };
    case '$map':
      return { names: [typeof arg.as === 'string' ? arg.as : 'this'], scoped: ['in'] };
    case '$filter':
      return { names: [typeof arg.as === 'string' ? arg.as : 'this'], scoped: ['cond'] };
    case '$reduce':
      return { names: ['this', 'value'], scoped: ['in'] };
    default:
      return undefined;
  }
}

/**
 * Walks an aggregation expression: `onVariable` sees every `$$name...` reference not bound by an enclosing
 * operator and may return a replacement; `onField` sees every field path. `$literal` is not entered.
 */
function walkExpr(
  expr: unknown,
  bound: Set<string>,
  onVariable: (name: string, rest: string, ref: string) => unknown,
  onField: (path: string) => void,
): unknown {
  if (typeof expr === 'string') {
    if (expr.startsWith('$$')) {
      const dot = expr.indexOf('.');
      const name = expr.slice(2, dot < 0 ? undefined : dot);
      if (bound.has(name)) return expr;
      return onVariable(name, dot < 0 ? '' : expr.slice(dot + 1), expr);
    }
    if (expr.startsWith('$')) onField(expr.slice(1));
    return expr;
  }
  if (Array.isArray(expr)) return expr.map((e) => walkExpr(e, bound, onVariable, onField));
  if (!isPlainObject(expr)) return expr;
  const keys = Object.keys(expr);
  if (keys.length === 1 && keys[0] === '$literal') return expr;
  const out: Doc = {};
  for (const k of keys) {
    const scope = scopedBindings(k, expr[k]);
    if (!scope) {
      out[k] = walkExpr(expr[k], bound, onVariable, onField);
      continue;
    }
    const arg = expr[k] as Doc;
    const inner = new Set([...bound, ...scope.names]);
    const sub: Doc = {};
    for (const [ak, av] of Object.entries(arg)) {
      if (k === '$let' && ak === 'vars' && isPlainObject(av)) {
        sub.vars = Object.fromEntries(Object.entries(av).map(([n, v]) => [n, walkExpr(v, bound, onVariable, onField)]));
      } else sub[ak] = walkExpr(av, scope.scoped.includes(ak) ? inner : bound, onVariable, onField);
    }
    out[k] = sub;
  }
  return out;
}

/** A Timestamp for $$CLUSTER_TIME: the current second (the engine's cluster time runs on wall-clock seconds). */
export const clusterTimeNow = (): Timestamp => new Timestamp({ t: Math.floor(Date.now() / 1000), i: 1 });

/** The variables mingo gets: the command's, in view form, plus CLUSTER_TIME ($$NOW is mingo's own). */
export function mingoVariables(vars: Vars | undefined): Doc {
  const out: Doc = { CLUSTER_TIME: clusterTimeNow() };
  for (const [k, v] of Object.entries(vars ?? {})) out[k] = toView(v);
  return out;
}

/** Parses and evaluates a command's `let`; undefined when absent or null. */
export function parseLet(arg: unknown, command: string): Vars | undefined {
  if (arg === undefined || arg === null) return undefined;
  if (!isPlainObject(arg)) {
    throw new MongoServerError(ErrorCodes.TypeMismatch, `BSON field '${command}.let' is the wrong type '${typeName(arg)}', expected type 'object'`);
  }
  const vars: Vars = {};
  for (const [name, value] of Object.entries(arg)) {
    checkName(name);
    let usesOperators = false;
    walkExpr(
      value,
      new Set(),
      (v, _rest, ref) => {
        usesOperators = true;
        if (v === 'ROOT' || v === 'CURRENT') {
          throw new MongoServerError(
            ErrorCodes.Location4890500,
            'Command let Expression tried to access a field, but this is not allowed because command let expressions run before the query examines any documents.',
            { codeName: 'Location4890500' },
          );
        }
        if (!BUILTIN.has(v) && !(v in vars)) throw undefinedVariable(v);
        return ref;
      },
      () => {
        throw new MongoServerError(
          ErrorCodes.Location4890500,
          'Command let Expression tried to access a field, but this is not allowed because command let expressions run before the query examines any documents.',
          { codeName: 'Location4890500' },
        );
      },
    );
    if (JSON.stringify(toView(value) ?? null).includes('"$')) usesOperators = true;
    if (!usesOperators) {
      vars[name] = value; // a constant keeps its exact type (Decimal128 stays Decimal128)
      continue;
    }
    let result: unknown;
    try {
      result = evalExpr({}, toView(value), { context: CONTEXT, variables: mingoVariables(vars), scriptEnabled: false } as never);
    } catch (err) {
      if (err instanceof MongoServerError) throw err;
      throw new MongoServerError(ErrorCodes.BadValue, `Invalid 'let' parameter '${name}': ${(err as Error).message}`);
    }
    vars[name] = result === undefined ? null : exactValue(result);
  }
  return vars;
}

/**
 * An aggregation expression with the command's variables and the system constants put in as literals:
 * `$$name` becomes `{$literal: value}` and `$$name.path` a `$let` over that literal. Undefined variables fail
 * with 17276, as the server does when it parses the expression.
 */
export function bindExpression(expr: unknown, vars: Vars | undefined, now: Date): unknown {
  return walkExpr(
    expr,
    new Set(),
    (name, rest, ref) => {
      let value: unknown;
      if (vars && name in vars) value = vars[name];
      else if (name === 'NOW') value = now;
      else if (name === 'CLUSTER_TIME') value = clusterTimeNow();
      else if (BUILTIN.has(name)) return ref;
      else throw undefinedVariable(name);
      const literal = { $literal: value };
      return rest ? { $let: { vars: { v: literal }, in: `$$v.${rest}` } } : literal;
    },
    () => {},
  );
}

/** A filter whose $expr clauses (top level, or inside $and/$or/$nor) have the variables bound. */
export function bindFilter<T extends Doc | undefined | null>(filter: T, vars: Vars | undefined, now = new Date()): T {
  if (!isPlainObject(filter) || !JSON.stringify(toView(filter) ?? null).includes('"$expr"')) return filter;
  const bind = (f: Doc): Doc => {
    const out: Doc = {};
    for (const [k, v] of Object.entries(f)) {
      if (k === '$expr') out[k] = bindExpression(v, vars, now);
      else if ((k === '$and' || k === '$or' || k === '$nor') && Array.isArray(v)) out[k] = v.map((c) => (isPlainObject(c) ? bind(c) : c));
      else out[k] = v;
    }
    return out;
  };
  return bind(filter) as T;
}

/** Whether a value is an exact numeric wrapper (kept as is where an expression only passes it through). */
export const isNumericWrapper = (v: unknown): boolean => ['Int32', 'Double', 'Long', 'Decimal128'].includes(bsonType(v) ?? '');
