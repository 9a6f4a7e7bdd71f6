// The audit trail (issue 7 §4): the hash-chained log and its resolvers.
export { AUDIT_SOURCES, type AuditEntryInput, type AuditSource, AuditTrail, auditDigest, auditTrailFor } from './trail.ts';
export { auditResolvers } from './resolvers.ts';
