// The API-key fields of schema/sync.graphql: ADMIN manages keys; the gateway (a service identity) checks one.
import { forbidden } from '../../../platform/graphql.ts';
import { API_SCOPE_OF_ENUM, apiScopeEnum } from '../../../platform/identity.ts';
import { rolesFor } from '../../../schema/permissions.ts';
import { type SyncContext, requireRole } from '../context.ts';
import type { ApiKeyScope, MutationResolvers, QueryResolvers } from '../generated/graphql.ts';
import type { ApiKeyPrincipalView, ApiKeyView } from './service.ts';

// The API's enum values (schema/sync.graphql, ApiKeyScope) and the scopes they stand for: platform/identity.ts.
const shown = <T extends ApiKeyView | ApiKeyPrincipalView>(v: T) => ({ ...v, scopes: v.scopes.map(apiScopeEnum) });

const ROLES = {
  apiKeys: rolesFor('Query', 'apiKeys'),
  createApiKey: rolesFor('Mutation', 'createApiKey'),
  rotateApiKey: rolesFor('Mutation', 'rotateApiKey'),
  revokeApiKey: rolesFor('Mutation', 'revokeApiKey'),
};

export const apiKeyQueries: Pick<QueryResolvers<SyncContext>, 'apiKeys' | 'apiKeyPrincipal'> = {
  apiKeys: async (_, args, ctx) => {
    requireRole(ctx, ROLES.apiKeys);
    return (await ctx.apiKeys.list(args.includeRevoked === true)).map(shown);
  },
  apiKeyPrincipal: async (_, args, ctx) => {
    if (ctx.principal.kind !== 'service') throw forbidden('apiKeyPrincipal is for service identities');
    const p = await ctx.apiKeys.principal(args.id, args.keyHash);
    return p && shown(p);
  },
};

export const apiKeyMutations: Pick<MutationResolvers<SyncContext>, 'createApiKey' | 'rotateApiKey' | 'revokeApiKey'> = {
  createApiKey: async (_, { input }, ctx) => {
    requireRole(ctx, ROLES.createApiKey);
    const made = await ctx.apiKeys.create(
      { name: input.name, scopes: input.scopes.map((s: ApiKeyScope) => API_SCOPE_OF_ENUM[s]), rateLimitPerMinute: input.rateLimitPerMinute, expiresAt: input.expiresAt ?? null },
      ctx.principal.sub,
    );
    return { apiKey: shown(made.apiKey), key: made.key };
  },
  rotateApiKey: async (_, args, ctx) => {
    requireRole(ctx, ROLES.rotateApiKey);
    const made = await ctx.apiKeys.rotate(args.id, args.overlapSeconds ?? 86_400, ctx.principal.sub);
    return { apiKey: shown(made.apiKey), key: made.key };
  },
  revokeApiKey: async (_, args, ctx) => {
    requireRole(ctx, ROLES.revokeApiKey);
    return shown(await ctx.apiKeys.revoke(args.id, ctx.principal.sub));
  },
};
