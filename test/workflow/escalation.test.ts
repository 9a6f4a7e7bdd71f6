// Escalation of overdue steps with a fake clock: who is added, the event, the new due time.
import { beforeAll, describe, expect, it } from 'vitest';
import { expenseRoute } from '../../platform/workflow/expense-route.ts';
import type { SubjectFacts } from '../../platform/workflow/types.ts';
import { HOUR, nextSubject, useWorkflow } from './fixture.ts';

const fx = useWorkflow('wf_escalation');
const alice: SubjectFacts = { initiatorId: 'alice', departmentId: 'sales', amountFen: 100 };
const start = (key: string, facts: SubjectFacts = alice) => fx.tx((s) => fx.wf.start(s, key, nextSubject(), facts));
const t0 = new Date('2026-04-01T08:00:00Z');
const at = (hours: number) => new Date(t0.getTime() + hours * HOUR);

beforeAll(async () => {
  await fx.wf.saveDefinition(expenseRoute(500_000));
  await fx.wf.saveDefinition({
    key: 'to-director',
    name: 'Escalates to the directors',
    stages: [
      {
        steps: [
          {
            key: 'books',
            name: 'Books',
            mode: 'ANY',
            assignees: [{ kind: 'employees', ids: ['acc1'] }],
            timeLimitHours: 8,
            escalation: { kind: 'role', role: 'FINANCE_DIRECTOR' },
          },
        ],
      },
    ],
  });
});

describe('escalateDue', () => {
  it('nextManager climbs the department chain, appends an event each time and moves dueAt by the limit', async () => {
    fx.now = t0;
    const inst = await start('expense-claim');
    expect(inst.steps[0].dueAt).toEqual(at(48));
    const seqBefore = (await fx.events.after(0, 1000)).length;

    fx.now = at(47);
    expect(await fx.wf.escalateDue()).toBe(0);

    fx.now = at(48);
    expect(await fx.wf.escalateDue()).toBe(1);
    let step = (await fx.wf.get(inst.id))!.steps[0];
    expect(step).toMatchObject({ assigneeIds: ['salesMgr', 'opsHead'], escalations: 1, dueAt: at(96), status: 'ACTIVE', activatedAt: t0 });
    // Not due again until the new due time.
    expect(await fx.wf.escalateDue()).toBe(0);

    fx.now = at(100);
    expect(await fx.wf.escalateDue()).toBe(1);
    step = (await fx.wf.get(inst.id))!.steps[0];
    expect(step).toMatchObject({ assigneeIds: ['salesMgr', 'opsHead', 'ceo'], escalations: 2, dueAt: at(144) });

    const events = await fx.events.forSubject(inst.subject);
    expect(events.map((e) => ({ type: e.type, actor: e.actor, payload: e.payload, occurredAt: e.occurredAt }))).toEqual([
      { type: 'APPROVAL_ESCALATED', actor: 'system', payload: { instanceId: inst.id, step: 'manager', addedAssigneeIds: ['opsHead'] }, occurredAt: at(48) },
      { type: 'APPROVAL_ESCALATED', actor: 'system', payload: { instanceId: inst.id, step: 'manager', addedAssigneeIds: ['ceo'] }, occurredAt: at(100) },
    ]);
    expect((await fx.events.after(0, 1000)).length).toBe(seqBefore + 2);
    expect(events[1].seq).toBe(events[0].seq + 1);

    // The escalated manager can now decide; the original one still can too (ANY).
    expect((await fx.wf.pendingFor('opsHead')).map((i) => i.id)).toContain(inst.id);
    const r = await fx.tx((s) => fx.wf.decide(s, inst.id, 'opsHead', 'APPROVE'));
    expect(r.step.status).toBe('APPROVED');

    // Top of the tree: nobody left to add, but the step still counts as escalated and its due time moves.
    fx.now = at(160);
    const pending = await fx.wf.get(inst.id);
    expect(pending!.steps[1]).toMatchObject({ key: 'finance', status: 'ACTIVE', dueAt: at(148) });
    expect(await fx.wf.escalateDue()).toBe(1);
    // finance has no escalation: the default nextManager adds the manager above alice's department.
    expect((await fx.wf.get(inst.id))!.steps[1]).toMatchObject({ assigneeIds: ['acc1', 'acc2', 'opsHead'], escalations: 1, dueAt: at(196) });
    expect((await fx.tx((s) => fx.wf.decide(s, inst.id, 'acc1', 'APPROVE'))).outcome).toBe('APPROVED');
  });

  it('role escalation adds everyone with the role; an overdue backlog escalates once per run', async () => {
    fx.now = at(1000);
    const inst = await start('to-director');
    fx.now = at(1000 + 30);
    expect(await fx.wf.escalateDue()).toBe(1);
    expect((await fx.wf.get(inst.id))!.steps[0]).toMatchObject({ assigneeIds: ['acc1', 'dir'], escalations: 1, dueAt: at(1016) });
    // Still overdue (1016 < 1030): the next run escalates again, adding nobody new.
    expect(await fx.wf.escalateDue()).toBe(1);
    const step = (await fx.wf.get(inst.id))!.steps[0];
    expect(step).toMatchObject({ assigneeIds: ['acc1', 'dir'], escalations: 2, dueAt: at(1024) });
    const events = await fx.events.forSubject(inst.subject);
    expect(events.map((e) => e.payload.addedAssigneeIds)).toEqual([['dir'], []]);
    expect((await fx.tx((s) => fx.wf.decide(s, inst.id, 'dir', 'APPROVE'))).outcome).toBe('APPROVED');
  });

  it('finished instances and steps without a time limit never escalate', async () => {
    fx.now = at(2000);
    const inst = await start('to-director');
    await fx.tx((s) => fx.wf.cancel(s, inst.id, 'alice'));
    const big = await start('expense-claim', { ...alice, amountFen: 900_000 });
    await fx.tx((s) => fx.wf.decide(s, big.id, 'salesMgr', 'APPROVE'));
    await fx.tx((s) => fx.wf.decide(s, big.id, 'acc1', 'APPROVE'));
    fx.now = at(5000);
    // The cancelled one and the director step (no limit) are not due.
    expect(await fx.wf.escalateDue()).toBe(0);
    expect(await fx.events.forSubject(inst.subject)).toEqual([]);
    expect(await fx.events.forSubject(big.subject)).toEqual([]);
    expect((await fx.wf.get(big.id))!.steps[2]).toMatchObject({ key: 'director', status: 'ACTIVE', escalations: 0 });
  });

  it('the initiator is never added by an escalation', async () => {
    fx.now = at(6000);
    // opsHead files a claim for a sales trip; escalation above sales would reach opsHead: skipped for ceo.
    const inst = await start('expense-claim', { initiatorId: 'opsHead', departmentId: 'sales', amountFen: 1 });
    fx.now = at(6048);
    expect(await fx.wf.escalateDue()).toBe(1);
    expect((await fx.wf.get(inst.id))!.steps[0].assigneeIds).toEqual(['salesMgr', 'ceo']);
  });
});
