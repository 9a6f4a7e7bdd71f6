// graphql-shield rules built from the permission model in schema/permissions.ts, applied to the executable
// supergraph. Every field of every object type gets the rule the model gives it, or `deny` (fail closed).
// Rules depend only on the caller (cached per request) except sensitive fields, which also depend on whose
// record it is and are decided per parent object.
import { GraphQLError, type GraphQLSchema, isIntrospectionType, isObjectType } from 'graphql';
import type * as GraphqlMiddleware from 'graphql-middleware';
import { createRequire } from 'node:module';
import util from 'node:util';
import type * as GraphqlShield from 'graphql-shield';
import type { Principal, RequestOrigin } from '../platform/identity.ts';
import { type ApiScope, type FieldRule, maskValue, ruleFor, scopesGranting, sensitiveAccess } from '../schema/permissions.ts';
import type { DirectoryEntry } from './auth.ts';

export interface PermissionContext {
  principal: Principal | null;
  /** The directory, to tell whether an employee is in the caller's department (cached by the authenticator). */
  directory: (sub: string) => Promise<DirectoryEntry | null>;
  /** The client request (id, address, operationName): signed into every subgraph call it makes. */
  origin?: RequestOrigin;
}

// graphql-shield 7.6.5 (its latest release) imports util.isUndefined, which Node 23 removed: its ES module build
// fails to link on Node 24. The CommonJS build reads the function only when chain() or race() run, so it is
// loaded instead, with the one-line function restored for those two rules. graphql-middleware comes from the
// same CommonJS world: it recognises the shield's middleware generator by class identity.
const legacyUtil = util as typeof util & { isUndefined?: (v: unknown) => boolean };
legacyUtil.isUndefined ??= (v: unknown) => v === undefined;
const requireCjs = createRequire(import.meta.url);
const { rule, shield } = requireCjs('graphql-shield') as typeof GraphqlShield;
const { applyMiddleware } = requireCjs('graphql-middleware') as typeof GraphqlMiddleware;
type IRule = GraphqlShield.IRule;

const unauthenticated = () => new GraphQLError('Authentication required', { extensions: { code: 'UNAUTHENTICATED' } });
const forbidden = (what: string) => new GraphQLError(`Not allowed: ${what}`, { extensions: { code: 'FORBIDDEN' } });

/** Types that belong to federation's plumbing, not to the public graph. */
const INTERNAL_TYPES = new Set(['_Service', '_Entity', '_Any']);

/** An object type of the public graph (the shield has rules for it), not introspection's or federation's plumbing. */
export const isPublicObjectType = (t: unknown): t is import('graphql').GraphQLObjectType =>
  isObjectType(t) && !isIntrospectionType(t) && !INTERNAL_TYPES.has(t.name) && !t.name.startsWith('join__') && !t.name.startsWith('link__');

export function publicObjectTypes(schema: GraphQLSchema) {
  return Object.values(schema.getTypeMap()).filter(isPublicObjectType);
}

// One rule object per distinct FieldRule and set of scopes granting it to API keys, shared by every field with that
// pair, and its decision is cached per request: so its message must not name a field (it would name whichever
// field was checked first).
function shieldRule(r: FieldRule, granting: readonly ApiScope[], where: string, made: Map<string, IRule>): IRule {
  const key = `${JSON.stringify(r)}|${granting.join(',')}`;
  const existing = made.get(key);
  if (existing) return existing;
  // An integration (API key) is allowed only what INTEGRATION grants its scopes (schema/permissions.ts); never a
  // service-only or sensitive field, whatever a scope lists.
  const integration = (p: Principal): true | GraphQLError =>
    r.kind !== 'services' && r.kind !== 'sensitive' && granting.some((s) => p.scopes?.includes(s))
      ? true
      : forbidden(granting.length && r.kind !== 'services' && r.kind !== 'sensitive' ? `this field needs the API key scope ${granting.join(' or ')}` : 'this field is not for API keys');
  let decide: (p: Principal) => true | GraphQLError;
  switch (r.kind) {
    case 'authenticated':
    case 'sensitive': // decided per record by the masking middleware below
      decide = () => true;
      break;
    case 'services':
      decide = (p) => (p.kind === 'service' ? true : forbidden('this field is for service identities'));
      break;
    case 'roles':
      decide = (p) => ((r.services && p.kind === 'service') || r.roles.some((role) => p.roles.includes(role)) ? true : forbidden(`this field is for ${r.roles.join(', ')}`));
      break;
    default:
      decide = () => forbidden(where);
  }
  const out = rule(key, { cache: 'contextual' })((_p, _a, ctx: PermissionContext) => {
    const p = ctx.principal;
    if (!p) return unauthenticated();
    return p.kind === 'integration' ? integration(p) : decide(p);
  });
  made.set(key, out);
  return out;
}

/** The department of a record's owner, from the directory (cached by the authenticator). */
const departmentFrom = (ctx: PermissionContext) => async (owner: string) => (await ctx.directory(owner))?.departmentId;

type Masking = Record<string, Record<string, (resolve: (...a: unknown[]) => unknown, parent: { id?: string }, args: unknown, ctx: PermissionContext, info: unknown) => Promise<unknown>>>;

/** The masking of sensitive fields, decided per record (full, masked or refused) from the caller and the owner. */
function maskingOf(schema: GraphQLSchema): Masking {
  const masking: Masking = {};
  for (const type of publicObjectTypes(schema)) {
    for (const field of Object.keys(type.getFields())) {
      const r = ruleFor(type.name, field);
      const where = `${type.name}.${field}`;
      if (r?.kind !== 'sensitive') continue;
      (masking[type.name] ??= {})[field] = async (resolve, parent, args, ctx, info) => {
        const access = await sensitiveAccess(r, parent?.id, ctx.principal, departmentFrom(ctx));
        if (access === 'forbidden') throw forbidden(`${where} is a sensitive field`);
        const value = await resolve(parent, args, ctx, info);
        return access === 'masked' && typeof value === 'string' ? maskValue(value) : value;
      };
    }
  }
  return masking;
}

/** Applies the permission model to the schema: shield for every field, masking for sensitive ones. */
export function applyPermissions(schema: GraphQLSchema): GraphQLSchema {
  const made = new Map<string, IRule>();
  const tree: Record<string, Record<string, IRule>> = {};
  for (const type of publicObjectTypes(schema)) {
    for (const field of Object.keys(type.getFields())) {
      const r = ruleFor(type.name, field);
      if (!r) continue; // no rule: shield's fallback denies it
      (tree[type.name] ??= {})[field] = shieldRule(r, scopesGranting(type.name, field), `${type.name}.${field}`, made);
    }
  }
  const permissions = shield(tree, {
    fallbackRule: rule('deny-unlisted')(() => forbidden('this field has no permission rule')),
    allowExternalErrors: true,
    // The stitched schema's own fields (__typename) are always allowed.
    fallbackError: () => forbidden('this field has no permission rule'),
  });
  return applyMiddleware(schema, permissions, maskingOf(schema) as never);
}

/**
 * The schema for operations whose every field the caller may read by the caller-only rules
 * (gateway/operation-rules.ts): masking of sensitive fields only, no shield.
 */
export function applyMaskingOnly(schema: GraphQLSchema): GraphQLSchema {
  return applyMiddleware(schema, maskingOf(schema) as never);
}
