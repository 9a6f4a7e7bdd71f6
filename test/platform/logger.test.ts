import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { createLogger, REDACTED, redactUri } from '../../platform/logger.ts';

function capture(level: 'debug' | 'info' = 'debug') {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level, name: 'test' }, { destination });
  return {
    logger,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('redactUri', () => {
  it('masks the password and keeps the user and host', () => {
    expect(redactUri('mongodb://user:pass@host')).toBe('mongodb://user:***@host');
    expect(redactUri('mongodb://admin:s3cr%40t@db1:27017,db2:27017/app?replicaSet=rs0')).toBe(
      'mongodb://admin:***@db1:27017,db2:27017/app?replicaSet=rs0',
    );
    expect(redactUri('mongodb+srv://u:p@cluster0.example.net/db')).toBe('mongodb+srv://u:***@cluster0.example.net/db');
    expect(redactUri('redis://:pw@cache:6379')).toBe('redis://:***@cache:6379');
  });

  it('leaves URIs without credentials alone', () => {
    expect(redactUri('mongodb://127.0.0.1:27017/oa_archive')).toBe('mongodb://127.0.0.1:27017/oa_archive');
    expect(redactUri('mongodb://user@host/db')).toBe('mongodb://user@host/db');
  });

  it('works inside longer text', () => {
    expect(redactUri('failed to reach mongodb://a:b@h/db and redis://:c@r')).toBe('failed to reach mongodb://a:***@h/db and redis://:***@r');
  });
});

describe('createLogger redaction', () => {
  it('censors headers, tokens, passwords and secrets', () => {
    const { logger, text, lines } = capture();
    logger.info(
      {
        req: { method: 'POST', headers: { authorization: 'Bearer eyJhbGciOi.client.jwt', cookie: 'sid=cookie-value-1', 'x-internal-identity': 'v1.payload.sig-abc' } },
        headers: { 'x-internal-identity': 'v1.other.sig-def', accept: 'application/json' },
        token: 'top-level-token-123',
        password: 'hunter2-password',
        user: { name: 'li', password: 'nested-password-456', token: 'nested-token-789' },
        webhook: { url: 'https://hooks.example/x', secret: 'whsec-webhook-secret' },
        INTERNAL_SECRET: 'internal-secret-value-0123456789abcdef',
        env: { JWT_SECRET: 'jwt-secret-value-0123456789abcdef' },
      },
      'request',
    );
    const out = text();
    for (const secret of [
      'eyJhbGciOi.client.jwt',
      'cookie-value-1',
      'v1.payload.sig-abc',
      'v1.other.sig-def',
      'top-level-token-123',
      'hunter2-password',
      'nested-password-456',
      'nested-token-789',
      'whsec-webhook-secret',
      'internal-secret-value',
      'jwt-secret-value',
    ]) {
      expect(out).not.toContain(secret);
    }
    const [line] = lines();
    expect(line).toMatchObject({
      msg: 'request',
      req: { method: 'POST', headers: { authorization: REDACTED, cookie: REDACTED, 'x-internal-identity': REDACTED } },
      headers: { 'x-internal-identity': REDACTED, accept: 'application/json' },
      token: REDACTED,
      password: REDACTED,
      user: { name: 'li', password: REDACTED, token: REDACTED },
      webhook: { url: 'https://hooks.example/x', secret: REDACTED },
      INTERNAL_SECRET: REDACTED,
      env: { JWT_SECRET: REDACTED },
    });
  });

  it('censors the graphql-ws connection_init payload authorization', () => {
    const { logger, text, lines } = capture();
    logger.debug({ type: 'connection_init', payload: { authorization: 'Bearer ws-jwt-secret' } }, 'ws message');
    logger.debug({ message: { type: 'connection_init', payload: { authorization: 'Bearer ws-jwt-deeper' } } }, 'ws message');
    expect(text()).not.toContain('ws-jwt-secret');
    expect(text()).not.toContain('ws-jwt-deeper');
    expect(lines()[0]).toMatchObject({ payload: { authorization: REDACTED } });
    expect(lines()[1]).toMatchObject({ message: { payload: { authorization: REDACTED } } });
  });

  it('censors sensitive keys at any depth', () => {
    const { logger, text } = capture();
    logger.info({ a: { b: { c: { accessToken: 'deep-access-token', apiKey: 'deep-api-key', list: [{ password: 'in-array-password' }] } } } });
    expect(text()).not.toContain('deep-access-token');
    expect(text()).not.toContain('deep-api-key');
    expect(text()).not.toContain('in-array-password');
    expect(text()).toContain(REDACTED);
  });

  it('masks URI credentials in fields, messages and errors', () => {
    const { logger, text, lines } = capture();
    logger.info({ uri: 'mongodb://app:uri-password-1@db:27017/oa' }, 'connecting to mongodb://app:uri-password-2@db:27017/oa');
    logger.error({ err: new Error('connect ECONNREFUSED mongodb://app:uri-password-3@db:27017') }, 'failed');
    const out = text();
    expect(out).not.toContain('uri-password-1');
    expect(out).not.toContain('uri-password-2');
    expect(out).not.toContain('uri-password-3');
    const [first, second] = lines();
    expect(first).toMatchObject({ uri: 'mongodb://app:***@db:27017/oa', msg: 'connecting to mongodb://app:***@db:27017/oa' });
    expect(second).toMatchObject({ err: { type: 'Error', message: 'connect ECONNREFUSED mongodb://app:***@db:27017' } });
  });

  it('censors child-logger bindings', () => {
    const { logger, text } = capture();
    logger.child({ token: 'child-binding-token' }).info('hello');
    expect(text()).not.toContain('child-binding-token');
    expect(text()).toContain(REDACTED);
  });

  it('does not modify the logged object', () => {
    const { logger } = capture();
    const obj = { user: { password: 'keep-me' }, uri: 'mongodb://u:p@h' };
    logger.info(obj);
    expect(obj).toEqual({ user: { password: 'keep-me' }, uri: 'mongodb://u:p@h' });
  });

  it('never logs operation variables, nor the request and response bodies an HTTP executor attaches to an error', async () => {
    const { GraphQLError } = await import('graphql');
    const { logger, text, lines } = capture();
    const body = JSON.stringify({ query: 'mutation($i: In!) { create(input: $i) { id } }', variables: { i: { title: 'Secret-Title-1', invoiceNo: 'INV-77' } } });
    const err = new GraphQLError('Unexpected response', {
      extensions: { code: 'RESPONSE_VALIDATION_FAILED', request: { method: 'POST', body }, response: { status: 502, statusText: 'Bad Gateway', body: 'Secret-Answer-2' } },
    });
    logger.error({ err }, 'unexpected error at the gateway');
    logger.error({ err: new Error('outer', { cause: err }), other: err }, 'nested');
    logger.info({ operationName: 'Create', variables: { title: 'Secret-Title-3' }, nested: { variableValues: { amount: '991.20' } } }, 'operation');
    const out = text();
    for (const secret of ['Secret-Title-1', 'INV-77', 'Secret-Answer-2', 'Secret-Title-3', '991.20']) expect(out).not.toContain(secret);
    expect(lines()[0]).toMatchObject({ err: { message: 'Unexpected response', extensions: { code: 'RESPONSE_VALIDATION_FAILED', request: { method: 'POST' }, response: { status: 502 } } } });
    expect(lines()[2]).toMatchObject({ operationName: 'Create', variables: REDACTED, nested: { variableValues: REDACTED } });
  });

  it('serialises errors with type, message and stack', () => {
    const { logger, lines } = capture();
    logger.error({ err: new TypeError('boom') }, 'failed');
    const err = lines()[0]!.err as Record<string, unknown>;
    expect(err.type).toBe('TypeError');
    expect(err.message).toBe('boom');
    expect(String(err.stack)).toContain('TypeError: boom');
  });

  it('takes its level from the config and writes JSON', () => {
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createLogger(loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'warn' }), { destination });
    logger.info('hidden');
    logger.warn('shown');
    expect(logger.level).toBe('warn');
    const parsed = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: number });
    expect(parsed).toEqual([expect.objectContaining({ msg: 'shown', level: 40 })]);
  });
});
