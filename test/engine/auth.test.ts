// Authentication (embedded engine only): a connection does nothing but the handshake and SCRAM-SHA-256 until it
// has authenticated as the engine's user; the credentials live in DATA_DIR (mode 0600) and survive restarts.
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Binary } from 'bson';
import { MongoClient, MongoServerError } from 'mongodb';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type RunningEngine, startEngine } from '../../engine/index.ts';
import { isEmbedded, rejection } from '../helpers/mongo.ts';
import { type Doc, OP_MSG, OP_REPLY, RawConnection, opMsg, opQuery, payloadText, scramClient } from './raw-wire.ts';

const dirs: string[] = [];
const clients: MongoClient[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'engine-auth-'));
  dirs.push(dir);
  return dir;
}

async function connect(uri: string): Promise<MongoClient> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  clients.push(client);
  await client.connect();
  return client;
}

/** A client with no credentials at all: it connects (the handshake needs none) but may run nothing else. */
async function anonymous(engine: RunningEngine): Promise<MongoClient> {
  return connect(`mongodb://${engine.address}/`);
}

function withPassword(engine: RunningEngine, username: string, password: string, dbName = ''): string {
  return `mongodb://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${engine.address}/${dbName}?authSource=admin`;
}

function recordingLogger() {
  const lines: string[] = [];
  const at = (level: string) => (obj: object, msg?: string) => lines.push(JSON.stringify({ level, msg, ...obj }));
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

const mode = (file: string) => fs.statSync(file).mode & 0o777;

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function command(conn: RawConnection, body: Doc): Promise<Doc> {
  const reply = await conn.request(opMsg(body));
  expect(reply.opCode).toBe(OP_MSG);
  return reply.documents[0];
}

// ---------------------------------------------------------------------------------------------------------

describe.runIf(isEmbedded)('authentication (embedded engine only)', () => {
  let engine: RunningEngine;
  let authed: MongoClient;
  const logger = recordingLogger();

  beforeAll(async () => {
    engine = await startEngine({ port: 0, dbPath: null, logger });
    authed = await connect(engine.uri);
    await authed.db('bank').collection('accounts').insertOne({ _id: 'acct-1' as never, holder: 'Li Lei', accountNumber: '6222020200112233445', idNumber: '110101199003071234' });
  });
  afterAll(async () => {
    await engine?.close();
  });

  describe('a connection that has not authenticated', () => {
    it('says hello, pings and reads buildInfo and connectionStatus, with a driver that has no credentials', async () => {
      const client = await anonymous(engine);
      const admin = client.db('admin');
      expect(await admin.command({ hello: 1 })).toMatchObject({ ok: 1, isWritablePrimary: true });
      expect(await admin.command({ ping: 1 })).toMatchObject({ ok: 1 });
      expect(await admin.command({ buildInfo: 1 })).toMatchObject({ ok: 1, version: '7.0.14' });
      expect(await admin.command({ connectionStatus: 1 })).toMatchObject({ ok: 1, authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] } });
    });

    it('gets Unauthorized (13) for everything else: reads, writes, the catalog, server status, transactions', async () => {
      const client = await anonymous(engine);
      const db = client.db('bank');
      const expectUnauthorized = async (name: string, fn: () => Promise<unknown>) => {
        const err = await rejection(fn);
        expect(err).toBeInstanceOf(MongoServerError);
        expect({ code: err.code, codeName: err.codeName, message: err.message }).toEqual({ code: 13, codeName: 'Unauthorized', message: `Command ${name} requires authentication` });
      };
      await expectUnauthorized('find', () => db.collection('accounts').findOne({}));
      await expectUnauthorized('insert', () => db.collection('accounts').insertOne({ _id: 'evil' as never }));
      await expectUnauthorized('update', () => db.collection('accounts').updateOne({}, { $set: { holder: 'Mallory' } }));
      await expectUnauthorized('delete', () => db.collection('accounts').deleteMany({}));
      await expectUnauthorized('aggregate', () => db.collection('accounts').aggregate([]).toArray());
      await expectUnauthorized('count', () => db.command({ count: 'accounts' }));
      await expectUnauthorized('listDatabases', () => client.db('admin').admin().listDatabases());
      await expectUnauthorized('listCollections', () => db.listCollections().toArray());
      await expectUnauthorized('listIndexes', () => db.collection('accounts').listIndexes().toArray());
      await expectUnauthorized('createIndexes', () => db.collection('accounts').createIndex({ holder: 1 }));
      await expectUnauthorized('drop', () => db.collection('accounts').drop());
      await expectUnauthorized('dropDatabase', () => db.dropDatabase());
      await expectUnauthorized('serverStatus', () => client.db('admin').command({ serverStatus: 1 }));
      await expectUnauthorized('getCmdLineOpts', () => client.db('admin').command({ getCmdLineOpts: 1 }));
      await expectUnauthorized('whatsmyuri', () => client.db('admin').command({ whatsmyuri: 1 }));
      await expectUnauthorized('commitTransaction', () => client.db('admin').command({ commitTransaction: 1 }));
      await expectUnauthorized('endSessions', () => client.db('admin').command({ endSessions: [] }));
      // A name that is no command at all is reported as such, as MongoDB does.
      expect(await rejection(() => client.db('admin').command({ noSuchThing: 1 }))).toMatchObject({ code: 59 });

      // Nothing changed: the authenticated client sees the one document, untouched.
      expect(await authed.db('bank').collection('accounts').find({}).toArray()).toEqual([
        { _id: 'acct-1', holder: 'Li Lei', accountNumber: '6222020200112233445', idNumber: '110101199003071234' },
      ]);
    });

    it('gets Unauthorized over raw OP_MSG, while hello answers, also as the legacy OP_QUERY handshake', async () => {
      const conn = await RawConnection.open(engine.host, engine.port);
      try {
        const legacy = await conn.request(opQuery('admin.$cmd', { isMaster: 1 }));
        expect(legacy.opCode).toBe(OP_REPLY);
        expect(legacy.documents[0]).toMatchObject({ ok: 1, ismaster: true });
        expect(await command(conn, { hello: 1, $db: 'admin' })).toMatchObject({ ok: 1, isWritablePrimary: true });
        for (const body of [
          { find: 'accounts', filter: {}, $db: 'bank' },
          { insert: 'accounts', documents: [{ _id: 'raw', holder: 'Mallory' }], $db: 'bank' },
          { update: 'accounts', updates: [{ q: {}, u: { $set: { holder: 'Mallory' } } }], $db: 'bank' },
          { listDatabases: 1, $db: 'admin' },
          { getMore: 1, collection: 'accounts', $db: 'bank' },
        ]) {
          const name = Object.keys(body)[0];
          expect(await command(conn, body)).toMatchObject({ ok: 0, code: 13, codeName: 'Unauthorized', errmsg: `Command ${name} requires authentication` });
        }
        // A legacy OP_QUERY other than the handshake is refused as before.
        const legacyFind = await conn.request(opQuery('bank.$cmd', { find: 'accounts' }));
        expect(legacyFind.documents[0]).toMatchObject({ ok: 0, code: 352 });
      } finally {
        conn.close();
      }
      expect(await authed.db('bank').collection('accounts').countDocuments({})).toBe(1);
    });

    it('cannot continue a conversation it never started, nor use another mechanism', async () => {
      const conn = await RawConnection.open(engine.host, engine.port);
      try {
        expect(await command(conn, { saslContinue: 1, conversationId: 1, payload: new Binary(Buffer.from('c=biws')), $db: 'admin' })).toMatchObject({
          ok: 0,
          code: 17,
          codeName: 'ProtocolError',
        });
        expect(await command(conn, { saslStart: 1, mechanism: 'PLAIN', payload: new Binary(Buffer.from('\0oa-archive\0x')), $db: 'admin' })).toMatchObject({
          ok: 0,
          code: 334,
          codeName: 'MechanismUnavailable',
        });
        expect(await command(conn, { find: 'accounts', $db: 'bank' })).toMatchObject({ ok: 0, code: 13 });
      } finally {
        conn.close();
      }
    });
  });

  describe('SCRAM-SHA-256', () => {
    it('lets the driver in with the right password (speculative authentication in the handshake, one round trip less)', async () => {
      const client = new MongoClient(engine.uri, { serverSelectionTimeoutMS: 5000 });
      clients.push(client);
      await client.connect();
      expect(await client.db('bank').collection('accounts').findOne({ _id: 'acct-1' as never })).toMatchObject({ holder: 'Li Lei' });
      const status = await client.db('admin').command({ connectionStatus: 1, showPrivileges: true });
      expect(status.authInfo).toEqual({
        authenticatedUsers: [{ user: 'oa-archive', db: 'admin' }],
        authenticatedUserRoles: [{ role: 'root', db: 'admin' }],
        authenticatedUserPrivileges: [{ resource: { anyResource: true }, actions: ['anyAction'] }],
      });
      const hello = await client.db('admin').command({ hello: 1, saslSupportedMechs: 'admin.oa-archive' });
      expect(hello.saslSupportedMechs).toEqual(['SCRAM-SHA-256']);
    });

    it('the driver authenticates in its handshake (speculativeAuthenticate) and one saslContinue, with no saslStart', async () => {
      const spied = new Engine({ port: 0, dbPath: null });
      const seen: string[] = [];
      // The socket path (private): every command a connection sends passes through it.
      const socketPath = spied as unknown as { serve(body: Record<string, unknown>, connectionId: number): unknown };
      const serve = socketPath.serve.bind(spied);
      socketPath.serve = (body, connectionId) => {
        seen.push(Object.keys(body)[0]);
        return serve(body, connectionId);
      };
      const running = await spied.listen();
      try {
        const client = await connect(running.uri);
        await client.db('admin').command({ ping: 1 });
        await client.close();
        expect(seen).not.toContain('saslStart');
        expect(seen.filter((n) => n === 'saslContinue').length).toBeGreaterThanOrEqual(1);
        expect(seen.indexOf('saslContinue')).toBeLessThan(seen.indexOf('ping'));
      } finally {
        await running.close();
      }
    });

    it('answers speculativeAuthenticate in hello as MongoDB does', async () => {
      const conn = await RawConnection.open(engine.host, engine.port);
      try {
        const scram = scramClient('oa-archive', engine.credentials.password);
        const hello = await command(conn, {
          hello: 1,
          saslSupportedMechs: 'admin.oa-archive',
          speculativeAuthenticate: { saslStart: 1, mechanism: 'SCRAM-SHA-256', payload: scram.first, autoAuthorize: 1, options: { skipEmptyExchange: true }, db: 'admin' },
          $db: 'admin',
        });
        expect(hello).toMatchObject({ ok: 1, saslSupportedMechs: ['SCRAM-SHA-256'], speculativeAuthenticate: { conversationId: 1, done: false } });
        const serverFirst = payloadText((hello.speculativeAuthenticate as Doc).payload);
        expect(serverFirst).toMatch(/^r=[^,]+,s=[A-Za-z0-9+/=]+,i=15000$/);
        const done = await command(conn, { saslContinue: 1, conversationId: 1, payload: scram.final(serverFirst), $db: 'admin' });
        // skipEmptyExchange: the server signature and done together.
        expect(done).toMatchObject({ ok: 1, conversationId: 1, done: true });
        expect(payloadText(done.payload)).toBe(scram.expectedServerSignature);
        expect(await command(conn, { count: 'accounts', $db: 'bank' })).toMatchObject({ ok: 1, n: 1 });
      } finally {
        conn.close();
      }
    });

    it('runs the three-round conversation (saslStart, proof, empty round) and authenticates only at its end', async () => {
      const conn = await RawConnection.open(engine.host, engine.port);
      try {
        const scram = scramClient('oa-archive', engine.credentials.password);
        const start = await command(conn, { saslStart: 1, mechanism: 'SCRAM-SHA-256', payload: scram.first, autoAuthorize: 1, $db: 'admin' });
        expect(start).toMatchObject({ ok: 1, conversationId: 1, done: false });
        const second = await command(conn, { saslContinue: 1, conversationId: 1, payload: scram.final(payloadText(start.payload)), $db: 'admin' });
        expect(second).toMatchObject({ ok: 1, conversationId: 1, done: false });
        expect(payloadText(second.payload)).toBe(scram.expectedServerSignature);
        expect(await command(conn, { find: 'accounts', $db: 'bank' })).toMatchObject({ ok: 0, code: 13 });
        const last = await command(conn, { saslContinue: 1, conversationId: 1, payload: new Binary(Buffer.alloc(0)), $db: 'admin' });
        expect(last).toMatchObject({ ok: 1, conversationId: 1, done: true });
        expect(await command(conn, { count: 'accounts', $db: 'bank' })).toMatchObject({ ok: 1, n: 1 });
        // logout: the connection is anonymous again.
        expect(await command(conn, { logout: 1, $db: 'admin' })).toMatchObject({ ok: 1 });
        expect(await command(conn, { count: 'accounts', $db: 'bank' })).toMatchObject({ ok: 0, code: 13 });
      } finally {
        conn.close();
      }
    });

    it('refuses a wrong password and an unknown user alike: AuthenticationFailed (18), "Authentication failed.", nothing readable', async () => {
      const wrong = await rejection(() => connect(withPassword(engine, 'oa-archive', `${engine.credentials.password}x`)));
      const unknown = await rejection(() => connect(withPassword(engine, 'root', engine.credentials.password)));
      const elsewhere = await rejection(() => connect(`mongodb://oa-archive:${encodeURIComponent(engine.credentials.password)}@${engine.address}/bank`)); // authSource bank: no such user there
      for (const err of [wrong, unknown, elsewhere]) {
        expect(err).toBeInstanceOf(MongoServerError);
        expect({ code: err.code, codeName: err.codeName, message: err.message }).toEqual({ code: 18, codeName: 'AuthenticationFailed', message: 'Authentication failed.' });
      }
      // By hand, the failure comes at the same step for both: the proof.
      for (const [user, password] of [['oa-archive', 'not-the-password'], ['nobody', 'not-the-password']]) {
        const conn = await RawConnection.open(engine.host, engine.port);
        try {
          const scram = scramClient(user, password);
          const start = await command(conn, { saslStart: 1, mechanism: 'SCRAM-SHA-256', payload: scram.first, $db: 'admin' });
          expect(start).toMatchObject({ ok: 1, done: false });
          const proof = await command(conn, { saslContinue: 1, conversationId: 1, payload: scram.final(payloadText(start.payload)), $db: 'admin' });
          expect(proof).toMatchObject({ ok: 0, code: 18, codeName: 'AuthenticationFailed', errmsg: 'Authentication failed.' });
          expect(await command(conn, { find: 'accounts', $db: 'bank' })).toMatchObject({ ok: 0, code: 13 });
        } finally {
          conn.close();
        }
      }
    });

    it('lets mongoose connect with the credentials, and not without them', async () => {
      const conn = await mongoose.createConnection(engine.uriFor('bank'), { serverSelectionTimeoutMS: 5000 }).asPromise();
      try {
        const Account = conn.model('Account', new mongoose.Schema({ _id: String, holder: String }), 'accounts');
        expect((await Account.findById('acct-1').lean())?.holder).toBe('Li Lei');
      } finally {
        await conn.close();
      }
      const bare = mongoose.createConnection(`mongodb://${engine.address}/bank`, { serverSelectionTimeoutMS: 5000 });
      try {
        await bare.asPromise();
        const err = await rejection(() => bare.collection('accounts').findOne({}));
        expect(err).toMatchObject({ code: 13 });
      } finally {
        await bare.close();
      }
    });

    it('gates Engine.execute by connection; executeTrusted is the in-process way in', async () => {
      const inProcess = new Engine({ port: 0, dbPath: null });
      const running = await inProcess.listen();
      try {
        expect(inProcess.execute({ find: 'accounts', $db: 'bank' }, 4242)).toMatchObject({ ok: 0, code: 13 });
        expect(inProcess.executeTrusted({ insert: 'accounts', documents: [{ _id: 1 }], $db: 'bank' })).toMatchObject({ ok: 1, n: 1 });
        expect(inProcess.executeTrusted({ count: 'accounts', $db: 'bank' })).toMatchObject({ ok: 1, n: 1 });
      } finally {
        await running.close();
      }
    });

    it('makes up a new random password for every memory-only start: 40 letters and digits', async () => {
      const other = await startEngine({ port: 0, dbPath: null });
      try {
        for (const e of [engine, other]) {
          expect(e.credentials).toMatchObject({ username: 'oa-archive', authSource: 'admin', mechanism: 'SCRAM-SHA-256' });
          expect(e.credentials.password).toMatch(/^[A-Za-z0-9]{40}$/);
          expect(e.credentialsPath).toBeNull();
        }
        expect(other.credentials.password).not.toBe(engine.credentials.password);
        expect(await rejection(() => connect(withPassword(other, 'oa-archive', engine.credentials.password)))).toMatchObject({ code: 18 });
      } finally {
        await other.close();
      }
    });

    it('never logs the password', async () => {
      expect(logger.lines.length).toBeGreaterThan(0);
      expect(logger.lines.join('\n')).not.toContain(engine.credentials.password);
      expect(logger.lines.join('\n')).toContain(`mongodb://oa-archive:***@${engine.address}/?authSource=admin`);
    });
  });

  describe('credentials in the data directory', () => {
    it('creates users.json and credentials.json with mode 0600 on the first start, and reuses them afterwards', async () => {
      const dir = path.join(await tempDir(), 'data');
      const log = recordingLogger();
      const first = await startEngine({ port: 0, dbPath: dir, logger: log });
      const credentialsPath = path.join(dir, 'credentials.json');
      const usersPath = path.join(dir, 'users.json');
      let password: string;
      try {
        expect(first.credentialsPath).toBe(credentialsPath);
        expect(mode(credentialsPath)).toBe(0o600);
        expect(mode(usersPath)).toBe(0o600);
        expect(mode(dir)).toBe(0o700); // created by the engine: private to this account
        const stored = JSON.parse(fs.readFileSync(credentialsPath, 'utf8'));
        expect(stored).toEqual({ username: 'oa-archive', password: first.credentials.password, authSource: 'admin', mechanism: 'SCRAM-SHA-256' });
        password = stored.password;
        expect(password).toMatch(/^[A-Za-z0-9]{40}$/);
        // The server side keeps only the SCRAM verifier.
        const usersText = fs.readFileSync(usersPath, 'utf8');
        expect(usersText).not.toContain(password);
        const users = JSON.parse(usersText).users;
        expect(users).toEqual([
          {
            user: 'oa-archive',
            db: 'admin',
            roles: [{ role: 'root', db: 'admin' }],
            credentials: { 'SCRAM-SHA-256': { iterationCount: 15000, salt: expect.any(String), storedKey: expect.any(String), serverKey: expect.any(String) } },
          },
        ]);
        expect(Buffer.from(users[0].credentials['SCRAM-SHA-256'].salt, 'base64')).toHaveLength(28);
        expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
        const client = await connect(first.uri);
        await client.db('kept').collection('things').insertOne({ _id: 'x' as never });
        await client.close();
      } finally {
        await first.close();
      }
      expect(log.lines.join('\n')).not.toContain(password);

      const second = await startEngine({ port: 0, dbPath: dir });
      try {
        expect(second.credentials.password).toBe(password);
        const client = await connect(second.uri);
        expect(await client.db('kept').collection('things').countDocuments({})).toBe(1);
        await client.close();
        expect(await rejection(() => connect(`mongodb://${second.address}/`).then((c) => c.db('kept').collection('things').findOne({})))).toMatchObject({ code: 13 });
      } finally {
        await second.close();
      }
    });

    it('refuses credentials other accounts can read, and files that do not belong together', async () => {
      const dir = await tempDir();
      await (await startEngine({ port: 0, dbPath: dir })).close();
      const credentialsPath = path.join(dir, 'credentials.json');
      const usersPath = path.join(dir, 'users.json');

      fs.chmodSync(credentialsPath, 0o644);
      await expect(startEngine({ port: 0, dbPath: dir })).rejects.toThrow(/credentials\.json is accessible to other accounts \(mode 0644\); it must be 0600/);
      fs.chmodSync(credentialsPath, 0o600);

      // users.json lost: made again from credentials.json (same password).
      const { password } = JSON.parse(fs.readFileSync(credentialsPath, 'utf8'));
      fs.rmSync(usersPath);
      const again = await startEngine({ port: 0, dbPath: dir });
      try {
        expect(mode(usersPath)).toBe(0o600);
        expect(again.credentials.password).toBe(password);
        await (await connect(again.uri)).close();
      } finally {
        await again.close();
      }

      // credentials.json replaced by one with another password: refused rather than serving a password nobody has.
      const swapped = JSON.parse(fs.readFileSync(credentialsPath, 'utf8'));
      fs.writeFileSync(credentialsPath, JSON.stringify({ ...swapped, password: 'Another0Password1That2Does3Not4Match5xx' }), { mode: 0o600 });
      await expect(startEngine({ port: 0, dbPath: dir })).rejects.toThrow(/credentials\.json does not match .*users\.json/);

      // credentials.json lost with users.json still there: the password is unknown, so say what to do.
      fs.rmSync(credentialsPath);
      await expect(startEngine({ port: 0, dbPath: dir })).rejects.toThrow(/credentials\.json is missing .*delete users\.json to have new credentials generated/);
      fs.rmSync(usersPath);
      const fresh = await startEngine({ port: 0, dbPath: dir });
      try {
        expect(fresh.credentials.password).not.toBe(password);
        await (await connect(fresh.uri)).close();
      } finally {
        await fresh.close();
      }
    });
  });
});
