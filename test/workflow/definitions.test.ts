// Definitions: validation, versioning by content, and instances pinned to the version they started on.
import { describe, expect, it } from 'vitest';
import { WorkflowError } from '../../platform/workflow/engine.ts';
import { expenseRoute } from '../../platform/workflow/expense-route.ts';
import type { StageDefinition } from '../../platform/workflow/types.ts';
import { nextSubject, useWorkflow } from './fixture.ts';

const fx = useWorkflow('wf_definitions');

const oneStep = (key: string, extra: Record<string, unknown> = {}) => ({
  key,
  name: `Route ${key}`,
  stages: [{ steps: [{ key: 'check', name: 'Check', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['acc1'] }], ...extra }] }] as StageDefinition[],
});

async function badInput(def: unknown): Promise<string> {
  const err = await fx.wf.saveDefinition(def as never).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowError);
  expect((err as WorkflowError).code).toBe('BAD_USER_INPUT');
  return (err as WorkflowError).message;
}

describe('saveDefinition validation', () => {
  it('refuses empty stages, empty steps and duplicate step keys', async () => {
    expect(await badInput({ key: 'v1', name: 'x', stages: [] })).toBe('stages must be a non-empty list');
    expect(await badInput({ key: 'v1', name: 'x', stages: [{ steps: [] }] })).toBe('stages[0].steps must be a non-empty list');
    const step = { key: 'a', name: 'A', mode: 'ANY', assignees: [{ kind: 'departmentManager' }] };
    expect(await badInput({ key: 'v1', name: 'x', stages: [{ steps: [step] }, { steps: [step] }] })).toBe('step key "a" is used more than once');
  });

  it('refuses unknown rules and roles, bad modes, non-positive time limits, fractional fen', async () => {
    expect(await badInput(oneStep('v2', { assignees: [] }))).toBe('stages[0].steps[0].assignees must be a non-empty list');
    expect(await badInput(oneStep('v2', { assignees: [{ kind: 'boss' }] }))).toBe('stages[0].steps[0].assignees[0]: unknown assignee rule "boss"');
    expect(await badInput(oneStep('v2', { assignees: [{ kind: 'role', role: 'CEO' }] }))).toBe('stages[0].steps[0].assignees[0].role: unknown role "CEO"');
    expect(await badInput(oneStep('v2', { mode: 'MOST' }))).toBe('stages[0].steps[0].mode must be ANY or ALL');
    expect(await badInput(oneStep('v2', { timeLimitHours: 0 }))).toBe('stages[0].steps[0].timeLimitHours must be a positive number');
    expect(await badInput(oneStep('v2', { timeLimitHours: -5 }))).toBe('stages[0].steps[0].timeLimitHours must be a positive number');
    expect(await badInput(oneStep('v2', { escalation: { kind: 'role', role: 'nobody' } }))).toBe('stages[0].steps[0].escalation.role: unknown role "nobody"');
    expect(await badInput(oneStep('v2', { when: { kind: 'amountAbove', fen: 10.5 } }))).toBe(
      'stages[0].steps[0].when.fen must be a non-negative integer amount in fen',
    );
    expect(await badInput(oneStep('v2', { when: { kind: 'all', conditions: [] } }))).toBe('stages[0].steps[0].when.conditions must be a non-empty list');
    expect(await badInput({ ...oneStep('v2'), key: '' })).toBe("key must be 1-64 letters, digits, '.', '_' or '-'");
    expect(await fx.wf.latest('v2')).toBeNull();
  });
});

describe('versioning', () => {
  it('stores version 1, returns it again for the same content, and version 2 when it changes', async () => {
    const v1 = await fx.wf.saveDefinition(oneStep('ver'));
    expect(v1).toMatchObject({ key: 'ver', version: 1, name: 'Route ver' });
    // Same content, spelled with other key order and a duplicate id: still version 1.
    const again = await fx.wf.saveDefinition({
      stages: [{ steps: [{ assignees: [{ ids: ['acc1', 'acc1'], kind: 'employees' }], mode: 'ANY', name: 'Check', key: 'check' }] }],
      name: 'Route ver',
      key: 'ver',
    });
    expect(again.version).toBe(1);
    expect(again.createdAt).toEqual(v1.createdAt);
    const v2 = await fx.wf.saveDefinition(oneStep('ver', { timeLimitHours: 24 }));
    expect(v2.version).toBe(2);
    expect(v2.stages[0].steps[0].timeLimitHours).toBe(24);
    expect((await fx.wf.latest('ver'))?.version).toBe(2);
    expect((await fx.wf.definition('ver', 1))?.stages[0].steps[0]).toEqual({
      key: 'check',
      name: 'Check',
      mode: 'ANY',
      assignees: [{ kind: 'employees', ids: ['acc1'] }],
    });
    expect(await fx.wf.definition('ver', 3)).toBeNull();
    expect(await fx.connection.collection('workflow_definitions').countDocuments({ key: 'ver' })).toBe(2);
  });

  it('stored definitions cannot be edited through the returned object', async () => {
    const def = await fx.wf.saveDefinition(oneStep('frozen'));
    expect(() => {
      (def.stages[0].steps[0] as { name: string }).name = 'changed';
    }).toThrow(TypeError);
    expect((await fx.wf.latest('frozen'))?.stages[0].steps[0].name).toBe('Check');
  });

  it('concurrent saves of new content end with one version per distinct content', async () => {
    const results = await Promise.all([
      fx.wf.saveDefinition(oneStep('race')),
      fx.wf.saveDefinition(oneStep('race')),
      fx.wf.saveDefinition(oneStep('race')),
    ]);
    expect(results.map((d) => d.version)).toEqual([1, 1, 1]);
    expect(await fx.connection.collection('workflow_definitions').countDocuments({ key: 'race' })).toBe(1);
  });

  it('an instance started on v1 keeps running v1 after v2 is saved', async () => {
    await fx.wf.saveDefinition({
      key: 'pinned',
      name: 'Pinned',
      stages: [
        { steps: [{ key: 'one', name: 'One', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['acc1'] }] }] },
        { steps: [{ key: 'two', name: 'Two', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['acc2'] }] }] },
      ],
    });
    const subject = nextSubject();
    const started = await fx.tx((s) => fx.wf.start(s, 'pinned', subject, { initiatorId: 'alice', departmentId: 'sales' }));
    expect(started.definitionVersion).toBe(1);
    // v2 drops stage two and renames the first step.
    const v2 = await fx.wf.saveDefinition({
      key: 'pinned',
      name: 'Pinned',
      stages: [{ steps: [{ key: 'one', name: 'Only', mode: 'ANY', assignees: [{ kind: 'employees', ids: ['dir'] }] }] }],
    });
    expect(v2.version).toBe(2);
    const first = await fx.tx((s) => fx.wf.decide(s, started.id, 'acc1', 'APPROVE'));
    expect(first.outcome).toBe('PENDING');
    expect(first.instance.steps.map((st) => [st.key, st.name, st.status])).toEqual([
      ['one', 'One', 'APPROVED'],
      ['two', 'Two', 'ACTIVE'],
    ]);
    const second = await fx.tx((s) => fx.wf.decide(s, started.id, 'acc2', 'APPROVE'));
    expect(second.outcome).toBe('APPROVED');
    expect(second.instance.definitionVersion).toBe(1);
    // A new instance takes v2.
    const later = await fx.tx((s) => fx.wf.start(s, 'pinned', nextSubject(), { initiatorId: 'alice', departmentId: 'sales' }));
    expect(later.definitionVersion).toBe(2);
    expect(later.steps.map((st) => [st.key, st.assigneeIds])).toEqual([['one', ['dir']]]);
  });

  it('start with an unknown definition is NOT_FOUND', async () => {
    const err = await fx.tx((s) => fx.wf.start(s, 'nope', nextSubject(), { initiatorId: 'alice', departmentId: 'sales' })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NOT_FOUND', message: 'no workflow definition nope' });
  });
});

describe('expenseRoute', () => {
  it('is the default route of docs/api.md#default-route', async () => {
    const def = await fx.wf.saveDefinition(expenseRoute(500_000));
    expect(def.key).toBe('expense-claim');
    expect(def.version).toBe(1);
    expect(def.stages).toEqual([
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
            when: { kind: 'amountAbove', fen: 500_000 },
          },
        ],
      },
    ]);
    expect((await fx.wf.saveDefinition(expenseRoute(500_000))).version).toBe(1);
    expect((await fx.wf.saveDefinition(expenseRoute(1_000_000))).version).toBe(2);
    expect(() => expenseRoute(12.5)).toThrow(WorkflowError);
  });
});

describe('storage', () => {
  it('init is idempotent and creates the collections with their indexes', async () => {
    await fx.wf.init();
    const keys = async (name: string) => (await fx.connection.collection(name).indexes()).map((i) => [i.key, i.unique ?? false, i.partialFilterExpression ?? null]);
    expect(await keys('workflow_definitions')).toEqual([
      [{ _id: 1 }, false, null],
      [{ key: 1, version: 1 }, true, null],
    ]);
    expect(await keys('workflow_instances')).toEqual(
      expect.arrayContaining([
        [{ 'subject.type': 1, 'subject.id': 1, createdAt: 1 }, false, null],
        [{ 'subject.type': 1, 'subject.id': 1 }, true, { status: 'RUNNING' }],
        [{ status: 1, 'steps.assigneeIds': 1 }, false, null],
        [{ status: 1, 'steps.dueAt': 1 }, false, null],
      ]),
    );
    expect((await keys('workflow_delegations')).map(([k]) => k)).toEqual([{ _id: 1 }, { toId: 1, startsAt: 1 }, { fromId: 1, startsAt: 1 }]);
  });
});
