// How an instance moves: pure functions over its state, so the engine only loads, applies and saves.
import type { Decision, StepDefinition, StepState, WorkflowDefinition, WorkflowInstance } from './types.ts';

const HOUR_MS = 3_600_000;

export function stepDefinition(definition: WorkflowDefinition, key: string): StepDefinition | undefined {
  for (const stage of definition.stages) {
    const step = stage.steps.find((s) => s.key === key);
    if (step) return step;
  }
  return undefined;
}

export function timeLimitMs(step: StepDefinition | undefined): number | undefined {
  return step?.timeLimitHours === undefined ? undefined : step.timeLimitHours * HOUR_MS;
}

/**
 * Moves the instance to the first stage, from its current one, that still has work, activating that stage's
 * waiting steps together; APPROVED when no stage has any. `stage` then equals the number of stages.
 */
export function advance(instance: WorkflowInstance, definition: WorkflowDefinition, now: Date): void {
  for (let s = instance.stage; s < definition.stages.length; s++) {
    const steps = instance.steps.filter((st) => st.stage === s);
    if (steps.every((st) => st.status === 'APPROVED' || st.status === 'SKIPPED')) continue;
    for (const st of steps) {
      if (st.status !== 'WAITING') continue;
      st.status = 'ACTIVE';
      st.activatedAt = now;
      const limit = timeLimitMs(stepDefinition(definition, st.key));
      if (limit !== undefined) st.dueAt = new Date(now.getTime() + limit);
    }
    instance.stage = s;
    return;
  }
  instance.stage = definition.stages.length;
  instance.status = 'APPROVED';
  instance.completedAt = now;
}

/** Assignees who have decided a step, in person or through a delegate. */
export function decidedFor(step: StepState): Set<string> {
  return new Set(step.decisions.map((d) => d.onBehalfOf ?? d.approverId));
}

export interface StepChoice {
  step: StepState;
  /** The assignee the actor stands in for, when deciding as a delegate. */
  onBehalfOf?: string;
}

/**
 * The first active step, in definition order, that still needs the actor: as an assignee who has not
 * decided it, or as the delegate of such an assignee (their own capacity first).
 */
export function stepNeeding(instance: WorkflowInstance, actorId: string, delegatorIds: readonly string[]): StepChoice | null {
  if (instance.status !== 'RUNNING' || actorId === instance.facts.initiatorId) return null;
  for (const step of instance.steps) {
    if (step.status !== 'ACTIVE') continue;
    const decided = decidedFor(step);
    if (step.assigneeIds.includes(actorId) && !decided.has(actorId)) return { step };
    const principal = step.assigneeIds.find((id) => delegatorIds.includes(id) && !decided.has(id) && id !== actorId);
    if (principal !== undefined) return { step, onBehalfOf: principal };
  }
  return null;
}

/** Records a decision on the chosen step and moves the instance on. */
export function applyDecision(
  instance: WorkflowInstance,
  definition: WorkflowDefinition,
  choice: StepChoice,
  actorId: string,
  decision: Decision,
  comment: string | undefined,
  now: Date,
): void {
  const { step } = choice;
  step.decisions.push({
    approverId: actorId,
    ...(choice.onBehalfOf !== undefined && { onBehalfOf: choice.onBehalfOf }),
    decision,
    ...(comment !== undefined && { comment }),
    decidedAt: now,
  });
  if (decision === 'REJECT') {
    step.status = 'REJECTED';
    // Steps still to be decided (active or not reached) are cancelled: the approval ended without them.
    for (const other of instance.steps) if (other.status === 'ACTIVE' || other.status === 'WAITING') other.status = 'CANCELLED';
    instance.status = 'REJECTED';
    instance.completedAt = now;
    return;
  }
  const decided = decidedFor(step);
  if (step.mode === 'ANY' || step.assigneeIds.every((id) => decided.has(id))) {
    step.status = 'APPROVED';
    advance(instance, definition, now);
  }
}

/** Ends a running instance without a result; steps still to be decided are cancelled. */
export function applyCancel(instance: WorkflowInstance, now: Date): void {
  for (const step of instance.steps) if (step.status === 'ACTIVE' || step.status === 'WAITING') step.status = 'CANCELLED';
  instance.status = 'CANCELLED';
  instance.completedAt = now;
}

/**
 * The steps as clients read them: in an instance that has ended, a step never reached reads CANCELLED. Rejections and
 * withdrawals cancel them when they happen (above); instances that ended before that rule keep WAITING in storage,
 * which is shown, not rewritten.
 */
export function stepsAsShown(instance: WorkflowInstance): StepState[] {
  if (instance.status === 'RUNNING') return instance.steps;
  return instance.steps.map((s) => (s.status === 'WAITING' ? { ...s, status: 'CANCELLED' } : s));
}
