// Webhook target validation (SSRF defences) and the connect-time DNS guard.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forbiddenReason, guardedLookup, validateWebhookTarget, type Resolve } from '../../subgraphs/sync/webhooks/targets.ts';
import { rejection } from '../helpers/mongo.ts';

const publicResolve: Resolve = async () => ['93.184.216.34'];
const check = (url: string, allowPrivate = false, resolve: Resolve = publicResolve) => validateWebhookTarget(url, { allowPrivate, resolve });

async function refused(url: string, allowPrivate = false, resolve: Resolve = publicResolve) {
  const err = await rejection(() => check(url, allowPrivate, resolve));
  expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'url' });
  return err.message as string;
}

describe('validateWebhookTarget', () => {
  it.each([
    ['http://127.0.0.1/', 'loopback'],
    ['http://127.10.20.30:8080/hook', 'loopback'],
    ['http://2130706433/', 'loopback'], // decimal form of 127.0.0.1
    ['http://0x7f.1/', 'loopback'],
    ['http://[::1]/', 'loopback'],
    ['http://10.1.2.3/', 'private'],
    ['http://172.16.0.1/', 'private'],
    ['http://172.31.255.254/', 'private'],
    ['http://192.168.1.10/', 'private'],
    ['http://[fc00::1]/', 'private (unique local)'],
    ['http://[fd12:3456::1]/', 'private (unique local)'],
    ['http://169.254.10.1/', 'link-local'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://[::]/', 'unspecified'],
    ['http://100.64.0.1/', 'carrier-grade NAT'],
    ['http://100.127.255.254/', 'carrier-grade NAT'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://[ff02::1]/', 'multicast'],
    ['http://255.255.255.255/', 'broadcast'],
    ['http://240.0.0.1/', 'reserved'],
    ['http://192.0.2.1/', 'reserved'],
    ['http://[2001:db8::1]/', 'reserved'],
    ['http://[64:ff9b::a00:1]/', 'reserved (rfc6052)'], // NAT64 of 10.0.0.1
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::ffff:10.0.0.1]/', 'private'],
    ['http://[::ffff:192.168.0.1]/', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'cloud metadata'],
    ['http://100.100.100.200/latest/meta-data/', 'cloud metadata'],
    ['http://[fd00:ec2::254]/', 'cloud metadata'],
    ['http://[::ffff:169.254.169.254]/', 'cloud metadata'],
  ])('refuses %s (%s)', async (url, label) => {
    expect(await refused(url)).toContain(`is a ${label} address`);
  });

  it('refuses cloud metadata addresses even where private targets are allowed', async () => {
    for (const url of ['http://169.254.169.254/', 'http://100.100.100.200/', 'http://[fd00:ec2::254]/']) {
      expect(await refused(url, true)).toContain('cloud metadata');
    }
    expect(await refused('http://metadata.internal/', true, async () => ['169.254.169.254'])).toContain('resolves to 169.254.169.254');
  });

  it.each([
    ['not a url', 'not a valid absolute URL'],
    ['/relative/path', 'not a valid absolute URL'],
    ['', 'required'],
    ['ftp://example.com/hook', 'must use http or https, not ftp:'],
    ['file:///etc/passwd', 'must use http or https'],
    ['javascript:alert(1)', 'must use http or https'],
    ['https://user:pass@example.com/hook', 'credentials'],
    ['https://user@example.com/hook', 'credentials'],
    [`https://example.com/${'a'.repeat(2048)}`, 'longer than 2048'],
    ['http://localhost:8080/', 'loopback (localhost)'],
    ['http://api.localhost/', 'loopback (localhost)'],
  ])('refuses %j', async (url, message) => {
    expect(await refused(url)).toContain(message);
  });

  it('refuses a host name that resolves to a forbidden address (any of its addresses)', async () => {
    expect(await refused('https://hooks.example.com/x', false, async () => ['127.0.0.1'])).toContain('resolves to 127.0.0.1, which is a loopback address');
    expect(await refused('https://hooks.example.com/x', false, async () => ['93.184.216.34', '10.0.0.7'])).toContain('10.0.0.7');
    expect(await refused('https://hooks.example.com/x', false, async () => ['::ffff:7f00:1'])).toContain('loopback');
  });

  it('refuses a host name that cannot be resolved', async () => {
    expect(await refused('https://nowhere.example/', false, async () => [])).toContain('cannot be resolved');
    const failing: Resolve = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    expect(await refused('https://nowhere.example/', false, failing)).toContain('cannot be resolved');
    // The system resolver: .invalid never resolves (RFC 6761).
    const err = await rejection(() => validateWebhookTarget('https://nowhere.invalid/', { allowPrivate: false }));
    expect(err.message).toContain('cannot be resolved');
  });

  it('accepts public targets', async () => {
    expect((await check('https://93.184.216.34/hook?x=1')).href).toBe('https://93.184.216.34/hook?x=1');
    const dual: Resolve = async () => ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'];
    expect((await check('https://hooks.example.com:8443/in', false, dual)).host).toBe('hooks.example.com:8443');
    expect((await check('http://[2606:2800:220:1:248:1893:25c8:1946]/')).hostname).toBe('[2606:2800:220:1:248:1893:25c8:1946]');
  });

  it('accepts loopback and private targets when allowPrivate is true', async () => {
    for (const url of ['http://127.0.0.1:3000/hook', 'http://[::1]/', 'http://10.0.0.5/', 'http://localhost:3000/']) {
      await expect(check(url, true, async () => ['127.0.0.1'])).resolves.toBeInstanceOf(URL);
    }
  });

  it('forbiddenReason judges single addresses', () => {
    expect(forbiddenReason('8.8.8.8', false)).toBeNull();
    expect(forbiddenReason('10.0.0.1', false)).toBe('private');
    expect(forbiddenReason('10.0.0.1', true)).toBeNull();
    expect(forbiddenReason('::ffff:a9fe:a9fe', true)).toBe('cloud metadata');
    expect(forbiddenReason('nonsense', true)).toBe('not an IP address');
  });
});

describe('guardedLookup', () => {
  let server: http.Server;
  let port = 0;
  let hits = 0;

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      hits++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const get = (url: string, lookup: ReturnType<typeof guardedLookup>) =>
    new Promise<{ status?: number; error?: NodeJS.ErrnoException }>((resolve) => {
      const req = http.request(url, { lookup, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode }));
      });
      req.on('error', (error: NodeJS.ErrnoException) => resolve({ error }));
      req.end();
    });

  it('refuses at connect time a host that resolves to loopback', async () => {
    const before = hits;
    const viaFake = await get(`http://receiver.test:${port}/`, guardedLookup(false, async () => ['127.0.0.1']));
    expect(viaFake.error?.code).toBe('EWEBHOOKTARGET');
    expect(viaFake.error?.message).toContain('127.0.0.1, a loopback address');
    // The real resolver: localhost is 127.0.0.1 (and perhaps ::1).
    const viaDns = await get(`http://localhost:${port}/`, guardedLookup(false));
    expect(viaDns.error?.code).toBe('EWEBHOOKTARGET');
    expect(hits).toBe(before);
  });

  it('connects when private targets are allowed', async () => {
    expect(await get(`http://receiver.test:${port}/`, guardedLookup(true, async () => ['127.0.0.1']))).toEqual({ status: 200 });
  });

  it('defeats DNS rebinding between validation and connection', async () => {
    let calls = 0;
    const rebinding: Resolve = async () => (calls++ === 0 ? ['93.184.216.34'] : ['127.0.0.1']);
    await expect(validateWebhookTarget(`http://rebind.test:${port}/`, { allowPrivate: false, resolve: rebinding })).resolves.toBeInstanceOf(URL);
    const before = hits;
    const res = await get(`http://rebind.test:${port}/`, guardedLookup(false, rebinding));
    expect(res.error?.code).toBe('EWEBHOOKTARGET');
    expect(hits).toBe(before);
  });

  it('reports a host with no addresses as not found', async () => {
    const res = await get(`http://empty.test:${port}/`, guardedLookup(true, async () => []));
    expect(res.error?.code).toBe('ENOTFOUND');
  });
});
