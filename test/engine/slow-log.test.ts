// The slow-command log (engine/slow-log.ts): a command past the threshold is logged by command, namespace and
// filter shape, never a value from the filter or the documents (they hold bank account and ID numbers).
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningEngine, startEngine } from '../../engine/index.ts';
import { describeCommand, shapeOf } from '../../engine/slow-log.ts';

interface Line {
  obj: Record<string, unknown>;
  msg?: string;
}

function recordingLogger() {
  const lines: Line[] = [];
  const log = (obj: object, msg?: string) => void lines.push({ obj: obj as Record<string, unknown>, msg });
  return { lines, info: log, warn: log, error: log, debug: log };
}

const running: { engine?: RunningEngine; client?: MongoClient } = {};
afterAll(async () => {
  await running.client?.close();
  await running.engine?.close();
});

describe('slow-command log', () => {
  it('replaces every value by its type, nested operators and arrays included', () => {
    const due = new Date();
    expect(shapeOf({ status: 'RUNNING', 'steps.dueAt': { $lte: due }, n: 3, tags: ['a'], bank: null })).toEqual({
      status: 'string',
      'steps.dueAt': { $lte: 'date' },
      n: 'number',
      tags: ['string'],
      bank: 'null',
    });
    const line = describeCommand({ update: 'claims', $db: 'oa', updates: [{ q: { _id: 'x' }, u: { $set: { a: 1 } } }, { q: {}, u: {} }] }, 123.4);
    expect(line).toEqual({ command: 'update', ms: 123, ns: 'oa.claims', filter: { _id: 'string' }, statements: 2 });
    expect(describeCommand({ aggregate: 'jobs', $db: 's', pipeline: [{ $match: { a: 1 } }, { $group: { _id: '$b' } }] }, 5)).toMatchObject({ pipeline: ['$match', '$group'] });
  });

  it('logs a command past the threshold with its shape and without the values it carried', async () => {
    const logger = recordingLogger();
    // A threshold of 0 logs every command: the test does not depend on how fast this machine is.
    running.engine = await startEngine({ port: 0, dbPath: null, logger, slowMs: 0 });
    running.client = await new MongoClient(running.engine.uriFor('slow')).connect();
    const employees = running.client.db('slow').collection('employees');
    await employees.insertOne({ name: '张三', bankAccount: '6222020200112233445' });
    expect(await employees.findOne({ bankAccount: '6222020200112233445' })).toMatchObject({ name: '张三' });

    const slow = logger.lines.filter((l) => l.msg === 'slow command');
    const find = slow.find((l) => l.obj.command === 'find');
    expect(find?.obj).toMatchObject({ command: 'find', ns: 'slow.employees', filter: { bankAccount: 'string' } });
    expect(typeof find?.obj.ms).toBe('number');
    expect(slow.find((l) => l.obj.command === 'insert')?.obj).toMatchObject({ ns: 'slow.employees', documents: 1 });
    const text = JSON.stringify(logger.lines);
    expect(text).not.toContain('6222020200112233445');
    expect(text).not.toContain('张三');
  });

  it('logs nothing for commands under the threshold', async () => {
    const logger = recordingLogger();
    const engine = await startEngine({ port: 0, dbPath: null, logger, slowMs: 60_000 });
    const client = await new MongoClient(engine.uriFor('quick')).connect();
    try {
      await client.db('quick').collection('c').insertOne({ a: 1 });
      expect(await client.db('quick').collection('c').countDocuments({ a: 1 })).toBe(1);
      expect(logger.lines.filter((l) => l.msg === 'slow command')).toEqual([]);
    } finally {
      await client.close();
      await engine.close();
    }
  });
});
