// The audit trail as GraphQL (schema/operations.graphql): auditLog and verifyAuditLog for the roles
// schema/permissions.ts allows (ADMIN, AUDITOR), recordAudit for service identities, which record under their own
// name as source (the gateway as `gateway`).
// Merged into the operations resolvers (../resolvers.ts):
//   const audit = auditResolvers((ctx) => auditTrailFor(ctx.connection));
//   Query: { ...audit.Query }, Mutation: { ...audit.Mutation }
import { forbidden } from '../../../platform/graphql.ts';
import { rolesFor } from '../../../schema/permissions.ts';
import { type OperationsContext, requireRole } from '../context.ts';
import type { MutationResolvers, QueryResolvers } from '../generated/graphql.ts';
import { type AuditTrail, isAuditSource } from './trail.ts';

const ROLES = { auditLog: rolesFor('Query', 'auditLog'), verifyAuditLog: rolesFor('Query', 'verifyAuditLog') };

export interface AuditResolvers {
  Query: Required<Pick<QueryResolvers, 'auditLog' | 'verifyAuditLog'>>;
  Mutation: Required<Pick<MutationResolvers, 'recordAudit'>>;
}

export function auditResolvers(trailOf: (ctx: OperationsContext) => AuditTrail): AuditResolvers {
  return {
    Query: {
      auditLog: async (_, args, ctx) => {
        // Defence in depth: the gateway's shield already allowed only these roles.
        requireRole(ctx, ROLES.auditLog);
        const { first, after, ...filters } = args;
        return trailOf(ctx).list(filters, first, after);
      },
      verifyAuditLog: async (_, __, ctx) => {
        requireRole(ctx, ROLES.verifyAuditLog);
        return trailOf(ctx).verify();
      },
    },
    Mutation: {
      recordAudit: async (_, args, ctx) => {
        // Defence in depth: the shield allows service identities only; a request signed otherwise stops here too.
        if (ctx.principal.kind !== 'service') throw forbidden('recordAudit is for service identities');
        const source = ctx.principal.sub;
        if (!isAuditSource(source)) throw forbidden(`service ${JSON.stringify(source.slice(0, 40))} does not record audit entries`);
        // Invalid entries are refused alone; the count of those accepted (stored now, or before under their request
        // id) tells the gateway how many were refused.
        const { stored, duplicates } = await trailOf(ctx).append(args.entries, source);
        return stored + duplicates;
      },
    },
  };
}
