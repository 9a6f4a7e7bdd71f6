// The workflow engine's public surface.
export { WorkflowEngine, WorkflowError, APPROVAL_ESCALATED } from './engine.ts';
export type { DecisionOutcome, DecisionResult, WorkflowEngineOptions, WorkflowErrorCode } from './engine.ts';
export { expenseRoute, EXPENSE_CLAIM_WORKFLOW, DEFAULT_DIRECTOR_THRESHOLD_FEN } from './expense-route.ts';
export type * from './types.ts';
