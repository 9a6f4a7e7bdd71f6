// Which subscribers see the same thing: the key under which subscribers share one read of the event log
// (stream.ts). Sharing is safe only between identities whose reads cannot differ, so the key keeps everything the
// permission model decides with (docs/domain.md#roles, schema/permissions.ts):
// - the kind of identity, its roles and its department, always;
// - its subject (`sub`) too, unless the subject cannot matter: a user whose roles read *all* rows of every
//   row-scoped type (ROW_SCOPES: claims, vouchers, archive records, sync events, feedback: no filter by applicant,
//   department, assignment or sender) and whose selection holds no sensitive field (decided per record against the subject: an owner
//   sees their own bank account in full).
// A scope counts only where the read can return its rows: ACCOUNTANTs and FINANCE_DIRECTORs read every claim's
// events but of feedback only their own, so those who ask for event types without feedback's share one read.
// 1,000 AUDITORs with one dashboard are then one read per event. 1,000 employees keep a view each (each sees their
// own), but an event announced as another's claim's makes none of them read (feeds.ts `audience`, stream.ts
// waitForConcern): one approval, one read.
import { type DocumentNode, Kind, type OperationDefinitionNode, type ValueNode, visit } from 'graphql';
import type { Principal } from '../../platform/identity.ts';
import { FEEDBACK_EVENT_TYPES, PERMISSIONS, ROW_SCOPES } from '../../schema/permissions.ts';

type ScopeName = keyof typeof ROW_SCOPES;

/** Names of every sensitive field of any type (Employee.phone, idNumber, bankAccount). */
const SENSITIVE_FIELDS: ReadonlySet<string> = new Set(
  Object.values(PERMISSIONS).flatMap((rules) => Object.entries(rules.fields ?? {}).flatMap(([field, rule]) => (rule.kind === 'sensitive' ? [field] : []))),
);

/**
 * Whether the identity reads every row of every row-scoped type (but those in `except`, which the read cannot
 * return): what it sees does not depend on who it is.
 */
export function readsAllRows(principal: Principal, except: ReadonlySet<ScopeName> = new Set()): boolean {
  return (
    principal.kind === 'user' &&
    (Object.entries(ROW_SCOPES) as Array<[ScopeName, (typeof ROW_SCOPES)[ScopeName]]>).every(
      ([name, scope]) => except.has(name) || scope.all.some((role) => principal.roles.includes(role)),
    )
  );
}

/**
 * Whether a read of the event log may return feedback's events: false only for `syncEvents(types: …)` naming
 * none of them (a literal or a variable), and for `alertEvents`, which returns alerts. Anything else: true.
 */
export function mayReadFeedback(document: DocumentNode, variables: Record<string, unknown> = {}): boolean {
  const op = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const root = op?.selectionSet.selections[0];
  if (!root || root.kind !== Kind.FIELD) return true;
  if (root.name.value === 'alertEvents') return false;
  if (root.name.value !== 'syncEvents') return true;
  const types = root.arguments?.find((a) => a.name.value === 'types')?.value;
  const named = typesNamed(types, variables);
  return named === null || named.some((t) => FEEDBACK_EVENT_TYPES.includes(t));
}

/** The event types an argument names, or null for "every type" (absent, null, or not understood). */
function typesNamed(value: ValueNode | undefined, variables: Record<string, unknown>): string[] | null {
  if (!value || value.kind === Kind.NULL) return null;
  if (value.kind === Kind.ENUM || value.kind === Kind.STRING) return [value.value];
  if (value.kind === Kind.LIST) {
    const out: string[] = [];
    for (const v of value.values) {
      if (v.kind !== Kind.ENUM && v.kind !== Kind.STRING) return null;
      out.push(v.value);
    }
    return out;
  }
  if (value.kind === Kind.VARIABLE) {
    const given = variables[value.name.value];
    if (typeof given === 'string') return [given];
    if (Array.isArray(given) && given.every((t) => typeof t === 'string')) return given as string[];
  }
  return null;
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

const FEEDBACK_ONLY: ReadonlySet<ScopeName> = new Set(['Feedback']);

/** The permission view of a subscriber for a document (its read of the log) and variables: equal keys, equal reads. */
export function viewKey(principal: Principal | null, document: DocumentNode, variables?: Record<string, unknown>): string {
  if (!principal) return 'anonymous';
  const base = `${principal.kind}:${[...principal.roles].sort().join(',')}:${principal.departmentId ?? ''}`;
  const except = mayReadFeedback(document, variables) ? undefined : FEEDBACK_ONLY;
  return readsAllRows(principal, except) && !selectsSensitiveField(document) ? `${base}:*` : `${base}:${principal.sub}`;
}
