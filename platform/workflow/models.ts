// Storage of the workflow engine: definitions (immutable versions), instances (each carries its own step
// state, so it never depends on later definition versions) and delegations.
import { Schema } from 'mongoose';
import type { Connection, Model } from 'mongoose';
import type { Delegation, InstanceStatus, StageDefinition, StepState, SubjectFacts, WorkflowDefinition, WorkflowInstance } from './types.ts';

export interface DefinitionDoc {
  key: string;
  version: number;
  name: string;
  stages: StageDefinition[];
  /** SHA-256 of the canonical content: a save with the same digest as the latest stores nothing. */
  digest: string;
  createdAt: Date;
}

export interface InstanceDoc {
  _id: string;
  definitionKey: string;
  definitionVersion: number;
  subject: { type: string; id: string };
  facts: SubjectFacts;
  status: InstanceStatus;
  stage: number;
  steps: StepState[];
  createdAt: Date;
  completedAt?: Date;
  cancelledBy?: string;
  /** Bumped on every write; writes filter on it so two deciders cannot both apply. */
  rev: number;
}

export interface DelegationDoc {
  _id: string;
  fromId: string;
  toId: string;
  startsAt: Date;
  endsAt: Date;
  createdAt: Date;
}

// Collections and indexes are created by WorkflowEngine.init(), not lazily: catalog changes do not belong
// inside the callers' transactions.
const explicit = { versionKey: false, autoIndex: false, autoCreate: false } as const;

const definitionSchema = new Schema<DefinitionDoc>(
  {
    key: { type: String, required: true },
    version: { type: Number, required: true },
    name: { type: String, required: true },
    // Stored as given (already canonical): a schema here would reshape rules and conditions.
    stages: { type: Schema.Types.Mixed, required: true },
    digest: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { ...explicit, collection: 'workflow_definitions', minimize: false },
);
definitionSchema.index({ key: 1, version: 1 }, { unique: true });

const decisionSchema = new Schema(
  {
    approverId: { type: String, required: true },
    onBehalfOf: String,
    decision: { type: String, enum: ['APPROVE', 'REJECT'], required: true },
    comment: String,
    decidedAt: { type: Date, required: true },
  },
  { _id: false },
);

const stepSchema = new Schema(
  {
    key: { type: String, required: true },
    name: { type: String, required: true },
    mode: { type: String, enum: ['ANY', 'ALL'], required: true },
    stage: { type: Number, required: true },
    status: { type: String, enum: ['WAITING', 'ACTIVE', 'APPROVED', 'REJECTED', 'SKIPPED', 'CANCELLED'], required: true },
    assigneeIds: { type: [String], default: [] },
    decisions: { type: [decisionSchema], default: [] },
    activatedAt: Date,
    dueAt: Date,
    escalations: { type: Number, default: 0 },
  },
  { _id: false },
);

const factsSchema = new Schema(
  {
    initiatorId: { type: String, required: true },
    departmentId: { type: String, required: true },
    amountFen: Number,
    category: String,
  },
  { _id: false },
);

const instanceSchema = new Schema<InstanceDoc>(
  {
    _id: { type: String, required: true },
    definitionKey: { type: String, required: true },
    definitionVersion: { type: Number, required: true },
    subject: { type: { type: String, required: true }, id: { type: String, required: true } },
    facts: { type: factsSchema, required: true },
    status: { type: String, enum: ['RUNNING', 'APPROVED', 'REJECTED', 'CANCELLED'], required: true },
    stage: { type: Number, required: true },
    steps: { type: [stepSchema], default: [] },
    createdAt: { type: Date, required: true },
    completedAt: Date,
    cancelledBy: String,
    rev: { type: Number, required: true },
  },
  { ...explicit, collection: 'workflow_instances' },
);
instanceSchema.index({ 'subject.type': 1, 'subject.id': 1, createdAt: 1 });
// A subject has at most one running approval: a double submit fails instead of starting a second route.
instanceSchema.index(
  { 'subject.type': 1, 'subject.id': 1 },
  { unique: true, partialFilterExpression: { status: 'RUNNING' }, name: 'one_running_per_subject' },
);
instanceSchema.index({ status: 1, 'steps.assigneeIds': 1 });
instanceSchema.index({ status: 1, 'steps.dueAt': 1 });
// subjectsAssignedTo: everything an employee was asked to decide, finished or not.
instanceSchema.index({ 'steps.assigneeIds': 1 });
instanceSchema.index({ 'steps.decisions.approverId': 1 });

const delegationSchema = new Schema<DelegationDoc>(
  {
    _id: { type: String, required: true },
    fromId: { type: String, required: true },
    toId: { type: String, required: true },
    startsAt: { type: Date, required: true },
    endsAt: { type: Date, required: true },
    createdAt: { type: Date, required: true },
  },
  { ...explicit, collection: 'workflow_delegations' },
);
delegationSchema.index({ toId: 1, startsAt: 1 });
delegationSchema.index({ fromId: 1, startsAt: 1 });

export interface WorkflowModels {
  definitions: Model<DefinitionDoc>;
  instances: Model<InstanceDoc>;
  delegations: Model<DelegationDoc>;
}

function modelOn<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

export function workflowModels(connection: Connection): WorkflowModels {
  return {
    definitions: modelOn(connection, 'WorkflowDefinition', definitionSchema),
    instances: modelOn(connection, 'WorkflowInstance', instanceSchema),
    delegations: modelOn(connection, 'WorkflowDelegation', delegationSchema),
  };
}

export async function ensureCollections(models: WorkflowModels): Promise<void> {
  for (const model of [models.definitions, models.instances, models.delegations] as Model<unknown>[]) {
    await model.createCollection();
    await model.createIndexes();
  }
}

// Lean documents to the public shapes: fresh objects, optional fields only when stored.

export function toInstance(doc: InstanceDoc): WorkflowInstance {
  const f = doc.facts;
  const instance: WorkflowInstance = {
    id: doc._id,
    definitionKey: doc.definitionKey,
    definitionVersion: doc.definitionVersion,
    subject: { type: doc.subject.type, id: doc.subject.id },
    facts: {
      initiatorId: f.initiatorId,
      departmentId: f.departmentId,
      ...(f.amountFen != null && { amountFen: f.amountFen }),
      ...(f.category != null && { category: f.category }),
    },
    status: doc.status,
    stage: doc.stage,
    steps: doc.steps.map(toStep),
    createdAt: doc.createdAt,
  };
  if (doc.completedAt != null) instance.completedAt = doc.completedAt;
  return instance;
}

function toStep(s: StepState): StepState {
  const step: StepState = {
    key: s.key,
    name: s.name,
    mode: s.mode,
    stage: s.stage,
    status: s.status,
    assigneeIds: [...(s.assigneeIds ?? [])],
    decisions: (s.decisions ?? []).map((d) => ({
      approverId: d.approverId,
      ...(d.onBehalfOf != null && { onBehalfOf: d.onBehalfOf }),
      decision: d.decision,
      ...(d.comment != null && { comment: d.comment }),
      decidedAt: d.decidedAt,
    })),
    escalations: s.escalations ?? 0,
  };
  if (s.activatedAt != null) step.activatedAt = s.activatedAt;
  if (s.dueAt != null) step.dueAt = s.dueAt;
  return step;
}

export function toDefinition(doc: DefinitionDoc): WorkflowDefinition {
  return { key: doc.key, version: doc.version, name: doc.name, stages: doc.stages, createdAt: doc.createdAt };
}

export function toDelegation(doc: DelegationDoc): Delegation {
  return { id: doc._id, fromId: doc.fromId, toId: doc.toId, startsAt: doc.startsAt, endsAt: doc.endsAt };
}
