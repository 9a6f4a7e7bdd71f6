import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEVELOPMENT_DEFAULTS, checkEmbeddedDatabase, formatConfigError, loadConfig, sealKeySetting } from '../../platform/config.ts';

const STRONG_INTERNAL = 'i'.repeat(40);
const STRONG_JWT = 'j'.repeat(40);

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig defaults', () => {
  it('fills every default in development and records the development secrets used', () => {
    const c = loadConfig({});
    expect(c.nodeEnv).toBe('development');
    expect(c.port).toBe(4000);
    expect(c.logLevel).toBe('info');
    expect(c.mongodbUri).toBeUndefined();
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(path.isAbsolute(c.dataDir)).toBe(true);
    expect(c.internalSecret).toBe(DEVELOPMENT_DEFAULTS.INTERNAL_SECRET);
    expect(c.jwtSecret).toBe(DEVELOPMENT_DEFAULTS.JWT_SECRET);
    expect(c.developmentDefaults).toEqual(['INTERNAL_SECRET', 'JWT_SECRET']);
    expect([c.oaPort, c.archivePort, c.syncPort]).toEqual([4001, 4002, 4003]);
    expect(c.oaUrl).toBe('http://127.0.0.1:4001/graphql');
    expect(c.archiveUrl).toBe('http://127.0.0.1:4002/graphql');
    expect(c.syncUrl).toBe('http://127.0.0.1:4003/graphql');
    expect(c.subgraphHost).toBe('127.0.0.1');
    expect(c.redisUrl).toBeUndefined();
    expect(c.webhookAllowPrivateTargets).toBe(false);
    expect(c.shutdownTimeoutMs).toBe(10_000);
  });

  it('returns a frozen object', () => {
    const c = loadConfig({ NODE_ENV: 'test' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.developmentDefaults)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('reads every variable when set', () => {
    const c = loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      LOG_LEVEL: 'debug',
      MONGODB_URI: 'mongodb://u:p@db.example:27017/x?replicaSet=rs0',
      DATA_DIR: 'some/dir',
      INTERNAL_SECRET: STRONG_INTERNAL,
      JWT_SECRET: STRONG_JWT,
      OA_PORT: '5001',
      ARCHIVE_PORT: '5002',
      SYNC_PORT: '5003',
      SYNC_URL: 'https://sync.internal/graphql',
      REDIS_URL: 'rediss://:pw@cache:6380',
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
      SHUTDOWN_TIMEOUT_MS: '2500',
    });
    expect(c.port).toBe(0);
    expect(c.logLevel).toBe('debug');
    expect(c.mongodbUri).toBe('mongodb://u:p@db.example:27017/x?replicaSet=rs0');
    expect(c.dataDir).toBe(path.resolve('some/dir'));
    expect(c.internalSecret).toBe(STRONG_INTERNAL);
    expect(c.jwtSecret).toBe(STRONG_JWT);
    expect(c.developmentDefaults).toEqual([]);
    expect(c.oaUrl).toBe('http://127.0.0.1:5001/graphql');
    expect(c.archiveUrl).toBe('http://127.0.0.1:5002/graphql');
    expect(c.syncUrl).toBe('https://sync.internal/graphql');
    expect(c.redisUrl).toBe('rediss://:pw@cache:6380');
    expect(c.webhookAllowPrivateTargets).toBe(true);
    expect(c.shutdownTimeoutMs).toBe(2500);
  });

  it('treats empty values as unset', () => {
    const c = loadConfig({ MONGODB_URI: '', PORT: '  ', REDIS_URL: '' });
    expect(c.mongodbUri).toBeUndefined();
    expect(c.port).toBe(4000);
    expect(c.redisUrl).toBeUndefined();
  });

  it('reads SUBGRAPH_HOST: an IP address or a host name', () => {
    for (const host of ['0.0.0.0', '::', '::1', '10.0.0.7', 'localhost', 'subgraphs.internal']) expect(loadConfig({ SUBGRAPH_HOST: host }).subgraphHost).toBe(host);
    for (const bad of ['http://0.0.0.0', '127.0.0.1:4001', 'a b', '-bad.example']) {
      expect(configError({ SUBGRAPH_HOST: bad }).message).toContain(`SUBGRAPH_HOST: expected an IP address or host name such as 127.0.0.1 or 0.0.0.0, got ${JSON.stringify(bad)}`);
    }
  });

  it('accepts mongodb+srv URIs', () => {
    expect(loadConfig({ MONGODB_URI: 'mongodb+srv://u:p@cluster0.example.net/db' }).mongodbUri).toBe(
      'mongodb+srv://u:p@cluster0.example.net/db',
    );
  });

  it('does not default JWT_SECRET when JWKS is configured', () => {
    const c = loadConfig({ JWT_JWKS_URL: 'https://idp.example/jwks.json', JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'oa' });
    expect(c.jwtSecret).toBeUndefined();
    expect(c.jwtJwksUrl).toBe('https://idp.example/jwks.json');
    expect(c.jwtIssuer).toBe('https://idp.example');
    expect(c.jwtAudience).toBe('oa');
    expect(c.developmentDefaults).toEqual(['INTERNAL_SECRET']);
  });
});

describe('loadConfig validation', () => {
  const cases: [string, string, string][] = [
    ['NODE_ENV', 'prod', 'NODE_ENV: expected one of development, test, production, got "prod"'],
    ['PORT', 'abc', 'PORT: expected an integer 0..65535, got "abc"'],
    ['PORT', '65536', 'PORT: expected an integer 0..65535, got "65536"'],
    ['PORT', '-1', 'PORT: expected an integer 0..65535, got "-1"'],
    ['PORT', '40.5', 'PORT: expected an integer 0..65535, got "40.5"'],
    ['LOG_LEVEL', 'verbose', 'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"'],
    ['MONGODB_URI', 'postgres://h/db', 'MONGODB_URI: expected a MongoDB connection string starting with mongodb:// or mongodb+srv://, got "postgres://h/db"'],
    ['OA_PORT', 'x', 'OA_PORT: expected an integer 0..65535, got "x"'],
    ['ARCHIVE_PORT', '70000', 'ARCHIVE_PORT: expected an integer 0..65535, got "70000"'],
    ['SYNC_PORT', '1e3', 'SYNC_PORT: expected an integer 0..65535, got "1e3"'],
    ['OA_URL', 'ftp://x/graphql', 'OA_URL: expected an http(s) URL starting with http:// or https://, got "ftp://x/graphql"'],
    ['ARCHIVE_URL', 'localhost:4002', 'ARCHIVE_URL: expected an http(s) URL starting with http:// or https://, got "localhost:4002"'],
    ['SYNC_URL', 'http://', 'SYNC_URL: expected an http(s) URL starting with http:// or https://, got "http://"'],
    ['REDIS_URL', 'http://cache:6379', 'REDIS_URL: expected a Redis URL starting with redis:// or rediss://, got "http://cache:6379"'],
    ['WEBHOOK_ALLOW_PRIVATE_TARGETS', 'yes', 'WEBHOOK_ALLOW_PRIVATE_TARGETS: expected "true" or "false", got "yes"'],
    ['EMBEDDED_DATABASE_IN_PRODUCTION', '1', 'EMBEDDED_DATABASE_IN_PRODUCTION: expected "true" or "false", got "1"'],
    ['SHUTDOWN_TIMEOUT_MS', '0', 'SHUTDOWN_TIMEOUT_MS: expected an integer 1..600000, got "0"'],
    ['JWT_JWKS_URL', 'idp/jwks', 'JWT_JWKS_URL: expected an http(s) URL starting with https:// or http://, got "idp/jwks"'],
  ];
  it.each(cases)('%s=%s is refused with a message naming the variable', (name, value, expected) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain(expected);
    expect(err.issues.map((i) => i.variable)).toContain(name);
  });

  it('refuses short secrets without echoing them', () => {
    const err = configError({ INTERNAL_SECRET: 'short-secret-value', JWT_SECRET: 'tiny' });
    expect(err.message).toContain('INTERNAL_SECRET: expected at least 32 characters, got 18');
    expect(err.message).toContain('JWT_SECRET: expected at least 32 characters, got 4');
    expect(err.message).not.toContain('short-secret-value');
    expect(err.message).not.toContain('tiny');
  });

  it('masks credentials of a bad MongoDB URI in the message', () => {
    const err = configError({ MONGODB_URI: 'mysql://admin:hunter2hunter2@db/x' });
    expect(err.message).toContain('mysql://admin:***@db/x');
    expect(err.message).not.toContain('hunter2');
  });

  it('names every bad variable at once', () => {
    const err = configError({ PORT: 'abc', LOG_LEVEL: 'loud', SHUTDOWN_TIMEOUT_MS: 'soon' });
    expect(err.issues.map((i) => i.variable).sort()).toEqual(['LOG_LEVEL', 'PORT', 'SHUTDOWN_TIMEOUT_MS']);
    expect(err.message.split('\n')[0]).toBe('Invalid configuration (3 problems):');
    expect(formatConfigError(err)).toBe(err.message);
  });

  it('requires issuer and audience with a JWKS URL', () => {
    const err = configError({ JWT_JWKS_URL: 'https://idp.example/jwks.json' });
    expect(err.message).toContain('JWT_ISSUER: required when JWT_JWKS_URL is set');
    expect(err.message).toContain('JWT_AUDIENCE: required when JWT_JWKS_URL is set');
  });
});

describe('loadConfig in production', () => {
  it('refuses to start without secrets', () => {
    const err = configError({ NODE_ENV: 'production' });
    expect(err.issues.map((i) => i.variable).sort()).toEqual(['INTERNAL_SECRET', 'JWT_SECRET']);
    expect(err.message).toContain('INTERNAL_SECRET: required in production');
    expect(err.message).toContain('JWT_SECRET: required in production unless JWT_JWKS_URL is set');
  });

  it('refuses the development defaults even when set explicitly', () => {
    const err = configError({
      NODE_ENV: 'production',
      INTERNAL_SECRET: DEVELOPMENT_DEFAULTS.INTERNAL_SECRET,
      JWT_SECRET: DEVELOPMENT_DEFAULTS.JWT_SECRET,
    });
    expect(err.message).toContain('INTERNAL_SECRET: is a public development default');
    expect(err.message).toContain('JWT_SECRET: is a public development default');
  });

  it('refuses the same key for both secrets', () => {
    const err = configError({ NODE_ENV: 'production', INTERNAL_SECRET: STRONG_JWT, JWT_SECRET: STRONG_JWT });
    expect(err.message).toContain('INTERNAL_SECRET: must differ from JWT_SECRET');
  });

  it('accepts real secrets and uses no development default', () => {
    const c = loadConfig({ NODE_ENV: 'production', INTERNAL_SECRET: STRONG_INTERNAL, JWT_SECRET: STRONG_JWT });
    expect(c.nodeEnv).toBe('production');
    expect(c.developmentDefaults).toEqual([]);
  });

  it('loads without MONGODB_URI (processes without a database need none), but the database refuses the embedded engine', () => {
    const c = loadConfig({ NODE_ENV: 'production', INTERNAL_SECRET: STRONG_INTERNAL, JWT_SECRET: STRONG_JWT });
    expect(c.mongodbUri).toBeUndefined();
    expect(c.embeddedDatabaseInProduction).toBe(false);
    let err: unknown;
    try {
      checkEmbeddedDatabase(c);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.variable)).toEqual(['MONGODB_URI']);
    expect(formatConfigError(err as ConfigError)).toMatch(/^Invalid configuration \(1 problem\):\n {2}MONGODB_URI: required in production: point it at a MongoDB replica set\. To run on the embedded engine anyway, set EMBEDDED_DATABASE_IN_PRODUCTION=true \(it has no replication, no automatic failover, and no backups by the database's own tools/);
  });

  it('allows the embedded engine in production with EMBEDDED_DATABASE_IN_PRODUCTION=true, and never asks outside production or with MONGODB_URI', () => {
    const allowed = loadConfig({ NODE_ENV: 'production', INTERNAL_SECRET: STRONG_INTERNAL, JWT_SECRET: STRONG_JWT, EMBEDDED_DATABASE_IN_PRODUCTION: 'true' });
    expect(allowed.embeddedDatabaseInProduction).toBe(true);
    expect(() => checkEmbeddedDatabase(allowed)).not.toThrow();
    expect(() => checkEmbeddedDatabase(loadConfig({ NODE_ENV: 'production', INTERNAL_SECRET: STRONG_INTERNAL, JWT_SECRET: STRONG_JWT, MONGODB_URI: 'mongodb://db1,db2/x?replicaSet=rs0' }))).not.toThrow();
    expect(() => checkEmbeddedDatabase(loadConfig({ NODE_ENV: 'development' }))).not.toThrow();
    expect(() => checkEmbeddedDatabase(loadConfig({ NODE_ENV: 'test' }))).not.toThrow();
    expect(loadConfig({}).embeddedDatabaseInProduction).toBe(false);
  });

  it('accepts JWKS instead of JWT_SECRET, with issuer and audience', () => {
    const env = { NODE_ENV: 'production', INTERNAL_SECRET: STRONG_INTERNAL, JWT_JWKS_URL: 'https://idp.example/jwks.json' };
    expect(configError(env).issues.map((i) => i.variable).sort()).toEqual(['JWT_AUDIENCE', 'JWT_ISSUER']);
    const c = loadConfig({ ...env, JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'oa-archive' });
    expect(c.jwtSecret).toBeUndefined();
    expect(c.jwtJwksUrl).toBe('https://idp.example/jwks.json');
  });
});

describe('JWT_MAX_TTL', () => {
  it('defaults to 24 hours and takes seconds or a duration with a unit', () => {
    expect(loadConfig({}).jwtMaxTtlSeconds).toBe(86_400);
    expect(loadConfig({ JWT_MAX_TTL: '3600' }).jwtMaxTtlSeconds).toBe(3600);
    expect(loadConfig({ JWT_MAX_TTL: '90m' }).jwtMaxTtlSeconds).toBe(5400);
    expect(loadConfig({ JWT_MAX_TTL: '12h' }).jwtMaxTtlSeconds).toBe(43_200);
    expect(loadConfig({ JWT_MAX_TTL: '7d' }).jwtMaxTtlSeconds).toBe(604_800);
  });

  it('refuses what is no duration, under a minute or over 30 days', () => {
    for (const value of ['forever', '1.5h', '-1', '59', '31d', '100y']) {
      expect(configError({ JWT_MAX_TTL: value }).issues).toEqual([{ variable: 'JWT_MAX_TTL', message: expect.stringContaining('expected a duration of 60..2592000 seconds') }]);
    }
  });
});

describe('ACCOUNT_CHART', () => {
  it('accepts a chart of accounts as JSON and names what is wrong with a bad one', async () => {
    const { loadConfig, ConfigError } = await import('../../platform/config.ts');
    const chart = { expenseAccounts: { TRAVEL: { code: '6601.05', name: '销售费用-差旅费' } }, creditAccount: { code: '1002', name: '银行存款' } };
    expect(loadConfig({ ACCOUNT_CHART: JSON.stringify(chart) }).accountChart).toEqual(chart);
    expect(loadConfig({}).accountChart).toBeNull();
    const bad = (value: string) => {
      try {
        loadConfig({ ACCOUNT_CHART: value });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(bad('{not json')).toMatch(/^\s*ACCOUNT_CHART: expected JSON/m);
    expect(bad(JSON.stringify({ ...chart, creditAccount: { code: 'x', name: 'y' } }))).toMatch(/ACCOUNT_CHART: creditAccount\.code: an account code such as 6602\.01/);
    expect(bad(JSON.stringify({ expenseAccounts: { PARTY: { code: '6602.01', name: 'x' } }, creditAccount: chart.creditAccount }))).toMatch(/ACCOUNT_CHART: expenseAccounts/);
  });
});

describe('the seal key (sealKeySetting)', () => {
  const production = { NODE_ENV: 'production', INTERNAL_SECRET: STRONG_INTERNAL, JWT_SECRET: STRONG_JWT, DATA_DIR: '/srv/archive' };

  it('generates an Ed25519 key into DATA_DIR outside production, and requires one in production', () => {
    const dev = loadConfig({ DATA_DIR: '/tmp/dev-data' });
    expect(sealKeySetting(dev)).toEqual({ kind: 'generated', file: path.resolve('/tmp/dev-data/seal-key/ed25519.pem') });
    expect(dev.archiveSealDir).toBe(path.resolve('/tmp/dev-data/seals'));
    let err: unknown;
    try {
      sealKeySetting(loadConfig(production));
    } catch (e) {
      err = e;
    }
    expect((err as ConfigError).issues.map((i) => i.variable)).toEqual(['ARCHIVE_SEAL_PRIVATE_KEY_FILE']);
    const ed = loadConfig({ ...production, ARCHIVE_SEAL_PRIVATE_KEY_FILE: '/etc/archive/seal.pem', ARCHIVE_SEAL_DIR: '/var/lib/seals' });
    expect([sealKeySetting(ed), ed.archiveSealDir]).toEqual([{ kind: 'ed25519-file', file: '/etc/archive/seal.pem' }, '/var/lib/seals']);
    expect(sealKeySetting(loadConfig({ ...production, ARCHIVE_SEAL_KEY: 's'.repeat(40) }))).toEqual({ kind: 'hmac', secret: 's'.repeat(40) });
  });

  it('refuses a short HMAC key without echoing it, and both kinds at once', () => {
    const short = configError({ ARCHIVE_SEAL_KEY: 'short-secret' });
    expect(short.issues.map((i) => i.variable)).toEqual(['ARCHIVE_SEAL_KEY']);
    expect(short.message).not.toContain('short-secret');
    expect(configError({ ARCHIVE_SEAL_KEY: 's'.repeat(40), ARCHIVE_SEAL_PRIVATE_KEY_FILE: '/k.pem' }).issues.map((i) => i.variable)).toEqual(['ARCHIVE_SEAL_KEY']);
  });
});

describe('COMPANY_NAME', () => {
  it('is the unit name printed on books, reports and registers, trimmed; unset, null (the fonds is printed)', () => {
    expect(loadConfig({}).companyName).toBeNull();
    expect(loadConfig({ COMPANY_NAME: '  示例集团有限公司 ' }).companyName).toBe('示例集团有限公司');
    expect(loadConfig({ COMPANY_NAME: '  ' }).companyName).toBeNull();
  });

  it('refuses a name of more than 100 characters and control characters', () => {
    for (const bad of ['名'.repeat(101), 'ACME\u0007Ltd', 'ACME\u200bLtd']) {
      expect(configError({ COMPANY_NAME: bad }).issues.map((i) => `${i.variable}: ${i.message}`)).toEqual(["COMPANY_NAME: expected the unit's name, 1 to 100 characters without control characters"]);
    }
  });
});
