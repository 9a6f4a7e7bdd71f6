// Delivery signatures (what receivers verify) and webhook secrets at rest.
import { describe, expect, it } from 'vitest';
import { secretBox, validateWebhookSecret } from '../../subgraphs/sync/webhooks/secrets.ts';
import { signDelivery, verifyDelivery } from '../../subgraphs/sync/webhooks/signature.ts';

const secret = 'whsec_0123456789abcdef';

describe('signDelivery / verifyDelivery', () => {
  const ts = 1_700_000_000;
  const body = '{"deliveryId":"d1"}';
  const headers = (over: Record<string, string> = {}) => ({ 'X-Delivery-Id': 'd1', 'X-Timestamp': String(ts), 'X-Signature-256': signDelivery(secret, ts, body), ...over });
  const verify = (h: Record<string, string | string[] | undefined>, rawBody = body, now = ts * 1000) => verifyDelivery({ secret, headers: h, rawBody, now });

  it('is HMAC-SHA256 over "<timestamp>.<body>" (independently computed vector)', () => {
    expect(signDelivery(secret, ts, body)).toBe('sha256=a25033c28ff1f5bfc8d1b2787a89fac5d507c2f3294b8669567ef151da32fb95');
  });

  it('accepts a genuine delivery, whatever the header case', () => {
    expect(verify(headers())).toEqual({ ok: true, deliveryId: 'd1' });
    const lower = Object.fromEntries(Object.entries(headers()).map(([k, v]) => [k.toLowerCase(), v]));
    expect(verify(lower, body, ts * 1000 + 299_000)).toEqual({ ok: true, deliveryId: 'd1' });
  });

  it('refuses a tampered body, timestamp or signature, and the wrong secret', () => {
    expect(verify(headers(), '{"deliveryId":"d1","x":1}')).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(verify(headers({ 'X-Timestamp': String(ts + 1) }))).toEqual({ ok: false, reason: 'signature mismatch' });
    const sig = signDelivery(secret, ts, body);
    expect(verify(headers({ 'X-Signature-256': sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0') }))).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(verifyDelivery({ secret: 'another-secret-0123456', headers: headers(), rawBody: body, now: ts * 1000 })).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('refuses stale and future timestamps beyond the tolerance', () => {
    expect(verify(headers(), body, (ts + 301) * 1000)).toEqual({ ok: false, reason: 'timestamp outside the accepted tolerance' });
    expect(verify(headers(), body, (ts - 301) * 1000)).toEqual({ ok: false, reason: 'timestamp outside the accepted tolerance' });
    expect(verifyDelivery({ secret, headers: headers(), rawBody: body, now: (ts + 60) * 1000, toleranceSeconds: 30 }).ok).toBe(false);
  });

  it('refuses missing or malformed headers, and an id that differs from the signed body', () => {
    expect(verify({ ...headers(), 'X-Delivery-Id': undefined })).toEqual({ ok: false, reason: 'missing X-Delivery-Id header' });
    expect(verify(headers({ 'X-Timestamp': '17e8' })).ok).toBe(false);
    expect(verify(headers({ 'X-Signature-256': 'sha1=abc' })).ok).toBe(false);
    expect(verify({ ...headers(), 'X-Signature-256': [signDelivery(secret, ts, body), 'x'] }).ok).toBe(false);
    expect(verify(headers({ 'X-Delivery-Id': 'd2' }))).toEqual({ ok: false, reason: 'X-Delivery-Id does not match the signed body' });
  });
});

describe('webhook secrets at rest', () => {
  const box = secretBox('master-secret-for-tests-0123456789');

  it('round-trips in the v1 format, with a fresh IV each time', () => {
    const a = box.encrypt(secret);
    const b = box.encrypt(secret);
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain(secret);
    expect(box.decrypt(a)).toBe(secret);
    expect(box.decrypt(b)).toBe(secret);
  });

  it('refuses tampering and another master secret', () => {
    const sealed = box.encrypt(secret);
    const parts = sealed.split('.');
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const i of [1, 2, 3]) {
      const tampered = parts.map((p, j) => (j === i ? flip(p) : p)).join('.');
      expect(() => box.decrypt(tampered)).toThrow(/cannot be decrypted/);
    }
    expect(() => box.decrypt(['v2', ...parts.slice(1)].join('.'))).toThrow(/cannot be decrypted/);
    expect(() => box.decrypt('garbage')).toThrow(/cannot be decrypted/);
    expect(() => secretBox('another-master-secret-0123456789').decrypt(sealed)).toThrow(/cannot be decrypted/);
  });

  it('requires 16 to 256 characters', () => {
    expect(validateWebhookSecret('x'.repeat(16))).toHaveLength(16);
    expect(validateWebhookSecret('x'.repeat(256))).toHaveLength(256);
    for (const bad of ['x'.repeat(15), 'x'.repeat(257), '', 42]) {
      try {
        validateWebhookSecret(bad);
        expect.unreachable();
      } catch (err) {
        expect((err as { extensions: unknown }).extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'secret' });
      }
    }
  });
});
