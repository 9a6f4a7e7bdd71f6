// Shared set-up of the archive lifecycle tests: an in-memory engine per file, the archive services over a mongoose
// connection that counts commands, a small organisation in the OA collections (read through oa's directory port),
// a clock the tests move by hand, and records filed through the filing service (so the fixity chain is real).
import { Types } from 'mongoose';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll } from 'vitest';
import { type RunningEngine, startEngine } from '../../../engine/index.ts';
import { EventLog } from '../../../platform/integration/events.ts';
import type { Principal, Role } from '../../../platform/identity.ts';
import { WorkflowEngine } from '../../../platform/workflow/engine.ts';
import { type ArchiveSettings, DEFAULT_CHART } from '../../../subgraphs/archive/context.ts';
import { fileRecord } from '../../../subgraphs/archive/filing.ts';
import { verifyChain } from '../../../subgraphs/archive/fixity.ts';
import { initArchiveLifecycle } from '../../../subgraphs/archive/lifecycle/init.ts';
import type { LifecycleServices } from '../../../subgraphs/archive/lifecycle/services.ts';
import { createArchiveLoaders } from '../../../subgraphs/archive/loaders.ts';
import { type ArchiveRecordDoc, archiveModels } from '../../../subgraphs/archive/models.ts';
import type { ArchiveKind } from '../../../subgraphs/archive/retention.ts';
import { oaPorts } from '../../../subgraphs/oa/ports.ts';

const hex = () => new Types.ObjectId().toHexString();

/**
 *   hq (unitHead): auditor
 *   ├── finance (finHead): accountant, finDirector
 *   ├── sales (salesHead): alice, bob
 *   ├── it (itHead)
 *   └── archive (archHead = archivist1): archivist1, archivist2 (ARCHIVIST), clerk
 */
export const DEPTS = { hq: hex(), finance: hex(), sales: hex(), it: hex(), archive: hex() };
export const PEOPLE = {
  unitHead: { id: hex(), dept: 'hq', roles: ['MANAGER'] },
  auditor: { id: hex(), dept: 'hq', roles: ['AUDITOR'] },
  finHead: { id: hex(), dept: 'finance', roles: ['MANAGER'] },
  accountant: { id: hex(), dept: 'finance', roles: ['ACCOUNTANT'] },
  finDirector: { id: hex(), dept: 'finance', roles: ['FINANCE_DIRECTOR'] },
  salesHead: { id: hex(), dept: 'sales', roles: ['MANAGER'] },
  alice: { id: hex(), dept: 'sales', roles: [] },
  bob: { id: hex(), dept: 'sales', roles: [] },
  itHead: { id: hex(), dept: 'it', roles: ['MANAGER'] },
  archivist1: { id: hex(), dept: 'archive', roles: ['ARCHIVIST'] },
  archivist2: { id: hex(), dept: 'archive', roles: ['ARCHIVIST'] },
  clerk: { id: hex(), dept: 'archive', roles: [] },
} satisfies Record<string, { id: string; dept: keyof typeof DEPTS; roles: Role[] }>;
export type Person = keyof typeof PEOPLE;

const MANAGERS: Record<keyof typeof DEPTS, Person> = { hq: 'unitHead', finance: 'finHead', sales: 'salesHead', it: 'itHead', archive: 'archivist1' };

/** The principal the gateway would forward for a person. */
export const who = (person: Person): Principal => {
  const p = PEOPLE[person];
  return { sub: p.id, roles: ['EMPLOYEE', ...(p.roles as Role[])], departmentId: DEPTS[p.dept], kind: 'user' };
};
export const SERVICE: Principal = { sub: 'archive-timer', roles: [], departmentId: null, kind: 'service' };

export const SETTINGS: ArchiveSettings = {
  fonds: 'Q001',
  timeZone: 'Asia/Shanghai',
  ...DEFAULT_CHART,
  financeDepartmentId: DEPTS.finance,
  unitHeadId: PEOPLE.unitHead.id,
  itDepartmentId: DEPTS.it,
};

export interface LifecycleFixture {
  readonly engine: RunningEngine;
  readonly connection: Connection;
  readonly svc: LifecycleServices;
  /** The fake clock's current time; tests set it. */
  now: Date;
  /** Commands sent since the last reset (names only). */
  readonly commands: Array<{ name: string; command: Record<string, unknown> }>;
  /** Files a record through the filing service (as archivist2) and returns it. */
  file(kind: ArchiveKind, fiscalYear: number, title?: string): Promise<ArchiveRecordDoc>;
  /** verifyChain over every record in chain order. */
  verifyChain(): ReturnType<typeof verifyChain>;
  /** Domain events of a type, oldest first. */
  eventsOf(type: string): Promise<Array<{ type: string; subject: { type: string; id: string }; payload: Record<string, unknown> }>>;
}

const IGNORED = new Set(['hello', 'ismaster', 'isMaster', 'endSessions', 'ping', 'saslStart', 'buildInfo']);

export function useLifecycle(label: string): LifecycleFixture {
  const fx = {
    now: new Date('2026-12-01T02:00:00Z'),
    commands: [] as Array<{ name: string; command: Record<string, unknown> }>,
  } as LifecycleFixture & { engine: RunningEngine; connection: Connection; svc: LifecycleServices };
  let titles = 0;

  beforeAll(async () => {
    fx.engine = await startEngine({ port: 0, dbPath: null });
    fx.connection = await mongoose.createConnection(fx.engine.uriFor(`arch_${label}`), { monitorCommands: true }).asPromise();
    fx.connection.getClient().on('commandStarted', (e) => {
      if (!IGNORED.has(e.commandName)) fx.commands.push({ name: e.commandName, command: e.command as Record<string, unknown> });
    });
    const db = fx.connection.db!;
    await db.collection('departments').insertMany(
      Object.entries(DEPTS).map(([code, id]) => ({
        _id: new Types.ObjectId(id),
        code: code.toUpperCase(),
        name: code,
        managerId: PEOPLE[MANAGERS[code as keyof typeof DEPTS]].id,
        parentId: code === 'hq' ? null : DEPTS.hq,
        createdAt: new Date(),
      })),
    );
    await db.collection('employees').insertMany(
      Object.entries(PEOPLE).map(([name, p], i) => ({
        _id: new Types.ObjectId(p.id),
        employeeNo: `E${String(i + 1).padStart(3, '0')}`,
        name,
        departmentId: DEPTS[p.dept],
        roles: ['EMPLOYEE', ...p.roles],
        createdAt: new Date(),
      })),
    );
    const models = archiveModels(fx.connection);
    await Promise.all(Object.values(models).map((m) => m.init()));
    const events = new EventLog(fx.connection);
    await events.events.init();
    await fx.connection.models.Counter?.init();
    const clock = () => new Date(fx.now);
    const directory = oaPorts(fx.connection).directory;
    const workflow = new WorkflowEngine({ connection: fx.connection, directory, events, clock });
    await workflow.init();
    fx.svc = { connection: fx.connection, models, workflow, events, settings: SETTINGS, directory, clock };
    await initArchiveLifecycle(fx.svc);
  });

  afterAll(async () => {
    await fx.connection?.close();
    await fx.engine?.close();
  });

  fx.file = async (kind, fiscalYear, title) => {
    const principal = who('archivist2');
    const n = ++titles;
    return fileRecord(
      { ...fx.svc, principal, loaders: createArchiveLoaders(fx.svc, principal) },
      { kind, fiscalYear, title: title ?? `${kind} ${fiscalYear} #${n}`, content: JSON.stringify({ n, kind, fiscalYear }), mediaType: 'application/json' },
    );
  };
  fx.verifyChain = () => verifyChain(fx.svc.models.ArchiveRecord.find().sort({ chainSeq: 1 }).lean<ArchiveRecordDoc[]>().cursor());
  fx.eventsOf = async (type) => (await fx.svc.events.events.find({ type }).sort({ seq: 1 }).lean()) as never;
  return fx;
}

/** The id of a document as the API uses it. */
export const idOf = (doc: { _id: { toHexString(): string } }) => doc._id.toHexString();

/** Runs `fn`, expecting it to reject; returns the rejection. */
export async function rejection(fn: () => Promise<unknown>): Promise<Error & { extensions?: { code?: string; refused?: Array<{ archiveNo: string; reasons: string[] }> } }> {
  try {
    await fn();
  } catch (err) {
    return err as never;
  }
  throw new Error('expected the operation to fail, but it succeeded');
}

export const codeOf = async (fn: () => Promise<unknown>): Promise<string | undefined> => (await rejection(fn)).extensions?.code;
