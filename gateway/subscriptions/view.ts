// Which subscribers see the same thing: the key under which subscribers share one read of the event log
// (stream.ts). Sharing is safe only between identities whose reads cannot differ, so the key keeps everything the
// permission model decides with (docs/domain.md#roles, schema/permissions.ts):
// - the kind of identity, its roles and its department, always;
// - its subject (`sub`) too, unless the subject cannot matter: a user whose roles read *all* rows of every
//   row-scoped type (ROW_SCOPES: claims, vouchers, archive records, sync events, feedback: no filter by applicant,
//   department, assignment or sender) and whose selection holds no sensitive field (decided per record against the subject: an owner
//   sees their own bank account in full).
// 1,000 AUDITORs with one dashboard are then one read per event. 1,000 employees keep a view each (each sees their
// own), but an event announced as another's claim's makes none of them read (feeds.ts `audience`, stream.ts
// waitForConcern): one approval, one read.
import { type DocumentNode, visit } from 'graphql';
import type { Principal } from '../../platform/identity.ts';
import { PERMISSIONS, ROW_SCOPES } from '../../schema/permissions.ts';

/** Names of every sensitive field of any type (Employee.phone, idNumber, bankAccount). */
const SENSITIVE_FIELDS: ReadonlySet<string> = new Set(
  Object.values(PERMISSIONS).flatMap((rules) => Object.entries(rules.fields ?? {}).flatMap(([field, rule]) => (rule.kind === 'sensitive' ? [field] : []))),
);

/** Whether the identity reads every row of every row-scoped type: what it sees does not depend on who it is. */
export function readsAllRows(principal: Principal): boolean {
  return principal.kind === 'user' && Object.values(ROW_SCOPES).every((scope) => scope.all.some((role) => principal.roles.includes(role)));
}

/** Whether the document selects a field of that name anywhere (fragments included): compared by name, so never too few. */
export function selectsSensitiveField(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (SENSITIVE_FIELDS.has(node.name.value)) found = true;
    },
  });
  return found;
}

/** The permission view of a subscriber for a document: equal keys, equal reads. */
export function viewKey(principal: Principal | null, document: DocumentNode): string {
  if (!principal) return 'anonymous';
  const base = `${principal.kind}:${[...principal.roles].sort().join(',')}:${principal.departmentId ?? ''}`;
  return readsAllRows(principal) && !selectsSensitiveField(document) ? `${base}:*` : `${base}:${principal.sub}`;
}
