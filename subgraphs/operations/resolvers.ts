// Resolvers of the operations fields (schema/operations.graphql): system status and its history, alerts, the audit trail, sync
// statistics, users' feedback and the gateways' reports. Served by the sync subgraph beside the sync resolvers; the scalars and
// SyncStatus are resolved there.
import { badInput, forbidden } from '../../platform/graphql.ts';
import { callerMayUse, rolesFor } from '../../schema/permissions.ts';
import { ruleViews } from './alerts/rules.ts';
import { auditResolvers, auditTrailFor } from './audit/index.ts';
import { requireRole } from './context.ts';
import { feedbackResolvers as feedback } from './feedback/resolvers.ts';
import type { Resolvers } from './generated/graphql.ts';
import { historyRange, statusHistory } from './status-history/history.ts';
import { statusSampleModel } from './status-history/models.ts';
import { systemStatus } from './system-status.ts';

const idOf = (d: { _id: { toHexString(): string } }) => d._id.toHexString();

// The roles of each role-gated field, read once at start-up (rolesFor throws when a field is no longer role-gated).
const ROLES = {
  systemStatus: rolesFor('Query', 'systemStatus'),
  systemStatusHistory: rolesFor('Query', 'systemStatusHistory'),
  alerts: rolesFor('Query', 'alerts'),
  alertEvents: rolesFor('Query', 'alertEvents'),
  alertRules: rolesFor('Query', 'alertRules'),
  syncStatistics: rolesFor('Query', 'syncStatistics'),
  acknowledgeAlert: rolesFor('Mutation', 'acknowledgeAlert'),
  resolveAlert: rolesFor('Mutation', 'resolveAlert'),
  runAlertAction: rolesFor('Mutation', 'runAlertAction'),
};

const audit = auditResolvers((ctx) => auditTrailFor(ctx.connection));

export const resolvers: Resolvers = {
  Query: {
    ...audit.Query,
    ...feedback.Query,
    systemStatus: async (_, __, ctx) => {
      requireRole(ctx, ROLES.systemStatus);
      return systemStatus(ctx.statusSources);
    },

    systemStatusHistory: async (_, args, ctx) => {
      requireRole(ctx, ROLES.systemStatusHistory);
      return statusHistory(statusSampleModel(ctx.connection), historyRange(args));
    },

    alerts: async (_, args, ctx) => {
      requireRole(ctx, ROLES.alerts);
      return ctx.alerts.list(args.status, args.first ?? 50, args.after);
    },

    alertEvents: async (_, args, ctx) => {
      requireRole(ctx, ROLES.alertEvents);
      return ctx.alerts.raisedAfter(args.after, args.first ?? 100);
    },

    syncStatistics: async (_, args, ctx) => {
      // Reporting tools may read it with an API key of scope reports:read (schema/permissions.ts, INTEGRATION).
      if (!callerMayUse(ctx.principal, 'Query', 'syncStatistics')) requireRole(ctx, ROLES.syncStatistics);
      return ctx.sync.monitor.statistics(ctx.sync.timeZone, args.from, args.to);
    },

    alertRules: async (_, __, ctx) => {
      requireRole(ctx, ROLES.alertRules);
      return ruleViews(ctx.monitor.settings);
    },
  },

  Mutation: {
    ...audit.Mutation,
    ...feedback.Mutation,
    acknowledgeAlert: async (_, args, ctx) => {
      requireRole(ctx, ROLES.acknowledgeAlert);
      return ctx.alerts.acknowledge(args.id, ctx.principal.sub);
    },

    resolveAlert: async (_, args, ctx) => {
      requireRole(ctx, ROLES.resolveAlert);
      return ctx.alerts.resolve(args.id, ctx.principal.sub, args.resolution);
    },

    runAlertAction: async (_, args, ctx) => {
      requireRole(ctx, ROLES.runAlertAction);
      return ctx.alerts.runAction(args.id, ctx.principal.sub, args.kind);
    },

    reportGateway: async (_, args, ctx) => {
      if (ctx.principal.kind !== 'service') throw forbidden('Gateways report with a service identity');
      const { id, openSubscriptions } = args.input;
      if (!/^[\w.:-]{1,100}$/.test(id)) throw badInput('id must be 1 to 100 letters, digits, dots, colons or dashes', 'id');
      if (!Number.isInteger(openSubscriptions) || openSubscriptions < 0) throw badInput('openSubscriptions must be a non-negative integer', 'openSubscriptions');
      await ctx.ops.GatewayInstance.updateOne({ _id: id }, { $set: { openSubscriptions, seenAt: new Date() } }, { upsert: true });
      return true;
    },
  },

  Alert: {
    id: idOf,
    actions: (a) => a.actions ?? [],
  },

  Feedback: feedback.Feedback,
  FeedbackConnection: feedback.FeedbackConnection,
};
