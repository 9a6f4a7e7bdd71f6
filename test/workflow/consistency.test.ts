// Atomicity with the caller's transaction, concurrent deciders, and the number of queries of the batch reads.
import type { ClientSession } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../platform/integration/events.ts';
import { WorkflowEngine } from '../../platform/workflow/engine.ts';
import type { WorkflowError } from '../../platform/workflow/engine.ts';
import type { Decision, SubjectFacts, WorkflowInstance } from '../../platform/workflow/types.ts';
import { HOUR, nextSubject, useWorkflow } from './fixture.ts';

const fx = useWorkflow('wf_consistency');
const alice: SubjectFacts = { initiatorId: 'alice', departmentId: 'sales', amountFen: 100 };
const start = (key = 'pool', subject = nextSubject()) => fx.tx((s) => fx.wf.start(s, key, subject, alice));

/** What the OA subgraph does: decide, and append its own event in the same transaction. */
async function decideAsCaller(session: ClientSession, id: string, actor: string, decision: Decision = 'APPROVE') {
  const result = await fx.wf.decide(session, id, actor, decision);
  if (result.outcome !== 'PENDING') {
    await fx.events.append(session, { type: `CLAIM_${result.outcome}`, subject: result.instance.subject, actor, payload: { approvalId: id } });
  }
  return result;
}

beforeAll(async () => {
  await fx.wf.saveDefinition({
    key: 'pool',
    name: 'Any of four, then a countersign',
    stages: [
      { steps: [{ key: 'any', name: 'Any', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['acc1', 'acc2', 'dir', 'finMgr'] }], timeLimitHours: 1 }] },
      { steps: [{ key: 'all', name: 'All', mode: 'ALL', assignees: [{ kind: 'employees', ids: ['acc1', 'acc2'] }] }] },
    ],
  });
});

describe('atomicity', () => {
  it('a decide inside a transaction that then throws leaves the instance and the event log unchanged', async () => {
    const inst = await start();
    const events = await fx.events.after(0, 10_000);
    const err = await fx
      .tx(async (s) => {
        const r = await decideAsCaller(s, inst.id, 'acc1');
        expect(r.instance.steps.map((st) => st.status)).toEqual(['APPROVED', 'ACTIVE']);
        await fx.events.append(s, { type: 'CLAIM_NOTE', subject: inst.subject, actor: 'acc1' });
        throw new Error('caller failed after deciding');
      })
      .catch((e: Error) => e.message);
    expect(err).toBe('caller failed after deciding');
    expect(await fx.wf.get(inst.id)).toEqual(inst);
    expect(await fx.events.after(0, 10_000)).toEqual(events);
    // The approval is still open to the same approver.
    expect((await fx.tx((s) => fx.wf.decide(s, inst.id, 'acc1', 'APPROVE'))).step.status).toBe('APPROVED');
  });

  it('an escalation whose event cannot be stored leaves the step unchanged', async () => {
    class FailingLog extends EventLog {
      override async append(...args: Parameters<EventLog['append']>): ReturnType<EventLog['append']> {
        await super.append(...args);
        throw new Error('event store failed');
      }
    }
    const failing = new WorkflowEngine({ connection: fx.connection, directory: fx.directory, events: new FailingLog(fx.connection), clock: () => fx.now });
    fx.now = new Date('2026-05-01T00:00:00Z');
    const inst = await start();
    fx.now = new Date(fx.now.getTime() + 2 * HOUR);
    const err = await failing.escalateDue().catch((e: AggregateError) => e);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).errors.map((e: Error) => e.message)).toEqual(['event store failed']);
    expect(await fx.wf.get(inst.id)).toEqual(inst);
    expect(await fx.events.forSubject(inst.subject)).toEqual([]);
    // The working engine escalates it afterwards (nextManager above sales: opsHead).
    expect(await fx.wf.escalateDue()).toBe(1);
    expect((await fx.wf.get(inst.id))!.steps[0]).toMatchObject({ escalations: 1, assigneeIds: ['acc1', 'acc2', 'dir', 'finMgr', 'opsHead'] });
    expect((await fx.events.forSubject(inst.subject)).map((e) => e.type)).toEqual(['APPROVAL_ESCALATED']);
    await fx.tx((s) => fx.wf.cancel(s, inst.id, 'alice'));
  });
});

describe('concurrency', () => {
  it('parallel decides on an ANY step: exactly one wins, one decision, one event', async () => {
    for (let round = 0; round < 5; round++) {
      const single = `pool-single`;
      if (round === 0) {
        await fx.wf.saveDefinition({
          key: single,
          name: 'Any of four',
          stages: [{ steps: [{ key: 'any', name: 'Any', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['acc1', 'acc2', 'dir', 'finMgr'] }] }] }],
        });
      }
      const inst = await start(single);
      const results = await Promise.allSettled(['acc1', 'acc2', 'dir', 'finMgr'].map((who) => fx.tx((s) => decideAsCaller(s, inst.id, who))));
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as WorkflowError).message] : []));
      expect(won).toHaveLength(1);
      expect(lost).toEqual(['approval is already APPROVED', 'approval is already APPROVED', 'approval is already APPROVED']);
      const stored = await fx.wf.get(inst.id);
      expect(stored!.status).toBe('APPROVED');
      expect(stored!.steps[0].decisions).toHaveLength(1);
      expect((await fx.events.forSubject(inst.subject)).map((e) => e.type)).toEqual(['CLAIM_APPROVED']);
    }
  });

  it('the same approver deciding twice at once on a countersign counts once', async () => {
    const inst = await start();
    await fx.tx((s) => fx.wf.decide(s, inst.id, 'dir', 'APPROVE'));
    const results = await Promise.allSettled([1, 2].map(() => fx.tx((s) => fx.wf.decide(s, inst.id, 'acc1', 'APPROVE'))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as WorkflowError).message] : []))).toEqual(['acc1 has already decided this step']);
    const stored = await fx.wf.get(inst.id);
    expect(stored!.steps[1].decisions.map((d) => d.approverId)).toEqual(['acc1']);
    expect(stored!.steps[1].status).toBe('ACTIVE');
  });

  it('without a transaction, the revision check still lets only one decision apply', async () => {
    for (let round = 0; round < 5; round++) {
      const inst = await start('pool-single');
      const sessions = await Promise.all([fx.connection.startSession(), fx.connection.startSession()]);
      try {
        const results = await Promise.allSettled([fx.wf.decide(sessions[0], inst.id, 'acc1', 'APPROVE'), fx.wf.decide(sessions[1], inst.id, 'acc2', 'APPROVE')]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect((loser.reason as WorkflowError).code).toBe('CONFLICT');
        expect(['the approval was changed meanwhile; try again', 'approval is already APPROVED']).toContain((loser.reason as WorkflowError).message);
        expect((await fx.wf.get(inst.id))!.steps[0].decisions).toHaveLength(1);
      } finally {
        for (const s of sessions) await s.endSession();
      }
    }
  });

  it('two concurrent starts for one subject: one instance', async () => {
    const subject = nextSubject();
    const results = await Promise.allSettled([start('pool', subject), start('pool', subject)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({
      code: 'CONFLICT',
      message: `ExpenseClaim ${subject.id} already has a running approval`,
    });
    expect(await fx.wf.forSubjects(subject.type, [subject.id])).toHaveLength(1);
  });
});

describe('batch reads', () => {
  it('getMany and forSubjects use one query each, pendingFor two, whatever the number of ids', async () => {
    const subjects = [nextSubject(), nextSubject(), nextSubject()];
    const made: WorkflowInstance[] = [];
    for (const s of subjects) made.push(await start('pool', s));
    await fx.tx((s) => fx.wf.cancel(s, made[1].id, 'alice'));
    const again = await start('pool', subjects[1]);

    fx.commands.length = 0;
    const many = await fx.wf.getMany([made[2].id, 'ffffffffffffffffffffffff', made[0].id, made[2].id, 'not-an-object-id']);
    expect(fx.commands).toEqual(['find']);
    expect(many.map((i) => i.id)).toEqual([made[2].id, made[0].id]);
    expect(many[0]).toEqual(await fx.wf.get(made[2].id));

    fx.commands.length = 0;
    const bySubject = await fx.wf.forSubjects('ExpenseClaim', [...subjects.map((s) => s.id), 'unknown']);
    expect(fx.commands).toEqual(['find']);
    expect(bySubject.map((i) => [i.subject.id, i.status])).toEqual([
      [subjects[0].id, 'RUNNING'],
      [subjects[1].id, 'CANCELLED'],
      [subjects[2].id, 'RUNNING'],
      [subjects[1].id, 'RUNNING'],
    ]);
    expect(bySubject[3].id).toBe(again.id);
    expect(await fx.wf.forSubjects('BorrowRequest', subjects.map((s) => s.id))).toEqual([]);

    fx.commands.length = 0;
    const pending = await fx.wf.pendingFor('finMgr');
    expect(fx.commands).toEqual(['find', 'find']);
    expect(pending.map((i) => i.id)).toEqual(expect.arrayContaining([made[0].id, made[2].id, again.id]));
    expect(pending.map((i) => i.id)).not.toContain(made[1].id);

    fx.commands.length = 0;
    await fx.wf.getMany([]);
    await fx.wf.forSubjects('ExpenseClaim', []);
    expect(fx.commands).toEqual([]);
  });
});
