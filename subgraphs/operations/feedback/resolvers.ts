// Feedback as GraphQL (schema/operations.graphql): sendFeedback for any signed-in user, myFeedback for their own,
// feedback, tagFeedback, closeFeedback and reopenFeedback for the operators as schema/permissions.ts says,
// feedbackItem row-scoped (ROW_SCOPES.Feedback; an API key of scope feedback:read reads any). Merged into the
// operations resolvers (../resolvers.ts).
import { type Principal, type Role } from '../../../platform/identity.ts';
import { ROW_SCOPES, callerMayUse, readsAllRows, rolesFor } from '../../../schema/permissions.ts';
import { type OperationsContext, requireRole } from '../context.ts';
import type { FeedbackResolvers as FeedbackTypeResolvers, FeedbackConnectionResolvers, MutationResolvers, QueryResolvers } from '../generated/graphql.ts';
import type { FeedbackDoc } from './models.ts';

const ROLES = {
  feedback: rolesFor('Query', 'feedback'),
  tagFeedback: rolesFor('Mutation', 'tagFeedback'),
  closeFeedback: rolesFor('Mutation', 'closeFeedback'),
  reopenFeedback: rolesFor('Mutation', 'reopenFeedback'),
};

/**
 * Whether the caller may follow the feedback's reference to its claim or record: the sender (who could read it when
 * sending), or whoever that entity's row scope (ROW_SCOPES) covers by its owner. Otherwise null without an error, as
 * SyncEvent's references (ADMIN reads all feedback, but no claim).
 */
function mayFollow(p: Principal, entity: 'ExpenseClaim' | 'ArchiveRecord', f: FeedbackDoc): boolean {
  if (readsAllRows(p, entity)) return true;
  if (p.kind !== 'user') return false;
  if (f.senderId === p.sub) return true;
  const owner = entity === 'ExpenseClaim' ? f.claimOwner : f.recordOwner;
  if (!owner?.applicantId) return false;
  if (owner.applicantId === p.sub) return true;
  const department: readonly Role[] = ROW_SCOPES[entity].department;
  return p.departmentId !== null && owner.departmentId === p.departmentId && department.some((r) => p.roles.includes(r));
}

export interface FeedbackResolvers {
  Query: Required<Pick<QueryResolvers, 'feedback' | 'feedbackItem' | 'myFeedback'>>;
  Mutation: Required<Pick<MutationResolvers, 'sendFeedback' | 'tagFeedback' | 'closeFeedback' | 'reopenFeedback'>>;
  Feedback: FeedbackTypeResolvers;
  FeedbackConnection: FeedbackConnectionResolvers;
}

export const feedbackResolvers: FeedbackResolvers = {
  Query: {
    feedback: async (_, args, ctx) => {
      requireRole(ctx, ROLES.feedback);
      return ctx.feedback.list(args);
    },
    // Row-scoped: the caller's own, any for the operators and for an API key of scope feedback:read.
    feedbackItem: async (_, args, ctx) => {
      if (ctx.principal.kind === 'integration' && !callerMayUse(ctx.principal, 'Query', 'feedbackItem')) return null;
      return ctx.feedback.visible(ctx.principal, args.id);
    },
    myFeedback: async (_, args, ctx) => ctx.feedback.mine(ctx.principal, args),
  },

  Mutation: {
    sendFeedback: async (_, args, ctx) => ctx.feedback.send(ctx.principal, args.input),
    tagFeedback: async (_, args, ctx) => {
      requireRole(ctx, ROLES.tagFeedback);
      return ctx.feedback.tag(args.id, args.tags, ctx.principal.sub);
    },
    closeFeedback: async (_, args, ctx) => {
      requireRole(ctx, ROLES.closeFeedback);
      return ctx.feedback.close(args.id, ctx.principal.sub, args.resolution);
    },
    reopenFeedback: async (_, args, ctx) => {
      requireRole(ctx, ROLES.reopenFeedback);
      return ctx.feedback.reopen(args.id, ctx.principal.sub);
    },
  },

  Feedback: {
    id: (f) => f._id.toHexString(),
    sender: (f) => ({ id: f.senderId }),
    claim: (f, _, ctx: OperationsContext) => (f.claimId && mayFollow(ctx.principal, 'ExpenseClaim', f) ? { id: f.claimId } : null),
    archiveRecord: (f, _, ctx: OperationsContext) => (f.archiveRecordId && mayFollow(ctx.principal, 'ArchiveRecord', f) ? { id: f.archiveRecordId } : null),
    history: (f) => f.history ?? [],
  },

  FeedbackConnection: {
    totalCount: (c) => c.countTotal(),
  },
};
