// Shared set-up of the workflow tests: an in-memory engine per file, a mongoose connection that counts
// commands, a small organisation, and a clock the test moves by hand.
import mongoose from 'mongoose';
import type { ClientSession, Connection } from 'mongoose';
import { afterAll, beforeAll } from 'vitest';
import { startEngine } from '../../engine/index.ts';
import type { RunningEngine } from '../../engine/index.ts';
import { EventLog } from '../../platform/integration/events.ts';
import type { Role } from '../../platform/identity.ts';
import { WorkflowEngine } from '../../platform/workflow/engine.ts';
import type { Directory } from '../../platform/workflow/types.ts';

/**
 *   hq (ceo)
 *   ├── ops (opsHead)
 *   │   └── sales (salesMgr): alice, bob
 *   └── fin (finMgr): acc1, acc2 (ACCOUNTANT), dir (FINANCE_DIRECTOR)
 */
export class OrgDirectory implements Directory {
  readonly departments = new Map<string, { parent: string | null; manager: string | null }>([
    ['hq', { parent: null, manager: 'ceo' }],
    ['ops', { parent: 'hq', manager: 'opsHead' }],
    ['sales', { parent: 'ops', manager: 'salesMgr' }],
    ['fin', { parent: 'hq', manager: 'finMgr' }],
  ]);
  readonly employees = new Map<string, { department: string; roles: Role[] }>([
    ['ceo', { department: 'hq', roles: ['MANAGER'] }],
    ['opsHead', { department: 'ops', roles: ['MANAGER'] }],
    ['salesMgr', { department: 'sales', roles: ['MANAGER'] }],
    ['alice', { department: 'sales', roles: ['EMPLOYEE'] }],
    ['bob', { department: 'sales', roles: ['EMPLOYEE'] }],
    ['finMgr', { department: 'fin', roles: ['MANAGER'] }],
    ['acc1', { department: 'fin', roles: ['ACCOUNTANT'] }],
    ['acc2', { department: 'fin', roles: ['ACCOUNTANT'] }],
    ['dir', { department: 'fin', roles: ['FINANCE_DIRECTOR'] }],
  ]);

  async managerOf(departmentId: string): Promise<string | null> {
    return this.departments.get(departmentId)?.manager ?? null;
  }
  async parentOf(departmentId: string): Promise<string | null> {
    return this.departments.get(departmentId)?.parent ?? null;
  }
  async departmentOf(employeeId: string): Promise<string | null> {
    return this.employees.get(employeeId)?.department ?? null;
  }
  async employeesWithRole(role: Role): Promise<string[]> {
    return [...this.employees].filter(([, e]) => e.roles.includes(role)).map(([id]) => id);
  }
}

export interface WorkflowFixture {
  readonly engine: RunningEngine;
  readonly connection: Connection;
  readonly events: EventLog;
  readonly directory: OrgDirectory;
  readonly wf: WorkflowEngine;
  /** The fake clock's current time; tests set it. */
  now: Date;
  /** Commands sent since the last reset (names only, handshakes and session ends left out). */
  readonly commands: string[];
  /** Runs fn in a transaction of the fixture's connection. */
  tx<T>(fn: (session: ClientSession) => Promise<T>): Promise<T>;
}

const IGNORED = new Set(['hello', 'ismaster', 'isMaster', 'endSessions', 'ping', 'saslStart', 'buildInfo']);

export function useWorkflow(dbName: string): WorkflowFixture {
  const fx = {
    now: new Date('2026-03-02T09:00:00Z'),
    commands: [] as string[],
  } as WorkflowFixture & { engine: RunningEngine; connection: Connection; events: EventLog; directory: OrgDirectory; wf: WorkflowEngine };

  beforeAll(async () => {
    fx.engine = await startEngine({ port: 0, dbPath: null });
    fx.connection = await mongoose.createConnection(fx.engine.uriFor(dbName), { monitorCommands: true }).asPromise();
    fx.connection.getClient().on('commandStarted', (e) => {
      if (!IGNORED.has(e.commandName)) fx.commands.push(e.commandName);
    });
    fx.events = new EventLog(fx.connection);
    await fx.events.events.init();
    await fx.connection.models.Counter?.init();
    fx.directory = new OrgDirectory();
    fx.wf = new WorkflowEngine({ connection: fx.connection, directory: fx.directory, events: fx.events, clock: () => new Date(fx.now) });
    await fx.wf.init();
  });

  afterAll(async () => {
    await fx.connection?.close();
    await fx.engine?.close();
  });

  fx.tx = <T>(fn: (session: ClientSession) => Promise<T>) => fx.connection.transaction(fn);
  return fx;
}

let subjects = 0;
/** A subject id unique within the test file. */
export const nextSubject = (type = 'ExpenseClaim') => ({ type, id: `s${++subjects}` });

export const HOUR = 3_600_000;
