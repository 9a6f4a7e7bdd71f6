// Validation and canonical form of workflow definitions. The canonical form (fixed key order, no absent
// optional fields, duplicates removed) is what gets stored and hashed, so "same content" means the same
// digest however the caller spelled the object.
import { createHash } from 'node:crypto';
import { isRole } from '../identity.ts';
import type { Role } from '../identity.ts';
import { WorkflowError } from './errors.ts';
import type { AssigneeRule, Condition, Escalation, StageDefinition, StepDefinition } from './types.ts';

export interface DefinitionContent {
  key: string;
  name: string;
  stages: StageDefinition[];
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Nested all/any conditions deeper than this are a mistake, not a route. */
const MAX_CONDITION_DEPTH = 8;

function bad(message: string): never {
  throw new WorkflowError('BAD_USER_INPUT', message);
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) bad(`${where} must be an object`);
  return value as Record<string, unknown>;
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) bad(`${where} must be a non-empty list`);
  return value as unknown[];
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') bad(`${where} must be a non-empty string`);
  return value as string;
}

function identifier(value: unknown, where: string): string {
  if (typeof value !== 'string' || !KEY.test(value)) bad(`${where} must be 1-64 letters, digits, '.', '_' or '-'`);
  return value as string;
}

function role(value: unknown, where: string): Role {
  if (!isRole(value)) bad(`${where}: unknown role ${JSON.stringify(value)}`);
  return value as Role;
}

function texts(value: unknown, where: string): string[] {
  return [...new Set(list(value, where).map((v, i) => text(v, `${where}[${i}]`)))];
}

function assigneeRule(value: unknown, where: string): AssigneeRule {
  const r = record(value, where);
  switch (r.kind) {
    case 'departmentManager':
    case 'managerOfManager':
      return { kind: r.kind };
    case 'role':
      return { kind: 'role', role: role(r.role, `${where}.role`) };
    case 'employees':
      return { kind: 'employees', ids: texts(r.ids, `${where}.ids`) };
    default:
      return bad(`${where}: unknown assignee rule ${JSON.stringify(r.kind)}`);
  }
}

function condition(value: unknown, where: string, depth = 0): Condition {
  if (depth > MAX_CONDITION_DEPTH) bad(`${where}: conditions nest too deep`);
  const c = record(value, where);
  switch (c.kind) {
    case 'amountAbove':
      // Money is integer fen; a fractional threshold would compare against amounts that cannot exist.
      if (!Number.isSafeInteger(c.fen) || (c.fen as number) < 0) bad(`${where}.fen must be a non-negative integer amount in fen`);
      return { kind: 'amountAbove', fen: c.fen as number };
    case 'categoryIn':
      return { kind: 'categoryIn', categories: texts(c.categories, `${where}.categories`) };
    case 'all':
    case 'any':
      return { kind: c.kind, conditions: list(c.conditions, `${where}.conditions`).map((x, i) => condition(x, `${where}.conditions[${i}]`, depth + 1)) };
    default:
      return bad(`${where}: unknown condition ${JSON.stringify(c.kind)}`);
  }
}

function escalation(value: unknown, where: string): Escalation {
  const e = record(value, where);
  if (e.kind === 'nextManager') return { kind: 'nextManager' };
  if (e.kind === 'role') return { kind: 'role', role: role(e.role, `${where}.role`) };
  return bad(`${where}: unknown escalation ${JSON.stringify(e.kind)}`);
}

function step(value: unknown, where: string): StepDefinition {
  const s = record(value, where);
  if (s.mode !== 'ANY' && s.mode !== 'ALL') bad(`${where}.mode must be ANY or ALL`);
  const out: StepDefinition = {
    key: identifier(s.key, `${where}.key`),
    name: text(s.name, `${where}.name`),
    mode: s.mode as 'ANY' | 'ALL',
    assignees: list(s.assignees, `${where}.assignees`).map((r, i) => assigneeRule(r, `${where}.assignees[${i}]`)),
  };
  if (s.when !== undefined) out.when = condition(s.when, `${where}.when`);
  if (s.timeLimitHours !== undefined) {
    const h = s.timeLimitHours;
    if (typeof h !== 'number' || !Number.isFinite(h) || h <= 0) bad(`${where}.timeLimitHours must be a positive number`);
    out.timeLimitHours = h as number;
  }
  if (s.escalation !== undefined) out.escalation = escalation(s.escalation, `${where}.escalation`);
  return out;
}

/** Checks a definition and returns its canonical form. @throws WorkflowError('BAD_USER_INPUT') naming the bad field. */
export function normalizeDefinition(input: unknown): DefinitionContent {
  const d = record(input, 'definition');
  const key = identifier(d.key, 'key');
  const name = text(d.name, 'name');
  const seen = new Set<string>();
  const stages = list(d.stages, 'stages').map((stage, i) => {
    const steps = list(record(stage, `stages[${i}]`).steps, `stages[${i}].steps`).map((s, j) => step(s, `stages[${i}].steps[${j}]`));
    for (const s of steps) {
      if (seen.has(s.key)) bad(`step key "${s.key}" is used more than once`);
      seen.add(s.key);
    }
    return { steps };
  });
  return { key, name, stages };
}

export function definitionDigest(content: DefinitionContent): string {
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

/** Stored definitions are shared by every instance of their version; freezing keeps a caller from editing one. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof Date)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
