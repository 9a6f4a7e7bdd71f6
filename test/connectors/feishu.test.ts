// Feishu/Lark approval_instance events over real HTTP: URL verification, signatures, encryption, replay
// protection, mapping to claims, duplicates, stale events and rejected events.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { decryptFeishu, encryptFeishu, feishuSignature, parseFeishuRequest } from '../../subgraphs/oa/connectors/feishu.ts';
import { InstanceDetailError } from '../../subgraphs/oa/connectors/details.ts';
import { InboundEventStore, redeliverPending } from '../../subgraphs/oa/connectors/inbound.ts';
import { parseMappingConfig } from '../../subgraphs/oa/connectors/mapping.ts';
import { connectorRoutes } from '../../subgraphs/oa/connectors/routes.ts';
import { ConnectorAuthError, type InstanceDetail } from '../../subgraphs/oa/connectors/types.ts';
import {
  capturedLogger,
  FakeDetails,
  FakeSink,
  feishuDelivery,
  feishuRefEncrypt,
  feishuRefSign,
  feishuV1,
  feishuV2,
  MAPPING_FILE,
  openDb,
  post,
  serveConnectors,
  type Db,
  type TestServer,
} from './helpers.ts';

const ENCRYPT_KEY = 'fs-encrypt-key-4f9c2a7e';
const TOKEN = 'fs-verification-token-81b3';
const T0 = 1_717_000_000_000; // operate_time of the first event (ms)

const travelDetail = (): InstanceDetail => ({
  externalUserId: 'fs-user-1',
  title: '差旅报销 202406010001',
  form: [
    { name: '事由', value: '上海客户拜访' },
    {
      name: '费用明细',
      value: [
        [
          { name: '费用说明', value: '高铁票 北京-上海' },
          { name: '金额', value: 553.5 },
          { name: '发生日期', value: '2024-05-28T08:00:00+08:00' },
          { name: '发票号', value: '24112000000012345678' },
        ],
        [
          { name: '费用说明', value: '酒店两晚' },
          { name: '金额', value: '1234.5' },
          { name: '发生日期', value: '2024-05-29T00:00:00+08:00' },
          { name: '发票号', value: '' },
        ],
      ],
    },
  ],
});

let db: Db;
let store: InboundEventStore;
let sink: FakeSink;
let details: FakeDetails;
let server: TestServer;
let endpoint: string;
const log = capturedLogger();

beforeAll(async () => {
  db = await openDb();
  store = await new InboundEventStore(db.connection, 60_000).init();
  sink = new FakeSink();
  details = new FakeDetails();
  const handler = connectorRoutes({
    feishu: { encryptKey: ENCRYPT_KEY, verificationToken: TOKEN },
    details,
    mapping: parseMappingConfig(MAPPING_FILE),
    store,
    sink,
    logger: log.logger,
  });
  server = await serveConnectors(handler);
  endpoint = `${server.url}/connectors/feishu`;
});

afterAll(async () => {
  await server?.close();
  await db?.close();
});

beforeEach(async () => {
  await store.model.deleteMany({});
  sink.calls.length = 0;
  sink.last.clear();
  details.calls.length = 0;
  details.byKey.clear();
  details.hold = undefined;
});

const send = (event: unknown, opts?: Parameters<typeof feishuDelivery>[2]) => {
  const d = feishuDelivery(event, ENCRYPT_KEY, opts);
  return post(endpoint, d.body, d.headers);
};
const v1 = (uuid: string, status: string, operateTime: number | string, instanceCode = 'INST-1', approvalCode = 'APPROVAL-TRAVEL') =>
  feishuV1({ uuid, token: TOKEN, instanceCode, approvalCode, status, operateTime });

describe('Feishu scheme', () => {
  it('decrypts the documented example ("test key" → "hello world")', () => {
    expect(decryptFeishu('P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=', 'test key')).toBe('hello world');
  });

  it('encrypts and signs like the reference', () => {
    const cipher = encryptFeishu('{"a":1}', ENCRYPT_KEY);
    expect(decryptFeishu(cipher, ENCRYPT_KEY)).toBe('{"a":1}');
    expect(decryptFeishu(feishuRefEncrypt('{"b":2}', ENCRYPT_KEY), ENCRYPT_KEY)).toBe('{"b":2}');
    expect(feishuSignature('1700000000', 'nonce', ENCRYPT_KEY, Buffer.from('{"x":1}'))).toBe(feishuRefSign('1700000000', 'nonce', ENCRYPT_KEY, '{"x":1}'));
  });

  it('refuses a body encrypted under another key', () => {
    // Bad padding makes decryptFeishu throw; the rare garbage that happens to end in valid padding is not JSON.
    for (let i = 0; i < 50; i++) {
      const { body } = feishuDelivery({ challenge: 'c', token: TOKEN, type: 'url_verification' }, 'another key', { sign: false });
      expect(() => parseFeishuRequest({ headers: {}, rawBody: Buffer.from(body) }, { encryptKey: ENCRYPT_KEY, verificationToken: TOKEN })).toThrow(ConnectorAuthError);
    }
  });

  it('takes the signed timestamp in seconds and applies the configurable replay window', () => {
    const now = T0;
    const d = feishuDelivery(v1('u-window', 'PENDING', T0), ENCRYPT_KEY, { timestampSeconds: Math.floor(now / 1000) - 90 });
    const req = { headers: d.headers, rawBody: Buffer.from(d.body) };
    expect(parseFeishuRequest(req, { encryptKey: ENCRYPT_KEY, verificationToken: TOKEN }, now).kind).toBe('event');
    expect(() => parseFeishuRequest(req, { encryptKey: ENCRYPT_KEY, verificationToken: TOKEN, replayWindowMs: 60_000 }, now)).toThrow(/old/);
  });
});

describe('URL verification', () => {
  it('answers the challenge of an encrypted, unsigned verification request', async () => {
    const { body } = feishuDelivery({ challenge: 'ajls384kdjx98XX', token: TOKEN, type: 'url_verification' }, ENCRYPT_KEY, { sign: false });
    const answer = await post(endpoint, body);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ challenge: 'ajls384kdjx98XX' });
    expect(await store.model.countDocuments()).toBe(0);
  });

  it('answers a plaintext verification request too', async () => {
    const answer = await post(endpoint, JSON.stringify({ challenge: 'c-plain', token: TOKEN, type: 'url_verification' }));
    expect(answer).toMatchObject({ status: 200, body: { challenge: 'c-plain' } });
  });

  it('refuses a verification request with another token', async () => {
    const { body } = feishuDelivery({ challenge: 'x', token: 'not-the-token', type: 'url_verification' }, ENCRYPT_KEY, { sign: false });
    expect((await post(endpoint, body)).status).toBe(401);
  });

  it('refuses an unsigned event (only the verification request may come unsigned)', async () => {
    const answer = await send(v1('u-unsigned', 'PENDING', T0), { sign: false });
    expect(answer.status).toBe(401);
    expect(await store.model.countDocuments()).toBe(0);
    expect(sink.calls).toHaveLength(0);
  });
});

describe('approval_instance events', () => {
  it('applies a valid 1.0 event: the sink gets the exact claim (fen amounts, dates, category, applicant)', async () => {
    details.set('feishu', 'INST-1', travelDetail());
    const answer = await send(v1('uuid-1', 'PENDING', String(T0)));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ code: 0, msg: 'success', status: 'APPLIED' });
    expect(sink.calls).toEqual([
      {
        source: { platform: 'feishu', instanceCode: 'INST-1', approvalCode: 'APPROVAL-TRAVEL' },
        applicantId: 'E1001',
        category: 'TRAVEL',
        title: '上海客户拜访',
        items: [
          { description: '高铁票 北京-上海', amountFen: 55350, occurredOn: '2024-05-28', invoiceNo: '24112000000012345678' },
          { description: '酒店两晚', amountFen: 123450, occurredOn: '2024-05-29' },
        ],
        status: 'SUBMITTED',
        eventTime: new Date(T0),
      },
    ]);
    const record = await store.get('feishu', 'uuid-1');
    expect(record).toMatchObject({ status: 'APPLIED', claimId: 'claim-feishu:INST-1', instanceCode: 'INST-1', eventTime: new Date(T0), reason: null });
    expect(record?.event).toEqual({
      platform: 'feishu',
      eventId: 'uuid-1',
      instanceCode: 'INST-1',
      approvalCode: 'APPROVAL-TRAVEL',
      status: 'SUBMITTED',
      eventTime: new Date(T0),
      externalUserId: null,
    });
  });

  it('applies a 2.0-shaped event and an int64 operate_time', async () => {
    details.set('feishu', 'INST-2', travelDetail());
    const approved = feishuV2({ eventId: 'ev-2', token: TOKEN, instanceCode: 'INST-2', approvalCode: 'APPROVAL-TRAVEL', status: 'APPROVED', operateTime: T0 + 5000 });
    expect((await send(approved)).body.status).toBe('APPLIED');
    const reverted = v1('uuid-2-reverted', 'REVERTED', T0 + 9000, 'INST-2');
    expect((await send(reverted)).body.status).toBe('APPLIED');
    expect(sink.calls.map((c) => [c.status, c.eventTime.getTime()])).toEqual([
      ['APPROVED', T0 + 5000],
      ['SUBMITTED', T0 + 9000],
    ]);
  });

  it('maps CANCELED and DELETED to WITHDRAWN', async () => {
    details.set('feishu', 'INST-3', travelDetail());
    await send(v1('u-3a', 'CANCELED', T0, 'INST-3'));
    details.set('feishu', 'INST-4', travelDetail());
    await send(v1('u-4a', 'DELETED', T0, 'INST-4'));
    expect(sink.calls.map((c) => c.status)).toEqual(['WITHDRAWN', 'WITHDRAWN']);
  });

  it('maps a single-amount form (no table) to one item', async () => {
    details.set('feishu', 'INST-M', {
      externalUserId: 'fs-user-2',
      title: '餐费报销',
      form: [
        { name: '说明', value: '客户午餐' },
        { name: '金额', value: 88 },
        { name: '日期', value: '2024-06-03T12:00:00+08:00' },
      ],
    });
    const answer = await send(v1('u-m', 'APPROVED', T0, 'INST-M', 'APPROVAL-MEALS'));
    expect(answer.body.status).toBe('APPLIED');
    expect(sink.calls[0]).toMatchObject({
      applicantId: 'E1002',
      category: 'MEALS',
      title: '餐费报销',
      items: [{ description: '客户午餐', amountFen: 8800, occurredOn: '2024-06-03' }],
      status: 'APPROVED',
    });
  });

  it('ignores OVERTIME_* with a reason and records it', async () => {
    const answer = await send(v1('u-ot', 'OVERTIME_CLOSE', T0));
    expect(answer).toMatchObject({ status: 200, body: { status: 'IGNORED' } });
    expect(await store.get('feishu', 'u-ot')).toMatchObject({ status: 'IGNORED', reason: 'status OVERTIME_CLOSE has no claim equivalent' });
    expect(details.calls).toHaveLength(0);
    expect(sink.calls).toHaveLength(0);
  });

  it('acknowledges other event types without recording them', async () => {
    const other = { schema: '2.0', header: { event_id: 'e-im', event_type: 'im.message.receive_v1', token: TOKEN, create_time: String(T0) }, event: { message: {} } };
    const answer = await send(other);
    expect(answer).toMatchObject({ status: 200, body: { code: 0, msg: 'success' } });
    expect(await store.model.countDocuments()).toBe(0);
  });
});

describe('authentication', () => {
  it('refuses a bad signature with 401 and leaves the store and the sink untouched', async () => {
    details.set('feishu', 'INST-1', travelDetail());
    const d = feishuDelivery(v1('u-bad', 'PENDING', T0), ENCRYPT_KEY);
    const answer = await post(endpoint, d.body, { ...d.headers, 'x-lark-signature': feishuRefSign(d.headers['x-lark-request-timestamp']!, d.headers['x-lark-request-nonce']!, 'wrong-key', d.body) });
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ code: 401, msg: 'unauthorized' });
    expect(await store.model.countDocuments()).toBe(0);
    expect(sink.calls).toHaveLength(0);
    expect(details.calls).toHaveLength(0);
  });

  it('refuses a body changed after signing', async () => {
    const d = feishuDelivery(v1('u-changed', 'PENDING', T0), ENCRYPT_KEY, { encrypt: false });
    const answer = await post(endpoint, d.body.replace('PENDING', 'APPROVED'), d.headers);
    expect(answer.status).toBe(401);
    expect(await store.model.countDocuments()).toBe(0);
  });

  it('refuses a timestamp older than 5 minutes (and one from the future)', async () => {
    details.set('feishu', 'INST-1', travelDetail());
    const old = await send(v1('u-old', 'PENDING', T0), { nowMs: Date.now() - 6 * 60_000 });
    expect(old.status).toBe(401);
    const future = await send(v1('u-future', 'PENDING', T0), { nowMs: Date.now() + 6 * 60_000 });
    expect(future.status).toBe(401);
    expect(await store.model.countDocuments()).toBe(0);
    expect(sink.calls).toHaveLength(0);
  });

  it('refuses tampered ciphertext, even when the (tampered) body carries a valid signature', async () => {
    const plain = JSON.stringify(v1('u-tamper', 'PENDING', T0));
    const cipher = Buffer.from(feishuRefEncrypt(plain, ENCRYPT_KEY), 'base64');
    cipher[cipher.length - 1] = (cipher[cipher.length - 1] as number) ^ 0x5a;
    const body = JSON.stringify({ encrypt: cipher.toString('base64') });
    const ts = String(Math.floor(Date.now() / 1000));
    const signedTampered = await post(endpoint, body, { 'x-lark-request-timestamp': ts, 'x-lark-request-nonce': 'n1', 'x-lark-signature': feishuRefSign(ts, 'n1', ENCRYPT_KEY, body) });
    expect(signedTampered.status).toBe(401);
    const original = feishuDelivery(v1('u-tamper', 'PENDING', T0), ENCRYPT_KEY);
    const flipped = JSON.parse(original.body) as { encrypt: string };
    const bytes = Buffer.from(flipped.encrypt, 'base64');
    bytes[20] = (bytes[20] as number) ^ 1;
    const unsignedTampered = await post(endpoint, JSON.stringify({ encrypt: bytes.toString('base64') }), original.headers);
    expect(unsignedTampered.status).toBe(401);
    expect(await store.model.countDocuments()).toBe(0);
  });

  it('refuses an event whose decrypted token is not the verification token', async () => {
    const event = feishuV1({ uuid: 'u-tok', token: 'other-token', instanceCode: 'INST-1', approvalCode: 'APPROVAL-TRAVEL', status: 'PENDING', operateTime: T0 });
    expect((await send(event)).status).toBe(401);
    expect(await store.model.countDocuments()).toBe(0);
  });
});

describe('delivery guarantees', () => {
  it('answers a replay (same uuid) with 200 and changes nothing: one record, one sink call', async () => {
    details.set('feishu', 'INST-1', travelDetail());
    const event = v1('uuid-replay', 'PENDING', T0);
    const first = await send(event);
    const second = await send(event);
    const third = await send(event);
    expect([first.status, second.status, third.status]).toEqual([200, 200, 200]);
    expect([first.body.status, second.body.status, third.body.status]).toEqual(['APPLIED', 'DUPLICATE', 'DUPLICATE']);
    expect(await store.model.countDocuments()).toBe(1);
    expect(sink.calls).toHaveLength(1);
    expect((await store.get('feishu', 'uuid-replay'))?.status).toBe('APPLIED');
  });

  it('marks an older event arriving after a newer one STALE without calling the sink', async () => {
    details.set('feishu', 'INST-1', travelDetail());
    expect((await send(v1('u-new', 'APPROVED', T0 + 60_000))).body.status).toBe('APPLIED');
    const older = await send(v1('u-older', 'PENDING', T0));
    expect(older.body.status).toBe('STALE');
    expect(sink.calls.map((c) => c.status)).toEqual(['APPROVED']);
    const record = await store.get('feishu', 'u-older');
    expect(record?.status).toBe('STALE');
    expect(record?.reason).toMatch(/older than the last applied event/);
  });

  it('records STALE when the sink reports the event stale, and DUPLICATE when it changed nothing', async () => {
    details.set('feishu', 'INST-9', travelDetail());
    sink.last.set('feishu:INST-9', T0 + 1000);
    expect((await send(v1('u-s1', 'PENDING', T0, 'INST-9'))).body.status).toBe('STALE');
    expect((await send(v1('u-s2', 'APPROVED', T0 + 1000, 'INST-9'))).body.status).toBe('DUPLICATE');
    expect(await store.get('feishu', 'u-s1')).toMatchObject({ status: 'STALE', claimId: 'claim-feishu:INST-9' });
    expect(await store.get('feishu', 'u-s2')).toMatchObject({ status: 'DUPLICATE', reason: 'claim not changed: unchanged' });
  });

  it('answers 500 on a transient failure and processes the redelivery', async () => {
    details.set('feishu', 'INST-1', travelDetail());
    details.failNext = new InstanceDetailError('Feishu instance detail: request failed (TypeError)', false);
    const event = v1('u-transient', 'APPROVED', T0);
    expect((await send(event)).status).toBe(500);
    expect(await store.get('feishu', 'u-transient')).toMatchObject({ status: 'RECEIVED', attempts: 1 });
    expect(sink.calls).toHaveLength(0);
    const retry = await send(event);
    expect(retry.body.status).toBe('APPLIED');
    expect(await store.get('feishu', 'u-transient')).toMatchObject({ status: 'APPLIED', attempts: 2 });
    expect(sink.calls).toHaveLength(1);
  });
});

describe('rejected events', () => {
  it('records unknown user, unknown approval code, bad amount and missing instance as REJECTED, listed for admins', async () => {
    details.set('feishu', 'INST-U', { ...travelDetail(), externalUserId: 'fs-stranger' });
    details.set('feishu', 'INST-A', travelDetail());
    const bad = travelDetail();
    ((bad.form[1]!.value as { name: string; value: unknown }[][])[1]![1] as { value: unknown }).value = '12.345';
    details.set('feishu', 'INST-B', bad);

    const answers = await Promise.all([
      send(v1('r-user', 'PENDING', T0, 'INST-U')),
      send(v1('r-approval', 'PENDING', T0, 'INST-A', 'APPROVAL-UNKNOWN')),
      send(v1('r-amount', 'PENDING', T0, 'INST-B')),
      send(v1('r-missing', 'PENDING', T0, 'INST-NOPE')),
    ]);
    expect(answers.map((a) => [a.status, a.body.status])).toEqual(Array(4).fill([200, 'REJECTED']));
    expect(sink.calls).toHaveLength(0);
    expect(details.calls).not.toContain('feishu:INST-A'); // unmapped approvals are not even looked up

    const listed = await store.list({ status: 'REJECTED' });
    expect(listed.totalCount).toBe(4);
    const reasons = Object.fromEntries(listed.edges.map((e) => [e.node.eventId, [e.node.reasonCode, e.node.reason]]));
    expect(reasons).toEqual({
      'r-user': ['UNKNOWN_USER', 'feishu user "fs-stranger" is not mapped to an employee (users.feishu)'],
      'r-approval': ['UNKNOWN_APPROVAL', 'approval code "APPROVAL-UNKNOWN" is not mapped for feishu (approvals.feishu)'],
      'r-amount': ['INVALID_AMOUNT', 'row 2 of "费用明细": field "金额": amount "12.345" has more than 2 decimal places'],
      'r-missing': ['DETAIL_NOT_FOUND', 'feishu has no approval instance "INST-NOPE"'],
    });
    // A replay of a rejected event is not processed again.
    expect((await send(v1('r-user', 'PENDING', T0, 'INST-U'))).body.status).toBe('DUPLICATE');
    expect((await store.list({ status: 'REJECTED' })).totalCount).toBe(4);
  });

  it('reprocesses a reopened REJECTED event once the mapping knows the user', async () => {
    details.set('feishu', 'INST-U', { ...travelDetail(), externalUserId: 'fs-newcomer' });
    expect((await send(v1('r-later', 'APPROVED', T0, 'INST-U'))).body.status).toBe('REJECTED');
    const fixed = parseMappingConfig({ ...MAPPING_FILE, users: { ...MAPPING_FILE.users, feishu: { ...MAPPING_FILE.users.feishu, 'fs-newcomer': 'E1009' } } });
    expect(await store.reopen('feishu', 'r-later')).toBe(true);
    expect(await store.reopen('feishu', 'r-later')).toBe(false); // already reopened
    expect(await redeliverPending({ store, details, mapping: fixed, sink, logger: createLogger({ level: 'silent' }) })).toBe(1);
    expect(await store.get('feishu', 'r-later')).toMatchObject({ status: 'APPLIED', reason: null, claimId: 'claim-feishu:INST-U' });
    expect(sink.calls.map((c) => [c.applicantId, c.status])).toEqual([['E1009', 'APPROVED']]);
  });

  it('records an approval event without instance_code as REJECTED', async () => {
    const event = v1('r-noinst', 'PENDING', T0);
    delete (event.event as Partial<typeof event.event>).instance_code;
    expect((await send(event)).body.status).toBe('REJECTED');
    expect(await store.get('feishu', 'r-noinst')).toMatchObject({ reasonCode: 'INVALID_EVENT', reason: 'event has no instance_code', instanceCode: null });
  });
});

describe('HTTP', () => {
  it('answers 413 for a body over 1 MiB, 405 for GET, and leaves other paths alone', async () => {
    const big = await post(endpoint, Buffer.alloc(1024 * 1024 + 1, 0x20));
    expect(big.status).toBe(413);
    const get = await fetch(endpoint);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const other = await fetch(`${server.url}/graphql`, { method: 'POST', body: '{}' });
    expect(other.status).toBe(404);
    expect(await other.text()).toBe('not a connector path');
  });

  it('answers 404 for an unconfigured platform', async () => {
    const dingtalk = await post(`${server.url}/connectors/dingtalk?signature=x&timestamp=1&nonce=n`, '{"encrypt":"x"}');
    expect(dingtalk.status).toBe(404);
    const handler = connectorRoutes({
      details,
      mapping: parseMappingConfig(MAPPING_FILE),
      store,
      sink,
      logger: createLogger({ level: 'silent' }),
    });
    const bare = await serveConnectors(handler);
    try {
      expect((await post(`${bare.url}/connectors/feishu`, '{}')).status).toBe(404);
    } finally {
      await bare.close();
    }
  });

  it('never logs the encrypt key, the token, signatures or form contents', async () => {
    details.set('feishu', 'INST-1', travelDetail());
    const d = feishuDelivery(v1('u-log', 'PENDING', T0), ENCRYPT_KEY);
    await post(endpoint, d.body, d.headers);
    await post(endpoint, d.body, { ...d.headers, 'x-lark-signature': '0'.repeat(64) });
    const text = log.text();
    expect(text).toContain('u-log');
    for (const secret of [ENCRYPT_KEY, TOKEN, d.headers['x-lark-signature']!, '高铁票', '24112000000012345678', 'fs-user-1']) {
      expect(text).not.toContain(secret);
    }
  });
});
