// Defence in depth: the oa subgraph decides the sensitive Employee fields (phone, idNumber, bankAccount) itself,
// per record, by the same rule the gateway applies (schema/permissions.ts: sensitiveAccess, maskValue), so a user
// identity used on the oa port directly never gets more than the gateway would give it. Service identities
// (gateway directory lookups, sync, archive) read them in full.
import { forbidden } from '../../platform/graphql.ts';
import { maskValue, sensitiveAccess, sensitiveFields } from '../../schema/permissions.ts';
import type { OaContext } from './context.ts';
import type { EmployeeDoc } from './models.ts';

type FieldResolver = (e: EmployeeDoc, args: unknown, ctx: OaContext) => Promise<string | null>;

/** Resolvers for every field schema/permissions.ts marks sensitive on Employee. */
export function sensitiveEmployeeFields(): Record<string, FieldResolver> {
  const out: Record<string, FieldResolver> = {};
  for (const [field, rule] of sensitiveFields('Employee')) {
    out[field] = async (e, _args, ctx) => {
      const value = (e as unknown as Record<string, unknown>)[field];
      const text = typeof value === 'string' ? value : null;
      if (ctx.principal.kind === 'service') return text;
      const access = await sensitiveAccess(rule, e._id.toHexString(), ctx.principal, () => String(e.departmentId));
      if (access === 'forbidden') throw forbidden(`Not allowed: Employee.${field} is a sensitive field`);
      return access === 'masked' && text !== null ? maskValue(text) : text;
    };
  }
  return out;
}
