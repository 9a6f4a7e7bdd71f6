// loadConnectorConfig: platforms enabled by their variables, every problem named by its variable, no secret echoed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { loadConnectorConfig } from '../../subgraphs/oa/connectors/config.ts';
import { createConnectors } from '../../subgraphs/oa/connectors/index.ts';
import { FakeDetails, FakeSink, MAPPING_FILE, openDb, post, serveConnectors, type Db } from './helpers.ts';

const FEISHU = {
  FEISHU_ENCRYPT_KEY: 'fs-encrypt-key',
  FEISHU_VERIFICATION_TOKEN: 'fs-token',
  FEISHU_APP_ID: 'cli_a1',
  FEISHU_APP_SECRET: 'fs-app-secret',
};
const DINGTALK = {
  DINGTALK_TOKEN: 'dt-token',
  DINGTALK_AES_KEY: 'xwCiEnxVKsfEW2o3UsyeJbFZuBptJi0fgyAbQ5n5FTl',
  DINGTALK_APP_KEY: 'dingappkey',
  DINGTALK_APP_SECRET: 'dt-app-secret',
};

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConnectorConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConnectorConfig', () => {
  it('is empty (connectors off) without platform variables', () => {
    expect(loadConnectorConfig({})).toEqual({});
    expect(loadConnectorConfig({ CONNECTOR_MAPPING_FILE: '/m.json', FEISHU_APP_ID: '  ' })).toEqual({ mappingFile: '/m.json' });
  });

  it('reads both platforms with defaults for the API URLs and the replay window', () => {
    const config = loadConnectorConfig({ ...FEISHU, ...DINGTALK, CONNECTOR_MAPPING_FILE: '/etc/oa/mapping.json' });
    expect(config).toEqual({
      mappingFile: '/etc/oa/mapping.json',
      feishu: {
        encryptKey: 'fs-encrypt-key',
        verificationToken: 'fs-token',
        replayWindowMs: 300_000,
        details: { baseUrl: 'https://open.feishu.cn', appId: 'cli_a1', appSecret: 'fs-app-secret', userIdType: 'user_id' },
      },
      dingtalk: {
        token: 'dt-token',
        aesKey: DINGTALK.DINGTALK_AES_KEY,
        appKey: 'dingappkey',
        replayWindowMs: 300_000,
        details: { baseUrl: 'https://oapi.dingtalk.com', appKey: 'dingappkey', appSecret: 'dt-app-secret', apiBaseUrl: 'https://api.dingtalk.com' },
      },
    });
  });

  it('takes the overrides', () => {
    const config = loadConnectorConfig({
      ...FEISHU,
      CONNECTOR_MAPPING_FILE: 'm.json',
      CONNECTOR_DETAILS_FEISHU_URL: 'http://127.0.0.1:9000',
      CONNECTOR_REPLAY_WINDOW_SECONDS: '120',
      FEISHU_USER_ID_TYPE: 'open_id',
    });
    expect(config.feishu).toMatchObject({ replayWindowMs: 120_000, details: { baseUrl: 'http://127.0.0.1:9000', userIdType: 'open_id' } });
    expect(config.dingtalk).toBeUndefined();
  });

  it('names every missing variable of a partly configured platform', () => {
    const err = configError({ FEISHU_ENCRYPT_KEY: 'k', DINGTALK_APP_KEY: 'dingappkey' });
    expect(err.issues.map((i) => i.variable).sort()).toEqual(
      ['FEISHU_VERIFICATION_TOKEN', 'FEISHU_APP_ID', 'FEISHU_APP_SECRET', 'DINGTALK_TOKEN', 'DINGTALK_AES_KEY', 'DINGTALK_APP_SECRET', 'CONNECTOR_MAPPING_FILE'].sort(),
    );
    expect(err.message).toContain('FEISHU_VERIFICATION_TOKEN: required when the Feishu connector is configured');
  });

  it('refuses bad values, naming the variable and never echoing a secret', () => {
    const err = configError({
      ...DINGTALK,
      DINGTALK_AES_KEY: 'short-secret-aes-key',
      CONNECTOR_MAPPING_FILE: 'm.json',
      CONNECTOR_DETAILS_DINGTALK_URL: 'ftp://example.com',
      CONNECTOR_REPLAY_WINDOW_SECONDS: '5',
      FEISHU_USER_ID_TYPE: 'email',
    });
    const byVariable = Object.fromEntries(err.issues.map((i) => [i.variable, i.message]));
    expect(byVariable.DINGTALK_AES_KEY).toBe('expected exactly 43 letters or digits, got 20 characters');
    expect(byVariable.CONNECTOR_DETAILS_DINGTALK_URL).toBe('expected an http(s) URL');
    expect(byVariable.CONNECTOR_REPLAY_WINDOW_SECONDS).toMatch(/10\.\.86400/);
    expect(byVariable.FEISHU_USER_ID_TYPE).toBe('expected user_id or open_id');
    expect(err.message).not.toContain('short-secret-aes-key');
  });
});

describe('createConnectors', () => {
  let db: Db;
  let dir: string;
  beforeAll(async () => {
    db = await openDb();
    dir = await mkdtemp(path.join(tmpdir(), 'connectors-'));
  });
  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is null when no platform is configured', async () => {
    expect(await createConnectors({ env: {}, connection: db.connection, sink: new FakeSink(), logger: createLogger({ level: 'silent' }) })).toBeNull();
  });

  it('wires configuration, mapping file, store and routes from the environment', async () => {
    const file = path.join(dir, 'mapping.json');
    await writeFile(file, JSON.stringify(MAPPING_FILE));
    const connectors = await createConnectors({
      env: { ...DINGTALK, CONNECTOR_MAPPING_FILE: file },
      connection: db.connection,
      sink: new FakeSink(),
      details: new FakeDetails(),
      logger: createLogger({ level: 'silent' }),
    });
    expect(connectors).not.toBeNull();
    const indexes = await connectors!.store.model.listIndexes();
    expect(indexes.find((i) => i.name === 'platform_eventId_unique')).toMatchObject({ key: { platform: 1, eventId: 1 }, unique: true });
    const server = await serveConnectors(connectors!.handler);
    try {
      expect((await post(`${server.url}/connectors/feishu`, '{}')).status).toBe(404); // not configured
      expect((await post(`${server.url}/connectors/dingtalk`, '{}')).status).toBe(401); // configured, unsigned
    } finally {
      await server.close();
    }
  });

  it('names CONNECTOR_MAPPING_FILE when the mapping file is invalid', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ users: {}, approvals: { dingtalk: { P: { category: 'X' } } } }));
    await expect(
      createConnectors({ env: { ...DINGTALK, CONNECTOR_MAPPING_FILE: file }, connection: db.connection, sink: new FakeSink(), logger: createLogger({ level: 'silent' }) }),
    ).rejects.toThrow(`CONNECTOR_MAPPING_FILE (${file}): invalid connector mapping`);
  });
});
