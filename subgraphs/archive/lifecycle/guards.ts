// Checks at the entry of every lifecycle service function: who may call it, and the free text it takes.
import { badInput, forbidden } from '../../../platform/graphql.ts';
import { type Principal, type Role, hasAnyRole } from '../../../platform/identity.ts';

export function requireRole(p: Principal, roles: readonly Role[], what: string): void {
  if (!hasAnyRole(p, roles)) throw forbidden(`${what} is for ${roles.join(' or ')}`);
}

export function requireUser(p: Principal, what: string): void {
  if (p.kind !== 'user' || !p.sub) throw forbidden(`${what} needs an employee's identity`);
}

/** Trimmed text of 1..max characters, or BAD_USER_INPUT naming the field. */
export function text(value: unknown, field: string, max: number): string {
  const s = typeof value === 'string' ? value.trim() : '';
  if (!s || s.length > max) throw badInput(`${field} must be 1 to ${max} characters`, field);
  return s;
}
