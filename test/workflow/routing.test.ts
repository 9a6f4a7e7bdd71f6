// Routing: sequential and parallel stages, ANY and ALL, conditions, rejection, who may decide.
import { beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowError } from '../../platform/workflow/engine.ts';
import { expenseRoute } from '../../platform/workflow/expense-route.ts';
import type { Decision, SubjectFacts } from '../../platform/workflow/types.ts';
import { HOUR, nextSubject, useWorkflow } from './fixture.ts';

const fx = useWorkflow('wf_routing');
const alice: SubjectFacts = { initiatorId: 'alice', departmentId: 'sales' };

const start = (key: string, facts: SubjectFacts = alice, subject = nextSubject()) => fx.tx((s) => fx.wf.start(s, key, subject, facts));
const decide = (id: string, actor: string, decision: Decision = 'APPROVE', comment?: string) =>
  fx.tx((s) => fx.wf.decide(s, id, actor, decision, comment));
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a WorkflowError');
    },
    (e: WorkflowError) => ({ code: e.code, message: e.message }),
  );
const statuses = (steps: { key: string; status: string }[]) => Object.fromEntries(steps.map((s) => [s.key, s.status]));

beforeAll(async () => {
  await fx.wf.saveDefinition(expenseRoute(500_000));
  await fx.wf.saveDefinition({
    key: 'parallel',
    name: 'Parallel review',
    stages: [
      {
        steps: [
          { key: 'legal', name: 'Legal', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['ceo', 'opsHead'] }] },
          { key: 'books', name: 'Books', mode: 'ALL', assignees: [{ kind: 'role', role: 'ACCOUNTANT' }], timeLimitHours: 24 },
          { key: 'training', name: 'Training', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['finMgr'] }], when: { kind: 'categoryIn', categories: ['TRAINING'] } },
        ],
      },
      { steps: [{ key: 'sign', name: 'Sign-off', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['dir'] }] }] },
    ],
  });
});

describe('the expense route', () => {
  it('at or below the threshold: manager, then any accountant; the director step is skipped', async () => {
    fx.now = new Date('2026-03-02T09:00:00Z');
    const inst = await start('expense-claim', { ...alice, amountFen: 500_000, category: 'TRAVEL' });
    expect(inst).toMatchObject({ definitionKey: 'expense-claim', definitionVersion: 1, status: 'RUNNING', stage: 0 });
    expect(inst.steps).toEqual([
      {
        key: 'manager',
        name: 'Department manager',
        mode: 'ANY',
        stage: 0,
        status: 'ACTIVE',
        assigneeIds: ['salesMgr'],
        decisions: [],
        activatedAt: new Date('2026-03-02T09:00:00Z'),
        dueAt: new Date('2026-03-04T09:00:00Z'),
        escalations: 0,
      },
      { key: 'finance', name: 'Finance review', mode: 'ANY', stage: 1, status: 'WAITING', assigneeIds: ['acc1', 'acc2'], decisions: [], escalations: 0 },
      { key: 'director', name: 'Finance director', mode: 'ANY', stage: 2, status: 'SKIPPED', assigneeIds: [], decisions: [], escalations: 0 },
    ]);
    expect(await fx.wf.get(inst.id)).toEqual(inst);

    fx.now = new Date('2026-03-02T10:00:00Z');
    const m = await decide(inst.id, 'salesMgr', 'APPROVE', 'ok');
    expect(m.outcome).toBe('PENDING');
    expect(m.step).toMatchObject({ key: 'manager', status: 'APPROVED' });
    expect(m.step.decisions).toEqual([{ approverId: 'salesMgr', decision: 'APPROVE', comment: 'ok', decidedAt: new Date('2026-03-02T10:00:00Z') }]);
    expect(m.instance.stage).toBe(1);
    expect(m.instance.steps[1]).toMatchObject({ status: 'ACTIVE', activatedAt: new Date('2026-03-02T10:00:00Z'), dueAt: new Date('2026-03-04T10:00:00Z') });

    const f = await decide(inst.id, 'acc2');
    expect(f.outcome).toBe('APPROVED');
    expect(f.instance).toMatchObject({ status: 'APPROVED', stage: 3, completedAt: new Date('2026-03-02T10:00:00Z') });
    expect(statuses(f.instance.steps)).toEqual({ manager: 'APPROVED', finance: 'APPROVED', director: 'SKIPPED' });
    expect(f.instance.steps[1].decisions.map((d) => d.approverId)).toEqual(['acc2']);
    expect(await failure(decide(inst.id, 'acc1'))).toEqual({ code: 'CONFLICT', message: 'approval is already APPROVED' });
  });

  it('above the threshold: a finance director decides last', async () => {
    const inst = await start('expense-claim', { ...alice, amountFen: 500_001 });
    expect(inst.steps[2]).toMatchObject({ key: 'director', status: 'WAITING', assigneeIds: ['dir'] });
    await decide(inst.id, 'salesMgr');
    const f = await decide(inst.id, 'acc1');
    expect(f.outcome).toBe('PENDING');
    expect(f.instance.stage).toBe(2);
    expect(f.instance.steps[2].status).toBe('ACTIVE');
    // No time limit on the director step: no due date.
    expect(f.instance.steps[2].dueAt).toBeUndefined();
    const d = await decide(inst.id, 'dir');
    expect(d.outcome).toBe('APPROVED');
  });

  it('a decision by anyone not assigned to the current step is FORBIDDEN, also by a later-stage assignee', async () => {
    const inst = await start('expense-claim', { ...alice, amountFen: 100 });
    expect(await failure(decide(inst.id, 'acc1'))).toEqual({ code: 'FORBIDDEN', message: 'acc1 is not an approver of the current step' });
    expect(await failure(decide(inst.id, 'bob'))).toEqual({ code: 'FORBIDDEN', message: 'bob is not an approver of the current step' });
    expect(await failure(decide(inst.id, 'alice'))).toEqual({ code: 'FORBIDDEN', message: 'the initiator cannot decide their own approval' });
    expect((await fx.wf.get(inst.id))?.steps[0].decisions).toEqual([]);
  });

  it('the initiator is never their own approver: a manager’s claim goes to the next manager up', async () => {
    const inst = await start('expense-claim', { initiatorId: 'salesMgr', departmentId: 'sales', amountFen: 900_000 });
    expect(inst.steps.map((s) => [s.key, s.assigneeIds, s.escalations])).toEqual([
      ['manager', ['opsHead'], 1],
      ['finance', ['acc1', 'acc2'], 0],
      ['director', ['dir'], 0],
    ]);
    // An accountant's own claim: the other accountant reviews it.
    const acc = await start('expense-claim', { initiatorId: 'acc1', departmentId: 'fin', amountFen: 100 });
    expect(acc.steps[0].assigneeIds).toEqual(['finMgr']);
    expect(acc.steps[1].assigneeIds).toEqual(['acc2']);
  });

  it('a step left without anyone is CONFLICT, and nothing is stored', async () => {
    // The CEO's claim: no manager above hq.
    const subject = nextSubject();
    expect(await failure(start('expense-claim', { initiatorId: 'ceo', departmentId: 'hq' }, subject))).toEqual({
      code: 'CONFLICT',
      message: 'no approver for step manager',
    });
    expect(await fx.wf.forSubjects(subject.type, [subject.id])).toEqual([]);
  });

  it('one running approval per subject', async () => {
    const subject = nextSubject();
    const first = await start('expense-claim', alice, subject);
    expect(await failure(start('expense-claim', alice, subject))).toEqual({ code: 'CONFLICT', message: `ExpenseClaim ${subject.id} already has a running approval` });
    // Once the first one ends, the subject may be submitted again.
    await fx.tx((s) => fx.wf.cancel(s, first.id, 'alice'));
    const second = await start('expense-claim', alice, subject);
    expect((await fx.wf.forSubjects(subject.type, [subject.id])).map((i) => [i.id, i.status])).toEqual([
      [first.id, 'CANCELLED'],
      [second.id, 'RUNNING'],
    ]);
  });

  it('refuses fractional amounts and empty facts', async () => {
    expect(await failure(start('expense-claim', { ...alice, amountFen: 10.5 }))).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'facts.amountFen must be a non-negative integer amount in fen',
    });
    expect(await failure(start('expense-claim', { initiatorId: '', departmentId: 'sales' }))).toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});

describe('parallel stages, ANY and ALL', () => {
  it('activates all steps of a stage together; ALL needs every assignee, ANY one; then the next stage', async () => {
    fx.now = new Date('2026-03-05T08:00:00Z');
    const inst = await start('parallel', { ...alice, category: 'TRAINING' });
    expect(statuses(inst.steps)).toEqual({ legal: 'ACTIVE', books: 'ACTIVE', training: 'ACTIVE', sign: 'WAITING' });
    expect(inst.steps[1]).toMatchObject({ mode: 'ALL', assigneeIds: ['acc1', 'acc2'], dueAt: new Date(fx.now.getTime() + 24 * HOUR) });
    expect(inst.steps[0].dueAt).toBeUndefined();

    expect((await decide(inst.id, 'opsHead')).step).toMatchObject({ key: 'legal', status: 'APPROVED' });
    // The other ANY assignee is no longer needed.
    expect(await failure(decide(inst.id, 'ceo'))).toEqual({ code: 'FORBIDDEN', message: 'ceo is not an approver of the current step' });

    const one = await decide(inst.id, 'acc1');
    expect(one.outcome).toBe('PENDING');
    expect(one.step).toMatchObject({ key: 'books', status: 'ACTIVE' });
    // A second decision by the same approver.
    expect(await failure(decide(inst.id, 'acc1'))).toEqual({ code: 'FORBIDDEN', message: 'acc1 has already decided this step' });
    expect((await decide(inst.id, 'acc2')).step).toMatchObject({ key: 'books', status: 'APPROVED' });

    const t = await decide(inst.id, 'finMgr');
    expect(t.instance.stage).toBe(1);
    expect(statuses(t.instance.steps)).toEqual({ legal: 'APPROVED', books: 'APPROVED', training: 'APPROVED', sign: 'ACTIVE' });
    expect((await decide(inst.id, 'dir')).outcome).toBe('APPROVED');
  });

  it('a category outside the condition skips its step', async () => {
    const inst = await start('parallel', { ...alice, category: 'MEALS' });
    expect(statuses(inst.steps)).toEqual({ legal: 'ACTIVE', books: 'ACTIVE', training: 'SKIPPED', sign: 'WAITING' });
    await decide(inst.id, 'ceo');
    await decide(inst.id, 'acc1');
    const last = await decide(inst.id, 'acc2');
    expect(last.instance.steps[3].status).toBe('ACTIVE');
  });

  it('a rejection ends the instance and cancels the steps still to be decided, active or not reached', async () => {
    fx.now = new Date('2026-03-06T08:00:00Z');
    const inst = await start('parallel', { ...alice, category: 'TRAINING' });
    await decide(inst.id, 'ceo');
    await decide(inst.id, 'acc1');
    const r = await decide(inst.id, 'acc2', 'REJECT', 'receipt missing');
    expect(r.outcome).toBe('REJECTED');
    expect(r.step).toMatchObject({ key: 'books', status: 'REJECTED' });
    expect(r.step.decisions.map((d) => [d.approverId, d.decision, d.comment])).toEqual([
      ['acc1', 'APPROVE', undefined],
      ['acc2', 'REJECT', 'receipt missing'],
    ]);
    expect(r.instance).toMatchObject({ status: 'REJECTED', completedAt: new Date('2026-03-06T08:00:00Z') });
    expect(statuses(r.instance.steps)).toEqual({ legal: 'APPROVED', books: 'REJECTED', training: 'CANCELLED', sign: 'CANCELLED' });
    expect(await failure(decide(inst.id, 'finMgr'))).toEqual({ code: 'CONFLICT', message: 'approval is already REJECTED' });
    expect(await fx.wf.get(inst.id)).toEqual(r.instance);
  });

  it('an actor assigned to several active steps decides the first in definition order that still needs them', async () => {
    await fx.wf.saveDefinition({
      key: 'overlap',
      name: 'Overlap',
      stages: [
        {
          steps: [
            { key: 'first', name: 'First', mode: 'ALL', assignees: [{ kind: 'employees', ids: ['acc1', 'acc2'] }] },
            { key: 'second', name: 'Second', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['acc1'] }] },
          ],
        },
      ],
    });
    const inst = await start('overlap');
    expect((await decide(inst.id, 'acc1')).step.key).toBe('first');
    expect((await decide(inst.id, 'acc1')).step.key).toBe('second');
    const done = await decide(inst.id, 'acc2');
    expect(done.step.key).toBe('first');
    expect(done.outcome).toBe('APPROVED');
  });

  it('an instance whose every step is skipped is APPROVED at once', async () => {
    await fx.wf.saveDefinition({
      key: 'big-only',
      name: 'Big only',
      stages: [{ steps: [{ key: 'big', name: 'Big', mode: 'ANY', assignees: [{ kind: 'role', role: 'FINANCE_DIRECTOR' }], when: { kind: 'amountAbove', fen: 1_000 } }] }],
    });
    fx.now = new Date('2026-03-07T08:00:00Z');
    const inst = await start('big-only', { ...alice, amountFen: 1_000 });
    expect(inst).toMatchObject({ status: 'APPROVED', stage: 1, completedAt: new Date('2026-03-07T08:00:00Z') });
    expect(inst.steps[0].status).toBe('SKIPPED');
    // No amount at all: the amount condition is false.
    expect((await start('big-only', alice)).status).toBe('APPROVED');
    expect((await start('big-only', { ...alice, amountFen: 1_001 })).status).toBe('RUNNING');
  });
});

describe('cancel and hasDecisions', () => {
  it('cancels a running instance, then refuses a second cancel and decisions', async () => {
    fx.now = new Date('2026-03-08T08:00:00Z');
    const inst = await start('expense-claim', { ...alice, amountFen: 100 });
    expect(fx.wf.hasDecisions(inst)).toBe(false);
    const cancelled = await fx.tx((s) => fx.wf.cancel(s, inst.id, 'alice'));
    expect(cancelled).toMatchObject({ status: 'CANCELLED', completedAt: new Date('2026-03-08T08:00:00Z') });
    expect(statuses(cancelled.steps)).toEqual({ manager: 'CANCELLED', finance: 'CANCELLED', director: 'SKIPPED' });
    expect(await failure(fx.tx((s) => fx.wf.cancel(s, inst.id, 'alice')))).toEqual({ code: 'CONFLICT', message: 'approval is already CANCELLED' });
    expect(await failure(decide(inst.id, 'salesMgr'))).toEqual({ code: 'CONFLICT', message: 'approval is already CANCELLED' });
    expect(await fx.connection.collection('workflow_instances').findOne({ _id: inst.id as never }, { projection: { cancelledBy: 1 } })).toEqual({
      _id: inst.id,
      cancelledBy: 'alice',
    });
  });

  it('hasDecisions is true after the first decision; unknown ids are NOT_FOUND', async () => {
    const inst = await start('expense-claim', { ...alice, amountFen: 100 });
    const { instance } = await decide(inst.id, 'salesMgr');
    expect(fx.wf.hasDecisions(instance)).toBe(true);
    expect(await failure(decide('000000000000000000000000', 'salesMgr'))).toEqual({ code: 'NOT_FOUND', message: 'approval 000000000000000000000000 not found' });
    expect(await failure(decide(inst.id, 'acc1', 'MAYBE' as Decision))).toEqual({ code: 'BAD_USER_INPUT', message: 'decision must be APPROVE or REJECT' });
  });
});
