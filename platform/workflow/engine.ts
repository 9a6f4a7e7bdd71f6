// The workflow engine: versioned definitions, instances advanced stage by stage inside the caller's
// transaction, delegation, and escalation of overdue steps. The caller (a subgraph) owns its documents and
// its own rules; the engine owns who may decide what, and when a route is finished.
import { Types } from 'mongoose';
import type { ClientSession, Connection } from 'mongoose';
import type { EventLog } from '../integration/events.ts';
import { DEFAULT_ESCALATION, escalationAssignees, resolveAssignees } from './assignees.ts';
import { conditionHolds } from './conditions.ts';
import { deepFreeze, definitionDigest, normalizeDefinition } from './definitions.ts';
import { WorkflowError } from './errors.ts';
import { delegationWindowProblem } from '../input-bounds.ts';
import { ensureCollections, toDefinition, toDelegation, toInstance, workflowModels } from './models.ts';
import type { DefinitionDoc, InstanceDoc, WorkflowModels } from './models.ts';
import { advance, applyCancel, applyDecision, stepDefinition, stepNeeding, timeLimitMs } from './progress.ts';
import type {
  Decision,
  Delegation,
  Directory,
  StageDefinition,
  StepState,
  SubjectFacts,
  WorkflowDefinition,
  WorkflowInstance,
} from './types.ts';
import { transaction } from '../integration/transactions.ts';

export { WorkflowError } from './errors.ts';
export type { WorkflowErrorCode } from './errors.ts';

export interface WorkflowEngineOptions {
  connection: Connection;
  directory: Directory;
  events: EventLog;
  /** The time the engine works with (decisions, due dates, delegation periods); tests pass a fake one. */
  clock?: () => Date;
}

export type DecisionOutcome = 'PENDING' | 'APPROVED' | 'REJECTED';

export interface DecisionResult {
  instance: WorkflowInstance;
  outcome: DecisionOutcome;
  step: StepState;
}

export const APPROVAL_ESCALATED = 'APPROVAL_ESCALATED';

/** Concurrent saves of one key retry this often before giving up. */
const SAVE_ATTEMPTS = 5;

function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}

function nonEmpty(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new WorkflowError('BAD_USER_INPUT', `${what} must be a non-empty string`);
  return value;
}

function checkFacts(facts: SubjectFacts): SubjectFacts {
  if (facts === null || typeof facts !== 'object') throw new WorkflowError('BAD_USER_INPUT', 'facts are required');
  const out: SubjectFacts = {
    initiatorId: nonEmpty(facts.initiatorId, 'facts.initiatorId'),
    departmentId: nonEmpty(facts.departmentId, 'facts.departmentId'),
  };
  if (facts.amountFen !== undefined) {
    // Integer fen only: a float amount would make "above the threshold" depend on rounding.
    if (!Number.isSafeInteger(facts.amountFen) || facts.amountFen < 0) {
      throw new WorkflowError('BAD_USER_INPUT', 'facts.amountFen must be a non-negative integer amount in fen');
    }
    out.amountFen = facts.amountFen;
  }
  if (facts.category !== undefined) out.category = nonEmpty(facts.category, 'facts.category');
  return out;
}

export class WorkflowEngine {
  private readonly connection: Connection;
  private readonly directory: Directory;
  private readonly events: EventLog;
  private readonly clock: () => Date;
  private readonly models: WorkflowModels;
  /** Stored versions never change, so each is read from the database once. */
  private readonly versions = new Map<string, WorkflowDefinition>();

  constructor(opts: WorkflowEngineOptions) {
    this.connection = opts.connection;
    this.directory = opts.directory;
    this.events = opts.events;
    this.clock = opts.clock ?? (() => new Date());
    this.models = workflowModels(opts.connection);
  }

  /** Creates the collections and indexes; call once at start-up, before any transaction uses them. */
  async init(): Promise<void> {
    await ensureCollections(this.models);
  }

  // ── Definitions ────────────────────────────────────────────────────────────────────────────────

  async saveDefinition(def: { key: string; name: string; stages: StageDefinition[] }): Promise<WorkflowDefinition> {
    const content = normalizeDefinition(def);
    const digest = definitionDigest(content);
    for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt++) {
      const latest = await this.latestDoc(content.key);
      if (latest?.digest === digest) return this.remember(latest);
      const doc: DefinitionDoc = { ...content, version: (latest?.version ?? 0) + 1, digest, createdAt: this.clock() };
      try {
        await this.models.definitions.create(doc);
        return this.remember(doc);
      } catch (err) {
        // Someone stored this version first: compare against theirs.
        if (!isDuplicateKey(err)) throw err;
      }
    }
    throw new WorkflowError('CONFLICT', `definition ${content.key} is being changed concurrently; try again`);
  }

  async latest(key: string): Promise<WorkflowDefinition | null> {
    const doc = await this.latestDoc(key);
    return doc ? this.remember(doc) : null;
  }

  async definition(key: string, version: number): Promise<WorkflowDefinition | null> {
    const cached = this.versions.get(`${key}@${version}`);
    if (cached) return cached;
    const doc = await this.models.definitions.findOne({ key, version }).lean<DefinitionDoc>();
    return doc ? this.remember(doc) : null;
  }

  private async latestDoc(key: string): Promise<DefinitionDoc | null> {
    return this.models.definitions.findOne({ key }).sort({ version: -1 }).lean<DefinitionDoc>();
  }

  private remember(doc: DefinitionDoc): WorkflowDefinition {
    const id = `${doc.key}@${doc.version}`;
    let def = this.versions.get(id);
    if (!def) {
      def = deepFreeze(toDefinition(structuredClone(doc)));
      this.versions.set(id, def);
    }
    return def;
  }

  private async definitionOf(instance: WorkflowInstance): Promise<WorkflowDefinition> {
    const def = await this.definition(instance.definitionKey, instance.definitionVersion);
    if (!def) throw new Error(`workflow definition ${instance.definitionKey} v${instance.definitionVersion} is missing`);
    return def;
  }

  // ── Instances ──────────────────────────────────────────────────────────────────────────────────

  async start(session: ClientSession, defKey: string, subject: { type: string; id: string }, facts: SubjectFacts): Promise<WorkflowInstance> {
    const subj = { type: nonEmpty(subject?.type, 'subject.type'), id: nonEmpty(subject?.id, 'subject.id') };
    const f = checkFacts(facts);
    const def = await this.latest(defKey);
    if (!def) throw new WorkflowError('NOT_FOUND', `no workflow definition ${defKey}`);
    const running = await this.models.instances.exists({ 'subject.type': subj.type, 'subject.id': subj.id, status: 'RUNNING' }).session(session);
    if (running) throw new WorkflowError('CONFLICT', `${subj.type} ${subj.id} already has a running approval`);

    const now = this.clock();
    const steps: StepState[] = [];
    for (const [stage, { steps: defs }] of def.stages.entries()) {
      for (const sd of defs) {
        const step: StepState = { key: sd.key, name: sd.name, mode: sd.mode, stage, status: 'SKIPPED', assigneeIds: [], decisions: [], escalations: 0 };
        steps.push(step);
        if (sd.when && !conditionHolds(sd.when, f)) continue;
        step.status = 'WAITING';
        // Every route is resolved up front: a missing approver fails the submission, not a later approval.
        step.assigneeIds = await resolveAssignees(sd.assignees, f, this.directory);
        if (step.assigneeIds.length === 0) {
          step.assigneeIds = await escalationAssignees(sd.escalation ?? DEFAULT_ESCALATION, f, [], this.directory);
          if (step.assigneeIds.length === 0) throw new WorkflowError('CONFLICT', `no approver for step ${sd.key}`);
          step.escalations = 1;
        }
      }
    }
    const instance: WorkflowInstance = {
      id: new Types.ObjectId().toHexString(),
      definitionKey: def.key,
      definitionVersion: def.version,
      subject: subj,
      facts: f,
      status: 'RUNNING',
      stage: 0,
      steps,
      createdAt: now,
    };
    advance(instance, def, now);
    try {
      await this.models.instances.create([{ ...this.fields(instance), _id: instance.id, rev: 0 }], { session });
    } catch (err) {
      if (isDuplicateKey(err)) throw new WorkflowError('CONFLICT', `${subj.type} ${subj.id} already has a running approval`);
      throw err;
    }
    return instance;
  }

  async decide(
    session: ClientSession,
    instanceId: string,
    actorId: string,
    decision: Decision,
    comment?: string,
  ): Promise<DecisionResult> {
    if (decision !== 'APPROVE' && decision !== 'REJECT') throw new WorkflowError('BAD_USER_INPUT', 'decision must be APPROVE or REJECT');
    if (comment !== undefined && typeof comment !== 'string') throw new WorkflowError('BAD_USER_INPUT', 'comment must be a string');
    nonEmpty(actorId, 'actorId');
    const { instance, rev } = await this.load(instanceId, session);
    if (instance.status !== 'RUNNING') throw new WorkflowError('CONFLICT', `approval is already ${instance.status}`);
    if (actorId === instance.facts.initiatorId) throw new WorkflowError('FORBIDDEN', 'the initiator cannot decide their own approval');

    const now = this.clock();
    const choice = stepNeeding(instance, actorId, await this.delegatorsOf(actorId, now, session));
    if (!choice) {
      const decidedBefore = instance.steps.some((s) => s.status === 'ACTIVE' && s.decisions.some((d) => d.approverId === actorId));
      throw new WorkflowError(
        'FORBIDDEN',
        decidedBefore ? `${actorId} has already decided this step` : `${actorId} is not an approver of the current step`,
      );
    }
    applyDecision(instance, await this.definitionOf(instance), choice, actorId, decision, comment, now);
    await this.save(session, instance, rev);
    const outcome: DecisionOutcome = instance.status === 'RUNNING' ? 'PENDING' : (instance.status as DecisionOutcome);
    return { instance, outcome, step: choice.step };
  }

  /** Ends a running instance. Whether the actor may (e.g. withdraw before any decision) is the caller's rule. */
  async cancel(session: ClientSession, instanceId: string, actorId: string): Promise<WorkflowInstance> {
    nonEmpty(actorId, 'actorId');
    const { instance, rev } = await this.load(instanceId, session);
    if (instance.status !== 'RUNNING') throw new WorkflowError('CONFLICT', `approval is already ${instance.status}`);
    applyCancel(instance, this.clock());
    await this.save(session, instance, rev, { cancelledBy: actorId });
    return instance;
  }

  async get(instanceId: string, session?: ClientSession): Promise<WorkflowInstance | null> {
    const doc = await this.models.instances.findById(instanceId, null, { session }).lean<InstanceDoc>();
    return doc ? toInstance(doc) : null;
  }

  /** Found instances in the order of `ids` (unknown ids left out); one query. */
  async getMany(ids: string[]): Promise<WorkflowInstance[]> {
    const wanted = [...new Set(ids)];
    if (wanted.length === 0) return [];
    // batchSize: one reply for the whole batch, no getMore past the 101st instance.
    const docs = await this.models.instances.find({ _id: { $in: wanted } }).batchSize(wanted.length).lean<InstanceDoc[]>();
    const byId = new Map(docs.map((d) => [d._id, d]));
    return wanted.flatMap((id) => {
      const doc = byId.get(id);
      return doc ? [toInstance(doc)] : [];
    });
  }

  /** Every instance (running and finished) of the subjects, oldest first; one query. */
  async forSubjects(type: string, ids: string[]): Promise<WorkflowInstance[]> {
    const wanted = [...new Set(ids)];
    if (wanted.length === 0) return [];
    const docs = await this.models.instances
      .find({ 'subject.type': type, 'subject.id': { $in: wanted } })
      .sort({ createdAt: 1, _id: 1 })
      .batchSize(wanted.length)
      .lean<InstanceDoc[]>();
    return docs.map(toInstance);
  }

  /** Running instances waiting for the employee's decision, in person or as a delegate; oldest first. */
  async pendingFor(employeeId: string): Promise<WorkflowInstance[]> {
    const delegators = await this.delegatorsOf(employeeId, this.clock());
    const docs = await this.models.instances
      .find({ status: 'RUNNING', steps: { $elemMatch: { status: 'ACTIVE', assigneeIds: { $in: [employeeId, ...delegators] } } } })
      .sort({ createdAt: 1, _id: 1 })
      .lean<InstanceDoc[]>();
    // The query finds candidates; stepNeeding drops steps they already decided and their own documents.
    return docs.map(toInstance).filter((instance) => stepNeeding(instance, employeeId, delegators) !== null);
  }

  /**
   * Ids of the subjects of a type that the employee was asked to decide: assignee of a step that has been
   * activated, decider of one (also as a delegate), or active delegate for an assignee of an active step.
   * Row-level scopes use it so approvers can read what they approve; two queries.
   */
  async subjectsAssignedTo(type: string, employeeId: string): Promise<string[]> {
    const delegators = await this.delegatorsOf(employeeId, this.clock());
    // One indexed query per case rather than one $or: the embedded engine reads an $or by scanning every instance
    // of the type, on every request of an approver. Each names its index (the indexed field is repeated beside the
    // $elemMatch, which no planner reads bounds from).
    const cases: [Record<string, unknown>, Record<string, 1>][] = [
      [{ 'steps.assigneeIds': employeeId, steps: { $elemMatch: { assigneeIds: employeeId, status: { $nin: ['WAITING', 'SKIPPED'] } } } }, { 'steps.assigneeIds': 1 }],
      [{ 'steps.decisions.approverId': employeeId }, { 'steps.decisions.approverId': 1 }],
    ];
    if (delegators.length) {
      cases.push([{ status: 'RUNNING', 'steps.assigneeIds': { $in: delegators }, steps: { $elemMatch: { status: 'ACTIVE', assigneeIds: { $in: delegators } } } }, { status: 1, 'steps.assigneeIds': 1 }]);
    }
    const found = await Promise.all(
      cases.map(([filter, hint]) => this.models.instances.find({ 'subject.type': type, ...filter }, { 'subject.id': 1, _id: 0 }).hint(hint).lean<{ subject: { id: string } }[]>()),
    );
    return [...new Set(found.flat().map((d) => String(d.subject.id)))].sort();
  }

  hasDecisions(instance: WorkflowInstance): boolean {
    return instance.steps.some((s) => s.decisions.length > 0);
  }

  private async load(instanceId: string, session: ClientSession): Promise<{ instance: WorkflowInstance; rev: number }> {
    const doc = typeof instanceId === 'string' ? await this.models.instances.findById(instanceId, null, { session }).lean<InstanceDoc>() : null;
    if (!doc) throw new WorkflowError('NOT_FOUND', `approval ${String(instanceId)} not found`);
    return { instance: toInstance(doc), rev: doc.rev };
  }

  private fields(instance: WorkflowInstance): Omit<InstanceDoc, '_id' | 'rev'> {
    const { id: _id, ...rest } = instance;
    return rest;
  }

  /**
   * Writes the instance only if nobody else wrote it since it was read. Inside a transaction the database's
   * write conflict usually catches this first; the check also covers sessions without a transaction.
   */
  private async save(session: ClientSession, instance: WorkflowInstance, rev: number, extra: { cancelledBy?: string } = {}): Promise<void> {
    const set: Record<string, unknown> = { status: instance.status, stage: instance.stage, steps: instance.steps, ...extra };
    if (instance.completedAt) set.completedAt = instance.completedAt;
    const result = await this.models.instances.updateOne({ _id: instance.id, rev }, { $set: set, $inc: { rev: 1 } }, { session });
    if (result.matchedCount !== 1) throw new WorkflowError('CONFLICT', 'the approval was changed meanwhile; try again');
  }

  // ── Escalation ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Escalates every active step whose due time has passed, each in its own transaction together with its
   * APPROVAL_ESCALATED event. A step that fails does not hold up the others; the failures are thrown together
   * afterwards. Safe to run from several processes: a step escalated meanwhile is no longer due.
   */
  async escalateDue(): Promise<number> {
    const now = this.clock();
    // `steps.dueAt` repeats what the $elemMatch implies, so the { status, steps.dueAt } index bounds the read to
    // instances with some step due (the $elemMatch alone read every running instance, twice over its multikey index).
    const due = await this.models.instances
      .find({ status: 'RUNNING', 'steps.dueAt': { $lte: now }, steps: { $elemMatch: { status: 'ACTIVE', dueAt: { $lte: now } } } }, { _id: 1, steps: 1 })
      .sort({ createdAt: 1, _id: 1 })
      .lean<Pick<InstanceDoc, '_id' | 'steps'>[]>();
    let escalated = 0;
    const failures: unknown[] = [];
    for (const doc of due) {
      for (const step of doc.steps) {
        if (step.status !== 'ACTIVE' || !step.dueAt || step.dueAt > now) continue;
        try {
          if (await this.escalateStep(doc._id, step.key, now)) escalated++;
        } catch (err) {
          failures.push(err);
        }
      }
    }
    if (failures.length) throw new AggregateError(failures, `${failures.length} escalation(s) failed, ${escalated} done`);
    return escalated;
  }

  private async escalateStep(instanceId: string, key: string, now: Date): Promise<boolean> {
    return transaction(this.connection, async (session) => {
      // Re-read inside the transaction: a decision or another escalation may have come first.
      const { instance, rev } = await this.load(instanceId, session);
      const step = instance.steps.find((s) => s.key === key);
      if (instance.status !== 'RUNNING' || !step || step.status !== 'ACTIVE' || !step.dueAt || step.dueAt > now) return false;
      const sd = stepDefinition(await this.definitionOf(instance), key);
      const limit = timeLimitMs(sd);
      if (!sd || limit === undefined) return false;
      const added = await escalationAssignees(sd.escalation ?? DEFAULT_ESCALATION, instance.facts, step.assigneeIds, this.directory);
      step.assigneeIds.push(...added);
      step.escalations += 1;
      step.dueAt = new Date(step.dueAt.getTime() + limit);
      await this.save(session, instance, rev);
      await this.events.append(session, {
        type: APPROVAL_ESCALATED,
        subject: instance.subject,
        actor: 'system',
        payload: { instanceId, step: key, addedAssigneeIds: added },
        occurredAt: now,
      });
      return true;
    });
  }

  // ── Delegation ─────────────────────────────────────────────────────────────────────────────────

  async delegate(fromId: string, toId: string, startsAt: Date, endsAt: Date): Promise<Delegation> {
    nonEmpty(fromId, 'fromId');
    nonEmpty(toId, 'toId');
    if (fromId === toId) throw new WorkflowError('BAD_USER_INPUT', 'an employee cannot delegate to themselves');
    const validDate = (d: unknown): d is Date => d instanceof Date && !Number.isNaN(d.getTime());
    if (!validDate(startsAt) || !validDate(endsAt)) throw new WorkflowError('BAD_USER_INPUT', 'startsAt and endsAt must be valid dates');
    const now = this.clock();
    // Bounds of the window: platform/input-bounds.ts (at most a year ahead, not over already).
    const problem = delegationWindowProblem(startsAt, endsAt, now);
    if (problem) throw new WorkflowError('BAD_USER_INPUT', problem.message, problem.field);
    const doc = { _id: new Types.ObjectId().toHexString(), fromId, toId, startsAt, endsAt, createdAt: now };
    await this.models.delegations.create(doc);
    return toDelegation(doc);
  }

  async delegations(fromId: string): Promise<Delegation[]> {
    const docs = await this.models.delegations.find({ fromId }).sort({ startsAt: 1, _id: 1 }).lean();
    return docs.map(toDelegation);
  }

  /** Employees for whom `toId` is an active delegate at `at` (period: startsAt inclusive, endsAt exclusive). */
  private async delegatorsOf(toId: string, at: Date, session?: ClientSession): Promise<string[]> {
    const docs = await this.models.delegations
      .find({ toId, startsAt: { $lte: at }, endsAt: { $gt: at } }, { fromId: 1 }, { session })
      .lean();
    return [...new Set(docs.map((d) => d.fromId))];
  }
}
