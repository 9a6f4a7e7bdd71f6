// The workflow engine's vocabulary. Definitions are data: stored, versioned, and read by running instances
// at the version they started with.
import type { Role } from '../identity.ts';

/** Who may decide a step. */
export type AssigneeRule =
  /** The manager of the subject's department (for a claim: the applicant's department). */
  | { kind: 'departmentManager' }
  /** The manager of the parent department of the subject's department ("the manager's manager"). */
  | { kind: 'managerOfManager' }
  /** Every employee holding the role. */
  | { kind: 'role'; role: Role }
  /** Named employees. */
  | { kind: 'employees'; ids: string[] };

/** When a step applies; a step whose condition is false is SKIPPED. */
export type Condition =
  | { kind: 'amountAbove'; fen: number }
  | { kind: 'categoryIn'; categories: string[] }
  | { kind: 'all'; conditions: Condition[] }
  | { kind: 'any'; conditions: Condition[] };

/** Where a step goes when its time limit passes undecided. */
export type Escalation =
  /** Add the manager one level up from the current assignees' department (default). */
  | { kind: 'nextManager' }
  /** Add everyone holding a role. */
  | { kind: 'role'; role: Role };

export interface StepDefinition {
  /** Unique within the definition. */
  key: string;
  name: string;
  /** ANY: one approval completes the step. ALL: countersign, every assignee must approve. */
  mode: 'ANY' | 'ALL';
  assignees: AssigneeRule[];
  when?: Condition;
  /** Hours an active step may wait before it escalates. */
  timeLimitHours?: number;
  escalation?: Escalation;
}

/** Steps of one stage run in parallel; stages run in order. */
export interface StageDefinition {
  steps: StepDefinition[];
}

export interface WorkflowDefinition {
  key: string;
  version: number;
  name: string;
  stages: StageDefinition[];
  createdAt: Date;
}

/** Facts about the subject that rules and conditions read. */
export interface SubjectFacts {
  /** Employee who started it (the applicant); never an assignee of their own document. */
  initiatorId: string;
  departmentId: string;
  amountFen?: number;
  category?: string;
}

export type InstanceStatus = 'RUNNING' | 'APPROVED' | 'REJECTED' | 'CANCELLED';
export type StepStatus = 'WAITING' | 'ACTIVE' | 'APPROVED' | 'REJECTED' | 'SKIPPED' | 'CANCELLED';
export type Decision = 'APPROVE' | 'REJECT';

export interface StepDecision {
  /** The employee who decided. */
  approverId: string;
  /** Set when the approver decided as the delegate of an assignee. */
  onBehalfOf?: string;
  decision: Decision;
  comment?: string;
  decidedAt: Date;
}

export interface StepState {
  key: string;
  name: string;
  mode: 'ANY' | 'ALL';
  stage: number;
  status: StepStatus;
  assigneeIds: string[];
  decisions: StepDecision[];
  activatedAt?: Date;
  dueAt?: Date;
  escalations: number;
}

export interface WorkflowInstance {
  id: string;
  definitionKey: string;
  definitionVersion: number;
  subject: { type: string; id: string };
  facts: SubjectFacts;
  status: InstanceStatus;
  stage: number;
  steps: StepState[];
  createdAt: Date;
  completedAt?: Date;
}

/** What the engine needs to know about the organisation. */
export interface Directory {
  managerOf(departmentId: string): Promise<string | null>;
  parentOf(departmentId: string): Promise<string | null>;
  departmentOf(employeeId: string): Promise<string | null>;
  employeesWithRole(role: Role): Promise<string[]>;
}

export interface Delegation {
  id: string;
  fromId: string;
  toId: string;
  startsAt: Date;
  endsAt: Date;
}
