// Delegation: a delegate decides for an assignee within the delegation's period only, recorded with
// onBehalfOf; pendingFor and subjectsAssignedTo follow.
import { beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowError } from '../../platform/workflow/engine.ts';
import { expenseRoute } from '../../platform/workflow/expense-route.ts';
import type { Decision, SubjectFacts } from '../../platform/workflow/types.ts';
import { nextSubject, useWorkflow } from './fixture.ts';

const fx = useWorkflow('wf_delegation');
const alice: SubjectFacts = { initiatorId: 'alice', departmentId: 'sales', amountFen: 12_345 };

const start = (facts: SubjectFacts = alice, key = 'expense-claim') => fx.tx((s) => fx.wf.start(s, key, nextSubject(), facts));
const decide = (id: string, actor: string, decision: Decision = 'APPROVE') => fx.tx((s) => fx.wf.decide(s, id, actor, decision));
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a WorkflowError');
    },
    (e: WorkflowError) => ({ code: e.code, message: e.message }),
  );

const march = (day: number, hour = 0) => new Date(Date.UTC(2026, 2, day, hour));

beforeAll(async () => {
  await fx.wf.saveDefinition(expenseRoute(500_000));
  // salesMgr is away 10-15 March: bob stands in.
  await fx.wf.delegate('salesMgr', 'bob', march(10), march(15));
});

describe('delegate', () => {
  it('validates and lists delegations', async () => {
    expect(await failure(fx.wf.delegate('acc1', 'acc1', march(1), march(2)))).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'an employee cannot delegate to themselves',
    });
    expect(await failure(fx.wf.delegate('acc1', 'acc2', march(2), march(2)))).toEqual({ code: 'BAD_USER_INPUT', message: 'endsAt must be after startsAt' });
    expect(await failure(fx.wf.delegate('acc1', 'acc2', new Date('x'), march(2)))).toMatchObject({ code: 'BAD_USER_INPUT' });
    const later = await fx.wf.delegate('salesMgr', 'opsHead', march(20), march(21));
    const list = await fx.wf.delegations('salesMgr');
    expect(list.map((d) => [d.toId, d.startsAt, d.endsAt])).toEqual([
      ['bob', march(10), march(15)],
      ['opsHead', march(20), march(21)],
    ]);
    expect(list[1]).toEqual(later);
    expect(await fx.wf.delegations('nobody')).toEqual([]);
  });
});

describe('deciding as a delegate', () => {
  it('within the period: decides for the assignee, recorded with onBehalfOf', async () => {
    fx.now = march(12, 9);
    const inst = await start({ initiatorId: 'acc2', departmentId: 'sales', amountFen: 100 });
    expect(await fx.wf.pendingFor('bob')).toEqual([inst]);
    const r = await decide(inst.id, 'bob', 'APPROVE');
    expect(r.step.decisions).toEqual([{ approverId: 'bob', onBehalfOf: 'salesMgr', decision: 'APPROVE', decidedAt: march(12, 9) }]);
    expect(r.step.status).toBe('APPROVED');
    // The assignee themselves can no longer decide the step.
    expect(await failure(decide(inst.id, 'salesMgr'))).toEqual({ code: 'FORBIDDEN', message: 'salesMgr is not an approver of the current step' });
    expect(await fx.wf.subjectsAssignedTo('ExpenseClaim', 'bob')).toContain(inst.subject.id);
  });

  it('outside the period: FORBIDDEN (end exclusive, start inclusive)', async () => {
    fx.now = march(9, 23);
    const inst = await start({ initiatorId: 'acc2', departmentId: 'sales' });
    expect(await failure(decide(inst.id, 'bob'))).toEqual({ code: 'FORBIDDEN', message: 'bob is not an approver of the current step' });
    expect(await fx.wf.pendingFor('bob')).toEqual([]);
    fx.now = march(15);
    expect(await failure(decide(inst.id, 'bob'))).toMatchObject({ code: 'FORBIDDEN' });
    fx.now = march(10);
    expect((await decide(inst.id, 'bob')).step.decisions[0]).toMatchObject({ approverId: 'bob', onBehalfOf: 'salesMgr' });
  });

  it('a delegate never decides their own document', async () => {
    fx.now = march(11);
    const own = await start({ initiatorId: 'bob', departmentId: 'sales' });
    expect(own.steps[0].assigneeIds).toEqual(['salesMgr']);
    expect(await failure(decide(own.id, 'bob'))).toEqual({ code: 'FORBIDDEN', message: 'the initiator cannot decide their own approval' });
    expect((await fx.wf.pendingFor('bob')).map((i) => i.id)).not.toContain(own.id);
  });

  it('in a countersign, a delegate who is also an assignee decides for themselves first, then for the other', async () => {
    await fx.wf.saveDefinition({
      key: 'countersign',
      name: 'Countersign',
      stages: [{ steps: [{ key: 'both', name: 'Both', mode: 'ALL', assignees: [{ kind: 'employees', ids: ['acc1', 'acc2'] }] }] }],
    });
    await fx.wf.delegate('acc2', 'acc1', march(1), march(31));
    fx.now = march(12);
    const inst = await start(alice, 'countersign');
    const one = await decide(inst.id, 'acc1');
    expect(one.step.decisions.map((d) => [d.approverId, d.onBehalfOf])).toEqual([['acc1', undefined]]);
    expect(one.outcome).toBe('PENDING');
    expect((await fx.wf.pendingFor('acc1')).map((i) => i.id)).toContain(inst.id);
    const two = await decide(inst.id, 'acc1');
    expect(two.step.decisions.map((d) => [d.approverId, d.onBehalfOf])).toEqual([
      ['acc1', undefined],
      ['acc1', 'acc2'],
    ]);
    expect(two.outcome).toBe('APPROVED');
    expect(await failure(decide(inst.id, 'acc1'))).toEqual({ code: 'CONFLICT', message: 'approval is already APPROVED' });
  });
});

describe('pendingFor', () => {
  it('lists running instances with an active step still waiting for the employee, oldest first', async () => {
    fx.now = march(25);
    const a = await start({ initiatorId: 'alice', departmentId: 'sales', amountFen: 1 });
    const b = await start({ initiatorId: 'bob', departmentId: 'sales', amountFen: 2 });
    const c = await start({ initiatorId: 'alice', departmentId: 'sales', amountFen: 3 });
    const pending = (who: string) => fx.wf.pendingFor(who).then((list) => list.map((i) => i.id).filter((id) => [a.id, b.id, c.id].includes(id)));
    expect(await pending('salesMgr')).toEqual([a.id, b.id, c.id]);
    expect(await pending('acc1')).toEqual([]);
    await decide(a.id, 'salesMgr');
    await decide(b.id, 'salesMgr', 'REJECT');
    expect(await pending('salesMgr')).toEqual([c.id]);
    expect(await pending('acc1')).toEqual([a.id]);
    expect(await pending('acc2')).toEqual([a.id]);
    await decide(a.id, 'acc2');
    expect(await pending('acc1')).toEqual([]);
    // The full instance comes back, not just its id.
    expect((await fx.wf.pendingFor('salesMgr')).find((i) => i.id === c.id)).toEqual(await fx.wf.get(c.id));
  });

  it('subjectsAssignedTo lists subjects once the employee’s step was reached, not before', async () => {
    fx.now = march(26);
    const inst = await start({ initiatorId: 'alice', departmentId: 'sales', amountFen: 4 });
    expect(await fx.wf.subjectsAssignedTo('ExpenseClaim', 'salesMgr')).toContain(inst.subject.id);
    expect(await fx.wf.subjectsAssignedTo('ExpenseClaim', 'acc1')).not.toContain(inst.subject.id);
    await decide(inst.id, 'salesMgr');
    expect(await fx.wf.subjectsAssignedTo('ExpenseClaim', 'acc1')).toContain(inst.subject.id);
    expect(await fx.wf.subjectsAssignedTo('ExpenseClaim', 'salesMgr')).toContain(inst.subject.id);
    expect(await fx.wf.subjectsAssignedTo('BorrowRequest', 'salesMgr')).toEqual([]);
  });
});
