// The default approval route of an expense claim (docs/api.md#default-route): the applicant's department manager, then any
// accountant, and above the threshold also a finance director.
import { WorkflowError } from './errors.ts';
import type { StageDefinition } from './types.ts';

export const EXPENSE_CLAIM_WORKFLOW = 'expense-claim';
/** 5000.00 yuan: claims strictly above it also need a finance director. */
export const DEFAULT_DIRECTOR_THRESHOLD_FEN = 500_000;

export function expenseRoute(thresholdFen: number = DEFAULT_DIRECTOR_THRESHOLD_FEN): { key: string; name: string; stages: StageDefinition[] } {
  if (!Number.isSafeInteger(thresholdFen) || thresholdFen < 0) {
    throw new WorkflowError('BAD_USER_INPUT', 'thresholdFen must be a non-negative integer amount in fen');
  }
  return {
    key: EXPENSE_CLAIM_WORKFLOW,
    name: 'Expense claim approval',
    stages: [
      {
        steps: [
          {
            key: 'manager',
            name: 'Department manager',
            mode: 'ANY',
            assignees: [{ kind: 'departmentManager' }],
            timeLimitHours: 48,
            escalation: { kind: 'nextManager' },
          },
        ],
      },
      { steps: [{ key: 'finance', name: 'Finance review', mode: 'ANY', assignees: [{ kind: 'role', role: 'ACCOUNTANT' }], timeLimitHours: 48 }] },
      {
        steps: [
          {
            key: 'director',
            name: 'Finance director',
            mode: 'ANY',
            assignees: [{ kind: 'role', role: 'FINANCE_DIRECTOR' }],
            when: { kind: 'amountAbove', fen: thresholdFen },
          },
        ],
      },
    ],
  };
}
