// DingTalk bpms_instance_change callbacks over real HTTP: check_url, signature, encryption with receiveId,
// the encrypted "success" answer, replay protection, mapping, duplicates, stale and rejected events.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { decryptDingTalk, dingTalkAnswer, dingTalkSignature, encryptDingTalk } from '../../subgraphs/oa/connectors/dingtalk.ts';
import { InboundEventStore, redeliverPending } from '../../subgraphs/oa/connectors/inbound.ts';
import { parseMappingConfig } from '../../subgraphs/oa/connectors/mapping.ts';
import { connectorRoutes } from '../../subgraphs/oa/connectors/routes.ts';
import { ConnectorAuthError, type InstanceDetail } from '../../subgraphs/oa/connectors/types.ts';
import {
  dingRefDecrypt,
  dingRefEncrypt,
  dingRefSignature,
  dingTalkDelivery,
  FakeDetails,
  FakeSink,
  MAPPING_FILE,
  openDb,
  post,
  serveConnectors,
  type Answer,
  type Db,
  type TestServer,
} from './helpers.ts';

const TOKEN = 'dt-callback-token';
const AES_KEY = 'xwCiEnxVKsfEW2o3UsyeJbFZuBptJi0fgyAbQ5n5FTl'; // 43 characters
const APP_KEY = 'dingappkey4test0001';
const CFG = { token: TOKEN, aesKey: AES_KEY, receiveId: APP_KEY };
const T0 = 1_717_000_000_000;

const expenseDetail = (): InstanceDetail => ({
  externalUserId: 'manager75',
  title: '张三提交的报销',
  form: [
    { name: '报销事由', value: '办公用品' },
    {
      name: '报销明细',
      value: [
        [
          { name: '明细说明', value: '打印纸 10 箱' },
          { name: '金额（元）', value: '360.00' },
          { name: '日期', value: '2024-05-30' },
          { name: '发票号码', value: '044001900111' },
        ],
        [
          { name: '明细说明', value: '墨盒' },
          { name: '金额（元）', value: '89.9' },
          { name: '日期', value: '2024-05-31 14:20' },
        ],
      ],
    },
  ],
});

const start = (id = 'PI-1', extra: Record<string, unknown> = {}) => ({
  EventType: 'bpms_instance_change',
  processInstanceId: id,
  corpId: 'dingcorp',
  createTime: T0,
  title: '张三提交的报销',
  type: 'start',
  staffId: 'manager75',
  url: 'https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm',
  processCode: 'PROC-EXPENSE',
  ...extra,
});
const finish = (id: string, result: 'agree' | 'refuse', finishTime: number, extra: Record<string, unknown> = {}) =>
  start(id, { type: 'finish', result, finishTime, ...extra });

let db: Db;
let store: InboundEventStore;
let sink: FakeSink;
let details: FakeDetails;
let server: TestServer;
let endpoint: string;
const logger = createLogger({ level: 'silent' });

beforeAll(async () => {
  db = await openDb();
  store = await new InboundEventStore(db.connection, 60_000).init();
  sink = new FakeSink();
  details = new FakeDetails();
  server = await serveConnectors(
    connectorRoutes({
      dingtalk: { token: TOKEN, aesKey: AES_KEY, appKey: APP_KEY },
      details,
      mapping: parseMappingConfig(MAPPING_FILE),
      store,
      sink,
      logger,
      dingTalkAnswerWithinMs: 300,
    }),
  );
  endpoint = `${server.url}/connectors/dingtalk`;
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

const send = (event: unknown, opts?: Parameters<typeof dingTalkDelivery>[2], cfg = CFG) => {
  const d = dingTalkDelivery(event, cfg, opts);
  return post(`${endpoint}?${d.query}`, d.body);
};

/** The answer must be DingTalk's shape, correctly signed, and decrypt to "success" for our receiveId. */
function expectSuccessAnswer(answer: Answer): void {
  expect(answer.status).toBe(200);
  expect(Object.keys(answer.body).sort()).toEqual(['encrypt', 'msg_signature', 'nonce', 'timeStamp']);
  const { msg_signature, timeStamp, nonce, encrypt } = answer.body as Record<string, string>;
  expect(msg_signature).toBe(dingRefSignature(TOKEN, timeStamp!, nonce!, encrypt!));
  expect(dingRefDecrypt(encrypt!, AES_KEY)).toEqual({ message: 'success', receiveId: APP_KEY });
  expect(Math.abs(Number(timeStamp) - Date.now())).toBeLessThan(60_000);
}

describe('DingTalk scheme', () => {
  it('signs the sorted concatenation of token, timestamp, nonce and encrypt with SHA-1', () => {
    expect(dingTalkSignature('b', 'a', 'd', 'c')).toBe(dingRefSignature('b', 'a', 'd', 'c'));
    // Sorting matters: the order of the arguments does not.
    expect(dingTalkSignature('token', '1700000000000', 'nonce', 'ENC')).toBe(dingRefSignature('ENC', 'nonce', 'token', '1700000000000'));
  });

  it('encrypts in the reference layout (PKCS#7 to 32-byte blocks) and decrypts the reference', () => {
    for (const text of ['success', '', 'x'.repeat(12), '中文/abc/123', JSON.stringify(start())]) {
      const ours = encryptDingTalk(text, { aesKey: AES_KEY, appKey: APP_KEY });
      expect(Buffer.from(ours, 'base64').length % 32).toBe(0);
      expect(dingRefDecrypt(ours, AES_KEY)).toEqual({ message: text, receiveId: APP_KEY });
      expect(decryptDingTalk(dingRefEncrypt(text, AES_KEY, APP_KEY), { aesKey: AES_KEY, appKey: APP_KEY })).toBe(text);
    }
  });

  it('refuses another receiveId, a wrong key and broken padding', () => {
    const cfg = { aesKey: AES_KEY, appKey: APP_KEY };
    expect(() => decryptDingTalk(dingRefEncrypt('x', AES_KEY, 'dingothercorp'), cfg)).toThrow(/receiveId/);
    expect(() => decryptDingTalk(dingRefEncrypt('x', 'A'.repeat(43), APP_KEY), cfg)).toThrow(ConnectorAuthError);
    expect(() => decryptDingTalk(Buffer.alloc(48).toString('base64'), cfg)).toThrow(ConnectorAuthError);
  });

  it('builds the answer map like getEncryptedMap("success")', () => {
    const answer = dingTalkAnswer('success', { token: TOKEN, aesKey: AES_KEY, appKey: APP_KEY }, 1_700_000_000_000, 'abcdefgh12345678');
    expect(answer.timeStamp).toBe('1700000000000');
    expect(answer.nonce).toBe('abcdefgh12345678');
    expect(answer.msg_signature).toBe(dingRefSignature(TOKEN, '1700000000000', 'abcdefgh12345678', answer.encrypt));
    expect(dingRefDecrypt(answer.encrypt, AES_KEY).message).toBe('success');
  });
});

describe('callbacks', () => {
  it('answers check_url with the encrypted "success"', async () => {
    const answer = await send({ EventType: 'check_url' });
    expectSuccessAnswer(answer);
    expect(await store.model.countDocuments()).toBe(0);
  });

  it('accepts msg_signature/timeStamp as parameter names too', async () => {
    expectSuccessAnswer(await send({ EventType: 'check_url' }, { paramNames: 'msg_signature' }));
  });

  it('applies a start event: the sink gets the exact claim, DingTalk gets "success"', async () => {
    details.set('dingtalk', 'PI-1', expenseDetail());
    const answer = await send(start('PI-1'));
    expectSuccessAnswer(answer);
    expect(sink.calls).toEqual([
      {
        source: { platform: 'dingtalk', instanceCode: 'PI-1', approvalCode: 'PROC-EXPENSE' },
        applicantId: 'E2001',
        category: 'OFFICE',
        title: '张三提交的报销',
        items: [
          { description: '打印纸 10 箱', amountFen: 36000, occurredOn: '2024-05-30', invoiceNo: '044001900111' },
          { description: '墨盒', amountFen: 8990, occurredOn: '2024-05-31' },
        ],
        status: 'SUBMITTED',
        eventTime: new Date(T0),
      },
    ]);
    const [record] = (await store.list()).edges.map((e) => e.node);
    expect(record).toMatchObject({ platform: 'dingtalk', eventId: `PI-1:start::${T0}`, status: 'APPLIED', instanceCode: 'PI-1', approvalCode: 'PROC-EXPENSE' });
    expect(record?.event?.externalUserId).toBe('manager75');
  });

  it('maps finish+agree, finish+refuse and terminate', async () => {
    for (const id of ['PI-A', 'PI-R', 'PI-T']) details.set('dingtalk', id, expenseDetail());
    expectSuccessAnswer(await send(finish('PI-A', 'agree', T0 + 10_000)));
    expectSuccessAnswer(await send(finish('PI-R', 'refuse', T0 + 10_000)));
    expectSuccessAnswer(await send(start('PI-T', { type: 'terminate', finishTime: T0 + 20_000 })));
    expect(sink.calls.map((c) => [c.source.instanceCode, c.status, c.eventTime.getTime()])).toEqual([
      ['PI-A', 'APPROVED', T0 + 10_000],
      ['PI-R', 'REJECTED', T0 + 10_000],
      ['PI-T', 'WITHDRAWN', T0 + 20_000],
    ]);
  });

  it('uses the eventId of the event subscription push when present', async () => {
    details.set('dingtalk', 'PI-E', expenseDetail());
    expectSuccessAnswer(await send(finish('PI-E', 'agree', T0 + 1, { eventId: 'c7c7120f2c07419ebdba0318c8', EventTime: T0 + 2, BizId: 'biz-1' })));
    expect((await store.get('dingtalk', 'c7c7120f2c07419ebdba0318c8'))?.status).toBe('APPLIED');
  });

  it('answers other event types with "success" and records nothing', async () => {
    expectSuccessAnswer(await send({ EventType: 'bpms_task_change', processInstanceId: 'PI-1', type: 'start' }));
    expect(await store.model.countDocuments()).toBe(0);
  });
});

describe('authentication', () => {
  it('refuses a bad signature with 401 and leaves the store and the sink untouched', async () => {
    details.set('dingtalk', 'PI-1', expenseDetail());
    const d = dingTalkDelivery(start('PI-1'), CFG);
    const q = new URLSearchParams(d.query);
    q.set('signature', dingRefSignature('wrong-token', q.get('timestamp')!, q.get('nonce')!, (JSON.parse(d.body) as { encrypt: string }).encrypt));
    const answer = await post(`${endpoint}?${q}`, d.body);
    expect(answer.status).toBe(401);
    expect(await store.model.countDocuments()).toBe(0);
    expect(sink.calls).toHaveLength(0);
    expect(details.calls).toHaveLength(0);
  });

  it('refuses missing parameters', async () => {
    const d = dingTalkDelivery(start('PI-1'), CFG);
    expect((await post(endpoint, d.body)).status).toBe(401);
  });

  it('refuses a stale timestamp', async () => {
    details.set('dingtalk', 'PI-1', expenseDetail());
    const answer = await send(start('PI-1'), { nowMs: Date.now() - 6 * 60_000 });
    expect(answer.status).toBe(401);
    expect(await store.model.countDocuments()).toBe(0);
    expect(sink.calls).toHaveLength(0);
  });

  it('refuses tampered ciphertext even when re-signed', async () => {
    const bytes = Buffer.from(dingRefEncrypt(JSON.stringify(start('PI-1')), AES_KEY, APP_KEY), 'base64');
    bytes[5] = (bytes[5] as number) ^ 0xff; // garbles the first block (random prefix + length)
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x33; // and the padding
    const encrypt = bytes.toString('base64');
    const timestamp = String(Date.now());
    const q = new URLSearchParams({ signature: dingRefSignature(TOKEN, timestamp, 'n0', encrypt), timestamp, nonce: 'n0' });
    const answer = await post(`${endpoint}?${q}`, JSON.stringify({ encrypt }));
    expect(answer.status).toBe(401);
    expect(await store.model.countDocuments()).toBe(0);
  });

  it('refuses a message addressed to another receiveId', async () => {
    details.set('dingtalk', 'PI-1', expenseDetail());
    const answer = await send(start('PI-1'), {}, { ...CFG, receiveId: 'dingsomeoneelse' });
    expect(answer.status).toBe(401);
    expect(await store.model.countDocuments()).toBe(0);
    expect(sink.calls).toHaveLength(0);
  });
});

describe('delivery guarantees', () => {
  it('answers a replay with "success" and changes nothing: one record, one sink call', async () => {
    details.set('dingtalk', 'PI-1', expenseDetail());
    const event = finish('PI-1', 'agree', T0 + 5000);
    expectSuccessAnswer(await send(event));
    expectSuccessAnswer(await send(event)); // DingTalk's retry: new nonce and timestamp, same change
    expect(await store.model.countDocuments()).toBe(1);
    expect(sink.calls).toHaveLength(1);
  });

  it('marks an older event arriving after a newer one STALE', async () => {
    details.set('dingtalk', 'PI-1', expenseDetail());
    await send(finish('PI-1', 'agree', T0 + 5000));
    await send(start('PI-1'));
    const byType = Object.fromEntries((await store.list()).edges.map((e) => [e.node.event?.status, e.node.status]));
    expect(byType).toEqual({ APPROVED: 'APPLIED', SUBMITTED: 'STALE' });
    expect(sink.calls.map((c) => c.status)).toEqual(['APPROVED']);
  });

  it('answers at the deadline while a slow delivery finishes in the background', async () => {
    details.set('dingtalk', 'PI-SLOW', expenseDetail());
    let release = () => {};
    details.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The detail API has not answered, yet DingTalk gets its "success".
    expectSuccessAnswer(await send(start('PI-SLOW')));
    expect((await store.list()).edges[0]?.node.status).toBe('RECEIVED');
    expect(sink.calls).toHaveLength(0);
    release();
    await expect.poll(async () => (await store.list()).edges[0]?.node.status).toBe('APPLIED');
    expect(sink.calls).toHaveLength(1);
  });

  it('answers 500 (so DingTalk retries) when delivery fails within the deadline; redeliverPending finishes it', async () => {
    details.set('dingtalk', 'PI-F', expenseDetail());
    sink.failNext = new Error('OA service unavailable');
    const answer = await send(start('PI-F'));
    expect(answer.status).toBe(500);
    expect((await store.list({ status: 'RECEIVED' })).totalCount).toBe(1);
    const taken = await redeliverPending({ store, details, mapping: parseMappingConfig(MAPPING_FILE), sink, logger });
    expect(taken).toBe(1);
    expect((await store.list()).edges[0]?.node).toMatchObject({ status: 'APPLIED', attempts: 2 });
  });
});

describe('rejected events', () => {
  it('records unknown user, unknown process code and bad amount as REJECTED with reasons', async () => {
    details.set('dingtalk', 'PI-U', { ...expenseDetail(), externalUserId: 'stranger01' });
    const bad = expenseDetail();
    ((bad.form[1]!.value as { name: string; value: unknown }[][])[0]![1] as { value: unknown }).value = '3,600.00';
    details.set('dingtalk', 'PI-B', bad);
    for (const a of [await send(start('PI-U')), await send(start('PI-P', { processCode: 'PROC-LEAVE' })), await send(start('PI-B'))]) {
      expectSuccessAnswer(a); // DingTalk must stop retrying
    }
    const rejected = await store.list({ status: 'REJECTED', platform: 'dingtalk' });
    expect(Object.fromEntries(rejected.edges.map((e) => [e.node.instanceCode, e.node.reason]))).toEqual({
      'PI-U': 'dingtalk user "stranger01" is not mapped to an employee (users.dingtalk)',
      'PI-P': 'approval code "PROC-LEAVE" is not mapped for dingtalk (approvals.dingtalk)',
      'PI-B': 'row 1 of "报销明细": field "金额（元）": amount "3,600.00" is not a plain non-negative decimal number',
    });
    expect(sink.calls).toHaveLength(0);
  });
});
