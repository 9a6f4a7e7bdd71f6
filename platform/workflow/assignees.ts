// Who decides a step, read from the caller's Directory. The initiator is filtered out everywhere: nobody
// approves their own document, whatever the rules say.
import type { AssigneeRule, Directory, Escalation, SubjectFacts } from './types.ts';

/** Guards the walk up the department tree against a cycle in a faulty directory. */
const MAX_DEPTH = 32;

const unique = (ids: Iterable<string>): string[] => [...new Set(ids)];

async function idsFor(rule: AssigneeRule, facts: SubjectFacts, directory: Directory): Promise<string[]> {
  switch (rule.kind) {
    case 'departmentManager': {
      const manager = await directory.managerOf(facts.departmentId);
      return manager ? [manager] : [];
    }
    case 'managerOfManager': {
      const parent = await directory.parentOf(facts.departmentId);
      const manager = parent ? await directory.managerOf(parent) : null;
      return manager ? [manager] : [];
    }
    case 'role':
      return directory.employeesWithRole(rule.role);
    case 'employees':
      return rule.ids;
  }
}

/** The step's assignees in rule order, without duplicates and without the initiator. */
export async function resolveAssignees(rules: readonly AssigneeRule[], facts: SubjectFacts, directory: Directory): Promise<string[]> {
  const ids: string[] = [];
  for (const rule of rules) ids.push(...(await idsFor(rule, facts, directory)));
  return unique(ids).filter((id) => id !== facts.initiatorId);
}

/**
 * The next manager up the subject's department chain: above the highest department whose manager already
 * holds the step, or above the subject's own department when none does. Vacant posts, the initiator and
 * people already assigned are passed over, so an escalation reaches someone who can still decide.
 */
async function nextManager(facts: SubjectFacts, assigned: ReadonlySet<string>, directory: Directory): Promise<string[]> {
  const managers: (string | null)[] = [];
  const seen = new Set<string>();
  for (let d: string | null = facts.departmentId; d && !seen.has(d) && seen.size < MAX_DEPTH; d = await directory.parentOf(d)) {
    seen.add(d);
    managers.push(await directory.managerOf(d));
  }
  let from = 0;
  managers.forEach((m, i) => {
    if (m !== null && assigned.has(m)) from = i;
  });
  for (let i = from + 1; i < managers.length; i++) {
    const m = managers[i];
    if (m !== null && m !== facts.initiatorId && !assigned.has(m)) return [m];
  }
  return [];
}

/** Employees an escalation adds to a step: only new ones, never the initiator. */
export async function escalationAssignees(
  rule: Escalation,
  facts: SubjectFacts,
  assigned: readonly string[],
  directory: Directory,
): Promise<string[]> {
  const taken = new Set([...assigned, facts.initiatorId]);
  const found = rule.kind === 'role' ? await directory.employeesWithRole(rule.role) : await nextManager(facts, new Set(assigned), directory);
  return unique(found).filter((id) => !taken.has(id));
}

/** The escalation a step uses when its definition names none. */
export const DEFAULT_ESCALATION: Escalation = { kind: 'nextManager' };
