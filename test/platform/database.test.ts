import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../platform/config.ts';
import { connectDatabase, pingDatabase } from '../../platform/database.ts';

interface Entry {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

function recordingLogger() {
  const entries: Entry[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    entries.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return { entries, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

describe('connectDatabase', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'oa-db-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('starts the embedded engine in a new data directory when MONGODB_URI is unset', async () => {
    const dataDir = path.join(root, 'embedded', 'data');
    const logger = recordingLogger();
    const db = await connectDatabase({ mongodbUri: undefined, dataDir }, logger);
    try {
      expect((await stat(dataDir)).isDirectory()).toBe(true);
      expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
      expect(db.dataDir).toBe(dataDir);
      expect(db.engine?.dbPath).toBe(dataDir);
      // Connected with the engine's credentials; the URI it reports has the password masked.
      expect(db.uri).toBe(`mongodb://oa-archive:***@${db.engine?.address}/oa_archive?authSource=admin`);
      expect(db.connection.name).toBe('oa_archive');
      await pingDatabase(db.connection)();
      const credentialsFile = path.join(dataDir, 'credentials.json');
      const line = logger.entries.find((e) => e.msg?.startsWith('embedded database at '));
      expect(line?.msg).toBe(`embedded database at ${db.engine?.safeUri}, data in ${dataDir}, credentials in ${credentialsFile}`);
      expect(line?.obj).toMatchObject({ uri: db.uri, credentialsFile });
      expect((await stat(credentialsFile)).mode & 0o777).toBe(0o600);
      expect(JSON.stringify(logger.entries)).not.toContain(db.engine!.credentials.password);
      expect(logger.entries.some((e) => e.level === 'warn')).toBe(false);

      await db.connection.collection('things').insertOne({ name: 'kept' });
    } finally {
      await db.close();
      await db.close(); // idempotent
    }
    expect(db.connection.readyState).toBe(0);

    // Reopening the same directory finds what was written: close() flushed it.
    const reopened = await connectDatabase({ mongodbUri: undefined, dataDir }, recordingLogger(), { dbName: 'oa_archive' });
    try {
      const found = await reopened.connection.collection('things').findOne({ name: 'kept' });
      expect(found?.name).toBe('kept');
    } finally {
      await reopened.close();
    }
  });

  it('uses MONGODB_URI when set, without starting an engine', async () => {
    const host = await connectDatabase({ mongodbUri: undefined, dataDir: path.join(root, 'host') }, recordingLogger());
    try {
      const logger = recordingLogger();
      const db = await connectDatabase({ mongodbUri: host.engine!.uri, dataDir: path.join(root, 'unused') }, logger, { dbName: 'other_db' });
      try {
        expect(db.engine).toBeUndefined();
        expect(db.dataDir).toBeUndefined();
        expect(db.connection.name).toBe('other_db');
        await pingDatabase(db.connection)();
        expect(logger.entries.some((e) => e.msg === `connected to MongoDB at ${host.engine!.safeUri}`)).toBe(true);
        expect(JSON.stringify(logger.entries)).not.toContain(host.engine!.credentials.password);
      } finally {
        await db.close();
      }
      await expect(stat(path.join(root, 'unused'))).rejects.toThrow();
    } finally {
      await host.close();
    }
  });

  it('fails with a clear message that hides the password when MongoDB is unreachable', async () => {
    const logger = recordingLogger();
    const attempt = connectDatabase(
      { mongodbUri: 'mongodb://app:very-secret-pw@127.0.0.1:1/oa', dataDir: path.join(root, 'x') },
      logger,
      { serverSelectionTimeoutMS: 300 },
    );
    await expect(attempt).rejects.toThrow(/^Cannot connect to MongoDB at mongodb:\/\/app:\*\*\*@127\.0\.0\.1:1\/oa: /);
    await attempt.catch((err: Error) => expect(err.message).not.toContain('very-secret-pw'));
    expect(JSON.stringify(logger.entries)).not.toContain('very-secret-pw');
  });

  it('refuses the embedded engine in production unless EMBEDDED_DATABASE_IN_PRODUCTION=true, naming MONGODB_URI', async () => {
    const dataDir = path.join(root, 'production-refused');
    const logger = recordingLogger();
    const err = await connectDatabase({ mongodbUri: undefined, dataDir, nodeEnv: 'production', embeddedDatabaseInProduction: false }, logger).then(
      () => {
        throw new Error('expected connectDatabase to refuse');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.variable)).toEqual(['MONGODB_URI']);
    expect((err as Error).message).toMatch(/MONGODB_URI: required in production: point it at a MongoDB replica set\. To run on the embedded engine anyway, set EMBEDDED_DATABASE_IN_PRODUCTION=true/);
    expect((err as Error).message).toContain('no replication, no automatic failover, and no backups');
    // Refused before anything started: no data directory.
    await expect(stat(dataDir)).rejects.toThrow();
  });

  it('runs the embedded engine in production with EMBEDDED_DATABASE_IN_PRODUCTION=true, warning what is given up', async () => {
    const dataDir = path.join(root, 'production-allowed');
    const logger = recordingLogger();
    const db = await connectDatabase({ mongodbUri: undefined, dataDir, nodeEnv: 'production', embeddedDatabaseInProduction: true }, logger);
    try {
      await pingDatabase(db.connection)();
      const warning = logger.entries.find((e) => e.level === 'warn');
      expect(warning?.obj).toMatchObject({ variable: 'EMBEDDED_DATABASE_IN_PRODUCTION', dataDir });
      expect(warning?.msg).toMatch(/production runs on the embedded database, with no replication, no automatic failover, and no backups by the database's own tools/);
    } finally {
      await db.close();
    }
  });
});
