// Webhook target validation (SSRF defences) and the connect-time DNS guard.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ipaddr from 'ipaddr.js';
import { forbiddenReason, guardedLookup, validateWebhookTarget, type Resolve } from '../../subgraphs/sync/webhooks/targets.ts';
import { CLOUD_METADATA_ADDRESSES, embeddedIPv4, refusalHint } from '../../subgraphs/sync/webhooks/target-addresses.ts';
import { send } from '../../subgraphs/sync/webhooks/send.ts';
import { rejection } from '../helpers/mongo.ts';

const publicResolve: Resolve = async () => ['93.184.216.34'];
const check = (url: string, allowPrivate = false, resolve: Resolve = publicResolve) => validateWebhookTarget(url, { allowPrivate, resolve });

async function refused(url: string, allowPrivate = false, resolve: Resolve = publicResolve) {
  const err = await rejection(() => check(url, allowPrivate, resolve));
  expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'url' });
  return err.message as string;
}

describe('validateWebhookTarget', () => {
  const PRIVATE = 'allowed only with WEBHOOK_ALLOW_PRIVATE_TARGETS=true';
  const ALWAYS = 'refused even with WEBHOOK_ALLOW_PRIVATE_TARGETS=true';

  // Loopback and private networks: refused by default, allowed by WEBHOOK_ALLOW_PRIVATE_TARGETS.
  it.each([
    ['http://127.0.0.1/', 'a loopback address'],
    ['http://127.10.20.30:8080/hook', 'a loopback address'],
    ['http://2130706433/', 'a loopback address'], // decimal form of 127.0.0.1
    ['http://0x7f.1/', 'a loopback address'],
    ['http://[::1]/', 'a loopback address'],
    ['http://10.1.2.3/', 'a private address'],
    ['http://172.16.0.1/', 'a private address'],
    ['http://172.31.255.254/', 'a private address'],
    ['http://192.168.1.10/', 'a private address'],
    ['http://[fc00::1]/', 'a private (unique local) address'],
    ['http://[fd12:3456::1]/', 'a private (unique local) address'],
    ['http://100.64.0.1/', 'a carrier-grade NAT address'],
    ['http://100.127.255.254/', 'a carrier-grade NAT address'],
  ])('refuses %s (%s) unless private targets are allowed', async (url, reason) => {
    const message = await refused(url);
    expect(message).toContain(`is ${reason}; webhook targets must be public (${PRIVATE})`);
    await expect(check(url, true)).resolves.toBeInstanceOf(URL);
  });

  // Never a receiver's address: refused whatever WEBHOOK_ALLOW_PRIVATE_TARGETS says.
  it.each([
    ['http://169.254.10.1/', 'a link-local address'],
    ['http://[fe80::1]/', 'a link-local address'],
    ['http://[fe80::a9fe:a9fe]/', 'a link-local address'],
    ['http://0.0.0.0/', 'an unspecified address'],
    ['http://[::]/', 'an unspecified address'],
    ['http://224.0.0.1/', 'a multicast address'],
    ['http://[ff02::1]/', 'a multicast address'],
    ['http://255.255.255.255/', 'a broadcast address'],
    ['http://240.0.0.1/', 'a reserved address'],
    ['http://192.0.2.1/', 'a reserved address'],
    ['http://198.18.0.1/', 'a reserved address'],
    ['http://[2001:db8::1]/', 'a reserved address'],
    ['http://[100::1]/', 'a reserved (discard) address'],
    ['http://[4000::1]/', 'a reserved address (outside 2000::/3)'],
    // IPv4-mapped (::ffff:0:0/96), in the spellings the URL parser produces
    ['http://[::ffff:127.0.0.1]/', 'an IPv4-mapped IPv6 address of 127.0.0.1 (a loopback address)'],
    ['http://[::ffff:7f00:1]/', 'an IPv4-mapped IPv6 address of 127.0.0.1 (a loopback address)'],
    ['http://[::ffff:10.0.0.1]/', 'an IPv4-mapped IPv6 address of 10.0.0.1 (a private address)'],
    ['http://[::ffff:192.168.0.1]/', 'an IPv4-mapped IPv6 address of 192.168.0.1 (a private address)'],
    ['http://[::ffff:169.254.169.254]/', 'an IPv4-mapped IPv6 address of 169.254.169.254 (a cloud metadata address)'],
    ['http://[::ffff:8.8.8.8]/', 'an IPv4-mapped IPv6 address of 8.8.8.8;'],
    // IPv4-compatible (::/96) and IPv4-translated (::ffff:0:0:0/96)
    ['http://[::127.0.0.1]/', 'an IPv4-compatible IPv6 address of 127.0.0.1 (a loopback address)'],
    ['http://[::a9fe:a9fe]/', 'an IPv4-compatible IPv6 address of 169.254.169.254 (a cloud metadata address)'],
    ['http://[::10.0.0.1]/', 'an IPv4-compatible IPv6 address of 10.0.0.1 (a private address)'],
    ['http://[::8.8.8.8]/', 'an IPv4-compatible IPv6 address of 8.8.8.8;'],
    ['http://[::ffff:0:7f00:1]/', 'an IPv4-translated IPv6 address of 127.0.0.1 (a loopback address)'],
    // NAT64: well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48
    ['http://[64:ff9b::a00:1]/', 'a NAT64 IPv6 address of 10.0.0.1 (a private address)'],
    ['http://[64:ff9b::127.0.0.1]/', 'a NAT64 IPv6 address of 127.0.0.1 (a loopback address)'],
    ['http://[64:ff9b::a9fe:a9fe]/', 'a NAT64 IPv6 address of 169.254.169.254 (a cloud metadata address)'],
    ['http://[64:ff9b::808:808]/', 'a NAT64 IPv6 address of 8.8.8.8;'],
    ['http://[64:ff9b:1::a9fe:a9fe]/', 'a NAT64 IPv6 address of 169.254.169.254 (a cloud metadata address)'],
    ['http://[64:ff9b:1:abcd::c0a8:1]/', 'a NAT64 IPv6 address of 192.168.0.1 (a private address)'],
    // 6to4 (2002::/16): the IPv4 address follows the prefix
    ['http://[2002:7f00:1::1]/', 'a 6to4 IPv6 address of 127.0.0.1 (a loopback address)'],
    ['http://[2002:a9fe:a9fe::]/', 'a 6to4 IPv6 address of 169.254.169.254 (a cloud metadata address)'],
    ['http://[2002:c000:c0::1]/', 'a 6to4 IPv6 address of 192.0.0.192 (a cloud metadata address)'],
    ['http://[2002:808:808::1]/', 'a 6to4 IPv6 address of 8.8.8.8;'],
    // Teredo (2001::/32): the client address is the last 32 bits inverted (RFC 4380's example is 192.0.2.45)
    ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', 'a Teredo IPv6 address of 192.0.2.45 (a reserved address)'],
    ['http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', 'a Teredo IPv6 address of 127.0.0.1 (a loopback address)'],
    ['http://[2001:0:4136:e378:8000:63bf:5601:5601]/', 'a Teredo IPv6 address of 169.254.169.254 (a cloud metadata address)'],
  ])('refuses %s (%s) even where private targets are allowed', async (url, reason) => {
    for (const allowPrivate of [false, true]) {
      const message = await refused(url, allowPrivate);
      expect(message).toContain(`is ${reason}`);
      expect(message).toContain(ALWAYS);
    }
  });

  it.each(CLOUD_METADATA_ADDRESSES)('refuses the cloud metadata address %s, as a literal, by name and embedded in IPv6', async (address) => {
    const literal = address.includes(':') ? `http://[${address}]/latest/meta-data/` : `http://${address}/latest/meta-data/`;
    for (const allowPrivate of [false, true]) {
      expect(await refused(literal, allowPrivate)).toContain(`is a cloud metadata address; webhook targets must be public (${ALWAYS})`);
      expect(await refused('http://metadata.example.test/', allowPrivate, async () => ['93.184.216.34', address])).toContain(
        `resolves to ${address}, which is a cloud metadata address`,
      );
      if (!address.includes(':')) {
        const mapped = ipaddr.IPv4.parse(address).toIPv4MappedAddress().toString();
        expect(await refused(`http://[${mapped}]/`, allowPrivate)).toContain(`IPv6 address of ${address} (a cloud metadata address)`);
      }
    }
  });

  it('refuses what metadata host names resolve to, even where private targets are allowed', async () => {
    // metadata.google.internal answers 169.254.169.254 and, on IPv6 instances, fd20:ce::254; Tencent's name 169.254.0.23.
    const google: Resolve = async () => ['169.254.169.254', 'fd20:ce::254'];
    expect(await refused('http://metadata.google.internal/computeMetadata/v1/', true, google)).toContain(
      `url host metadata.google.internal resolves to 169.254.169.254, which is a cloud metadata address; webhook targets must be public (${ALWAYS})`,
    );
    expect(await refused('http://metadata.google.internal/', true, async () => ['fd20:ce::254'])).toContain('fd20:ce::254, which is a cloud metadata address');
    expect(await refused('http://metadata.tencentyun.com/', true, async () => ['169.254.0.23'])).toContain('169.254.0.23, which is a cloud metadata address');
    expect(await refused('http://metadata.internal/', true, async () => ['::ffff:a9fe:a9fe'])).toContain('resolves to ::ffff:a9fe:a9fe, which is an IPv4-mapped');
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
    expect(forbiddenReason('2606:4700:4700::1111', false)).toBeNull();
    expect(forbiddenReason('10.0.0.1', false)).toBe('a private address');
    expect(forbiddenReason('10.0.0.1', true)).toBeNull();
    expect(forbiddenReason('fd12::1', true)).toBeNull();
    expect(forbiddenReason('fd00:ec2::254', true)).toBe('a cloud metadata address');
    expect(forbiddenReason('100.100.100.200', true)).toBe('a cloud metadata address');
    expect(forbiddenReason('169.254.1.1', true)).toBe('a link-local address');
    expect(forbiddenReason('::ffff:a9fe:a9fe', true)).toBe('an IPv4-mapped IPv6 address of 169.254.169.254 (a cloud metadata address)');
    expect(forbiddenReason('::ffff:a00:5', true)).toBe('an IPv4-mapped IPv6 address of 10.0.0.5 (a private address)');
    expect(forbiddenReason('nonsense', true)).toBe('not an IP address');
    expect(refusalHint('10.0.0.1')).toBe('allowed only with WEBHOOK_ALLOW_PRIVATE_TARGETS=true');
    expect(refusalHint('::7f00:1')).toBe('refused even with WEBHOOK_ALLOW_PRIVATE_TARGETS=true');
  });

  it('embeddedIPv4 extracts the IPv4 address of every embedding form', () => {
    const cases: [string, string, string][] = [
      ['::ffff:a9fe:a9fe', 'an IPv4-mapped', '169.254.169.254'],
      ['::ffff:0:a9fe:a9fe', 'an IPv4-translated', '169.254.169.254'],
      ['::7f00:1', 'an IPv4-compatible', '127.0.0.1'],
      ['::2', 'an IPv4-compatible', '0.0.0.2'],
      ['64:ff9b::c000:c0', 'a NAT64', '192.0.0.192'],
      ['64:ff9b:1:ffff::a9fe:aa02', 'a NAT64', '169.254.170.2'],
      ['2002:a9fe:17::1', 'a 6to4', '169.254.0.23'],
      ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'a Teredo', '192.0.2.45'],
    ];
    for (const [address, form, ipv4] of cases) {
      const got = embeddedIPv4(ipaddr.IPv6.parse(address));
      expect({ form: got?.form, ipv4: got?.ipv4.toString() }, address).toEqual({ form, ipv4 });
    }
    for (const plain of ['::', '::1', '2606:4700::1111', 'fe80::1', 'fd00:ec2::254']) expect(embeddedIPv4(ipaddr.IPv6.parse(plain)), plain).toBeNull();
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

  it('refuses at connect time embedded and metadata addresses even where private targets are allowed', async () => {
    const before = hits;
    for (const address of ['::7f00:1', '::ffff:0:7f00:1', '64:ff9b::7f00:1', '2002:7f00:1::1', '::a9fe:a9fe', '169.254.170.2', 'fd00:ec2::254']) {
      const res = await get(`http://receiver.test:${port}/`, guardedLookup(true, async () => ['127.0.0.1', address]));
      expect(res.error?.code, address).toBe('EWEBHOOKTARGET');
      expect(res.error?.message, address).toContain(`receiver.test resolved to ${address}, `);
      expect(res.error?.message, address).toContain('(refused even with WEBHOOK_ALLOW_PRIVATE_TARGETS=true)');
    }
    expect(hits).toBe(before);
  });

  it('a delivery connects to the address that was checked, and refuses embedded literals before connecting', async () => {
    const opts = { timeoutMs: 2000, allowPrivate: true };
    const before = hits;
    // The name does not exist in DNS: reaching the server proves the connection used the checked answer.
    expect(await send(new URL(`http://receiver.test:${port}/`), '{}', {}, { ...opts, resolve: async () => ['127.0.0.1'] })).toEqual({ ok: true, statusCode: 200 });
    expect(hits).toBe(before + 1);
    expect(await send(new URL(`http://[::127.0.0.1]:${port}/`), '{}', {}, opts)).toEqual({
      ok: false,
      statusCode: null,
      error: 'target refused: ::7f00:1 is an IPv4-compatible IPv6 address of 127.0.0.1 (a loopback address) (refused even with WEBHOOK_ALLOW_PRIVATE_TARGETS=true)',
    });
    expect(await send(new URL(`http://[::ffff:127.0.0.1]:${port}/`), '{}', {}, opts)).toMatchObject({ ok: false, error: expect.stringContaining('IPv4-mapped') });
    let calls = 0;
    const rebinding: Resolve = async () => (calls++ === 0 ? ['127.0.0.1'] : ['169.254.169.254']);
    await expect(validateWebhookTarget(`http://rebind.test:${port}/`, { allowPrivate: true, resolve: rebinding })).resolves.toBeInstanceOf(URL);
    expect(await send(new URL(`http://rebind.test:${port}/`), '{}', {}, { ...opts, resolve: rebinding })).toEqual({
      ok: false,
      statusCode: null,
      error: 'target refused: rebind.test resolved to 169.254.169.254, a cloud metadata address (refused even with WEBHOOK_ALLOW_PRIVATE_TARGETS=true)',
    });
    expect(hits).toBe(before + 1);
  });

  it('reports a host with no addresses as not found', async () => {
    const res = await get(`http://empty.test:${port}/`, guardedLookup(true, async () => []));
    expect(res.error?.code).toBe('ENOTFOUND');
  });
});
