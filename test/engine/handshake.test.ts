// The server presents itself as a single-node replica-set primary; server-information commands.
import { Long, MongoClient, ObjectId, type TopologyDescriptionChangedEvent } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { isEmbedded, useMongo } from '../helpers/mongo.ts';

const m = useMongo('handshake');

describe('hello / isMaster', () => {
  it('describes a writable replica-set primary', async () => {
    const hello = await m.client.db('admin').command({ hello: 1 });
    expect(hello.ok).toBe(1);
    expect(hello.isWritablePrimary).toBe(true);
    expect(hello.secondary).toBe(false);
    expect(typeof hello.setName).toBe('string');
    expect(hello.setName.length).toBeGreaterThan(0);
    expect(typeof hello.me).toBe('string');
    expect(hello.hosts).toContain(hello.me);
    expect(hello.primary).toBe(hello.me);
    expect(hello.electionId).toBeInstanceOf(ObjectId);
    expect(Number.isInteger(hello.setVersion)).toBe(true);
    expect(hello.setVersion).toBeGreaterThanOrEqual(1);
    expect(hello.logicalSessionTimeoutMinutes).toBe(30);
    expect(hello.maxBsonObjectSize).toBe(16 * 1024 * 1024);
    expect(hello.maxMessageSizeBytes).toBe(48_000_000);
    expect(hello.maxWriteBatchSize).toBe(100_000);
    expect(hello.localTime).toBeInstanceOf(Date);
    expect(Math.abs(hello.localTime.getTime() - Date.now())).toBeLessThan(60_000);
    expect(hello.maxWireVersion).toBeGreaterThanOrEqual(21); // MongoDB 7.0
    expect(hello.minWireVersion).toBe(0);
    expect(hello.readOnly).toBe(false);
    expect(hello.lastWrite.lastWriteDate).toBeInstanceOf(Date);
  });

  it('answers the legacy isMaster spelling with ismaster: true', async () => {
    const reply = await m.client.db('admin').command({ isMaster: 1 });
    expect(reply.ismaster).toBe(true);
    expect(reply.ok).toBe(1);
    expect(reply.hosts).toContain(reply.me);
  });

  it('lets the driver see a ReplicaSetWithPrimary topology', async () => {
    const events: TopologyDescriptionChangedEvent[] = [];
    const client = new MongoClient(m.uri, { serverSelectionTimeoutMS: 10_000 });
    client.on('topologyDescriptionChanged', (e) => events.push(e));
    try {
      await client.connect();
      await client.db('admin').command({ ping: 1 });
      const last = events.at(-1)!.newDescription;
      expect(last.type).toBe('ReplicaSetWithPrimary');
      const hello = await client.db('admin').command({ hello: 1 });
      expect(last.setName).toBe(hello.setName);
      const primaries = [...last.servers.values()].filter((s) => s.type === 'RSPrimary');
      expect(primaries.map((s) => s.address)).toEqual([hello.me]);
    } finally {
      await client.close();
    }
  });
});

describe.runIf(isEmbedded)('hello addresses (embedded engine only)', () => {
  it('names rs0 and its own 127.0.0.1:PORT address', async () => {
    const hello = await m.client.db('admin').command({ hello: 1 });
    expect(hello.setName).toBe('rs0');
    expect(hello.me).toBe(`127.0.0.1:${m.engine!.port}`);
    expect(hello.hosts).toEqual([`127.0.0.1:${m.engine!.port}`]);
    expect(hello.primary).toBe(`127.0.0.1:${m.engine!.port}`);
    expect(m.engine!.address).toBe(`127.0.0.1:${m.engine!.port}`);
    expect(m.engine!.safeUri).toBe(`mongodb://oa-archive:***@127.0.0.1:${m.engine!.port}/?authSource=admin`);
  });

  it('connects with an ordinary mongodb://USER:PASSWORD@127.0.0.1:PORT/db?authSource=admin URI', async () => {
    const { username, password } = m.engine!.credentials;
    const client = new MongoClient(`mongodb://${username}:${encodeURIComponent(password)}@127.0.0.1:${m.engine!.port}/${m.dbName}?authSource=admin`);
    try {
      await client.connect();
      await client.db().collection('uri').insertOne({ via: 'uri' });
      expect(client.db().databaseName).toBe(m.dbName);
      expect(await m.db.collection('uri').findOne({}, { projection: { _id: 0 } })).toEqual({ via: 'uri' });
    } finally {
      await client.close();
    }
  });
});

describe('server information', () => {
  it('answers ping', async () => {
    expect(await m.client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
  });

  it('answers buildInfo with a version string and array', async () => {
    const info = await m.client.db('admin').command({ buildInfo: 1 });
    expect(info.ok).toBe(1);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Number(info.version.split('.')[0])).toBeGreaterThanOrEqual(7);
    expect(info.versionArray.slice(0, 3)).toEqual(info.version.split(/[.-]/).slice(0, 3).map(Number));
    expect(info.bits).toBe(64);
    expect(info.maxBsonObjectSize).toBe(16 * 1024 * 1024);
  });

  it('answers serverStatus with connections and uptime', async () => {
    const other = await m.newClient();
    await other.db('admin').command({ ping: 1 });
    const status = await m.client.db('admin').command({ serverStatus: 1 });
    expect(status.ok).toBe(1);
    expect(typeof status.host).toBe('string');
    expect(status.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(status.uptime).toBeGreaterThanOrEqual(0);
    expect(status.uptimeMillis).toBeGreaterThanOrEqual(0);
    expect(status.localTime).toBeInstanceOf(Date);
    // Both clients hold at least a monitoring connection and a pooled one.
    expect(status.connections.current).toBeGreaterThanOrEqual(2);
    expect(status.connections.totalCreated).toBeGreaterThanOrEqual(status.connections.current);
    expect(status.connections.available).toBeGreaterThan(0);
    expect(status.opcounters.command).toBeGreaterThan(0);
  });

  it('counts uptime from the start of the server', async () => {
    const a = await m.client.db('admin').command({ serverStatus: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    const b = await m.client.db('admin').command({ serverStatus: 1 });
    expect(Number(b.uptimeMillis) - Number(a.uptimeMillis)).toBeGreaterThanOrEqual(1000);
  });

  it('lists databases that hold data, by name and with nameOnly', async () => {
    await m.db.collection('present').insertOne({ x: 1 });
    const list = await m.client.db('admin').admin().listDatabases();
    const mine = list.databases.find((d) => d.name === m.dbName);
    expect(mine).toMatchObject({ name: m.dbName, empty: false });
    expect(typeof mine!.sizeOnDisk).toBe('number');
    expect(typeof list.totalSize).toBe('number');
    const names = await m.client.db('admin').command({ listDatabases: 1, nameOnly: true });
    expect(names.databases.map((d: { name: string }) => d.name)).toContain(m.dbName);
    for (const d of names.databases) expect(Object.keys(d)).toEqual(['name']);
    const filtered = await m.client.db('admin').command({ listDatabases: 1, filter: { name: m.dbName } });
    expect(filtered.databases.map((d: { name: string }) => d.name)).toEqual([m.dbName]);
  });

  it('reports cursor ids as int64 in raw command replies', async () => {
    const coll = m.db.collection('longs');
    await coll.insertMany(Array.from({ length: 5 }, (_, i) => ({ i })));
    const session = m.client.startSession();
    try {
      const reply = await m.db.command({ find: 'longs', batchSize: 2 }, { session, promoteLongs: false });
      expect(reply.cursor.id).toBeInstanceOf(Long);
      expect(reply.cursor.id.isZero()).toBe(false);
      await m.db.command({ killCursors: 'longs', cursors: [reply.cursor.id] }, { session });
    } finally {
      await session.endSession();
    }
  });
});
