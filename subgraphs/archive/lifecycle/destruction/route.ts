// The organisational signatures of a register, as the `archive-destruction` workflow route.
import type { StageDefinition, WorkflowDefinition } from '../../../../platform/workflow/types.ts';
import { directoryOf } from '../directory.ts';
import type { LifecycleServices } from '../services.ts';
import type { SignatoryCapacity } from './register.ts';

export const DESTRUCTION_WORKFLOW = 'archive-destruction';

/** Workflow step key → the capacity its signer signs in. */
export const STEP_CAPACITY: Readonly<Record<string, SignatoryCapacity>> = Object.freeze({
  'unit-head': 'UNIT_HEAD',
  'archive-head': 'ARCHIVE_HEAD',
  'accounting-head': 'ACCOUNTING_HEAD',
  'it-supervisor': 'IT_SUPERVISOR',
});

/**
 * The organisational signatures of a register. Facts: { initiatorId: the proposer, departmentId: the finance
 * department, category: ELECTRONIC | PAPER }. The engine leaves the initiator out of every step, so the archive
 * department head is another archivist than the proposing handler.
 */
export function destructionRoute(unitHeadId: string, itManagerId: string | null): { key: string; name: string; stages: StageDefinition[] } {
  return {
    key: DESTRUCTION_WORKFLOW,
    name: '会计档案销毁清册签署 Destruction register sign-off',
    stages: [
      {
        steps: [
          { key: 'unit-head', name: '单位负责人 Unit head', mode: 'ALL', assignees: [{ kind: 'employees', ids: [unitHeadId] }] },
          {
            key: 'archive-head',
            name: '档案管理机构负责人 Head of the archive department',
            mode: 'ANY',
            assignees: [{ kind: 'role', role: 'ARCHIVIST' }],
            escalation: { kind: 'role', role: 'ARCHIVIST' },
          },
          {
            key: 'accounting-head',
            name: '会计管理机构负责人 Head of the accounting department',
            mode: 'ALL',
            assignees: [{ kind: 'departmentManager' }],
            escalation: { kind: 'role', role: 'FINANCE_DIRECTOR' },
          },
          ...(itManagerId
            ? [
                {
                  key: 'it-supervisor',
                  name: '信息系统管理机构 IT department (electronic archives)',
                  mode: 'ALL' as const,
                  assignees: [{ kind: 'employees' as const, ids: [itManagerId] }],
                  when: { kind: 'categoryIn' as const, categories: ['ELECTRONIC'] },
                },
              ]
            : []),
        ],
      },
    ],
  };
}

/**
 * Saves the route for the current configuration and IT manager (no new version when nothing changed); null when
 * no unit head is configured. Called at start-up and before each proposal, so a new IT manager is picked up.
 */
export async function ensureDestructionRoute(svc: LifecycleServices): Promise<{ definition: WorkflowDefinition; itManagerId: string | null } | null> {
  const { unitHeadId, itDepartmentId } = svc.settings;
  if (!unitHeadId) return null;
  const itManagerId = itDepartmentId ? await directoryOf(svc).managerOf(itDepartmentId) : null;
  return { definition: await svc.workflow.saveDefinition(destructionRoute(unitHeadId, itManagerId)), itManagerId };
}
