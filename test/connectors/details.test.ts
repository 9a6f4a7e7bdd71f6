// The HTTP instance-detail clients against local fake platform servers on 127.0.0.1 that answer like
// Feishu's GET /open-apis/approval/v4/instances/:instance_id and DingTalk's POST /topapi/processinstance/get,
// including the token endpoints and token caching.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DingTalkInstanceDetails, FeishuInstanceDetails, InstanceDetailError, platformInstanceDetails } from '../../subgraphs/oa/connectors/details.ts';
import { listen, type TestServer } from './helpers.ts';

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

// ---- fake Feishu ---------------------------------------------------------------------------------------

const FEISHU_FORM = [
  { id: 'widget1', custom_id: 'reason', name: '事由', type: 'textarea', value: '上海客户拜访' },
  {
    id: 'widget2',
    name: '费用明细',
    type: 'fieldList',
    value: [
      [
        { id: 'w21', name: '费用说明', type: 'input', value: '高铁票' },
        { id: 'w22', name: '金额', type: 'amount', value: 553.5 },
        { id: 'w23', name: '发生日期', type: 'date', value: '2024-05-28T08:00:00+08:00' },
      ],
    ],
  },
  { id: 'widget3', type: 'number', value: 2 },
];

const feishu = {
  tokenCalls: 0,
  instanceCalls: 0,
  issued: [] as string[],
  revoked: new Set<string>(),
  lastQuery: '',
  brokenForm: false,
  async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/open-apis/auth/v3/tenant_access_token/internal') {
      const body = (await readJson(req)) as { app_id?: string; app_secret?: string };
      this.tokenCalls++;
      if (body.app_id !== 'cli_app' || body.app_secret !== 'app-secret-1') return json(res, 200, { code: 10014, msg: 'app secret invalid' });
      const token = `t-${this.tokenCalls}`;
      this.issued.push(token);
      return json(res, 200, { code: 0, msg: 'ok', tenant_access_token: token, expire: 7200 });
    }
    const m = /^\/open-apis\/approval\/v4\/instances\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      this.instanceCalls++;
      this.lastQuery = url.search;
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !this.issued.includes(token) || this.revoked.has(token)) {
        return json(res, 400, { code: 99991663, msg: 'Invalid access token for authorization. Please make a request with token attached.' });
      }
      const code = decodeURIComponent(m[1] as string);
      if (code !== '81D31358-93AF-92D6-7425-01A5D67C4E71') return json(res, 400, { code: 1390003, msg: 'instance code not found' });
      return json(res, 200, {
        code: 0,
        msg: 'success',
        data: {
          approval_name: '差旅报销',
          approval_code: '7C468A54-8745-2245-9675-08B7C63E7A85',
          instance_code: code,
          start_time: '1564590532967',
          end_time: '0',
          user_id: 'f3ta757q',
          open_id: 'ou_3cda9c969f737aaa05e6915dce306cb9',
          serial_number: '202102060002',
          department_id: 'od-8ec33ffec336c3a39a278bc25e931676',
          status: 'PENDING',
          uuid: '1234567',
          form: this.brokenForm ? '[{"id": "widget1",' : JSON.stringify(FEISHU_FORM),
          task_list: [],
          comment_list: [],
          timeline: [],
          reverted: false,
        },
      });
    }
    json(res, 404, { code: 404 });
  },
};

// ---- fake DingTalk -------------------------------------------------------------------------------------

const dingtalk = {
  tokenCalls: 0,
  instanceCalls: 0,
  issued: [] as string[],
  revoked: new Set<string>(),
  lastBody: undefined as unknown,
  async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/gettoken') {
      this.tokenCalls++;
      if (url.searchParams.get('appkey') !== 'dingappkey' || url.searchParams.get('appsecret') !== 'ding-secret') {
        return json(res, 200, { errcode: 40089, errmsg: '不合法的corpid或corpsecret' });
      }
      const token = `dt-${this.tokenCalls}`;
      this.issued.push(token);
      return json(res, 200, { errcode: 0, errmsg: 'ok', access_token: token, expires_in: 7200 });
    }
    if (req.method === 'POST' && url.pathname === '/topapi/processinstance/get') {
      this.instanceCalls++;
      const token = url.searchParams.get('access_token') ?? '';
      const body = (await readJson(req)) as { process_instance_id?: string };
      this.lastBody = body;
      if (!this.issued.includes(token) || this.revoked.has(token)) return json(res, 200, { errcode: 40014, errmsg: '不合法的access_token' });
      if (body.process_instance_id !== 'a171de6c-8bxx-xxxx') return json(res, 200, { errcode: 820004, errmsg: '流程不存在' });
      return json(res, 200, {
        errcode: 0,
        errmsg: 'ok',
        request_id: 'req-1',
        process_instance: {
          title: '张三提交的报销',
          create_time: '2024-05-31 11:48:19',
          finish_time: '',
          originator_userid: 'manager75',
          originator_dept_id: '1',
          status: 'RUNNING',
          business_id: '202405311148000297744',
          result: '',
          form_component_values: [
            { component_type: 'TextField', id: 'TextField-J78F056R', name: '报销事由', value: '办公用品', ext_value: '' },
            {
              component_type: 'TableField',
              id: 'TableField-K2AD4O5B',
              name: '报销明细',
              value: JSON.stringify([
                {
                  rowValue: [
                    { label: '明细说明', value: '打印纸', key: 'TextField-1' },
                    { label: '金额（元）', value: '360.00', key: 'MoneyField-1' },
                    { label: '日期', value: '2024-05-30', key: 'DDDateField-1' },
                  ],
                  rowNumber: 'TableField-K2AD4O5B_row1',
                },
              ]),
              ext_value: '{}',
            },
            { component_type: 'MoneyField', id: 'MoneyField-TOTAL', name: '合计', value: '360.00' },
          ],
          operation_records: [],
          tasks: [],
        },
      });
    }
    json(res, 404, { errcode: 404 });
  },
};

let feishuServer: TestServer;
let dingServer: TestServer;

beforeAll(async () => {
  feishuServer = await listen((req, res) => void feishu.handle(req, res));
  dingServer = await listen((req, res) => void dingtalk.handle(req, res));
});
afterAll(async () => {
  await feishuServer?.close();
  await dingServer?.close();
});
beforeEach(() => {
  Object.assign(feishu, { tokenCalls: 0, instanceCalls: 0, issued: [], revoked: new Set(), lastQuery: '', brokenForm: false });
  Object.assign(dingtalk, { tokenCalls: 0, instanceCalls: 0, issued: [], revoked: new Set(), lastBody: undefined });
});

describe('Feishu instance details', () => {
  const client = (now = () => Date.now(), appSecret = 'app-secret-1', userIdType?: 'user_id' | 'open_id') =>
    new FeishuInstanceDetails({ baseUrl: `${feishuServer.url}/`, appId: 'cli_app', appSecret, now, ...(userIdType ? { userIdType } : {}) });

  it('reads the instance: initiator, title and the form with its fieldList as rows', async () => {
    const detail = await client().fetch('81D31358-93AF-92D6-7425-01A5D67C4E71');
    expect(detail).toEqual({
      externalUserId: 'f3ta757q',
      title: '差旅报销 202102060002',
      form: [
        { name: '事由', value: '上海客户拜访' },
        {
          name: '费用明细',
          value: [
            [
              { name: '费用说明', value: '高铁票' },
              { name: '金额', value: 553.5 },
              { name: '发生日期', value: '2024-05-28T08:00:00+08:00' },
            ],
          ],
        },
        { name: 'widget3', value: 2 },
      ],
    });
    expect(feishu.lastQuery).toBe('?user_id_type=user_id');
  });

  it('can key users by open_id', async () => {
    const detail = await client(undefined, undefined, 'open_id').fetch('81D31358-93AF-92D6-7425-01A5D67C4E71');
    expect(detail?.externalUserId).toBe('ou_3cda9c969f737aaa05e6915dce306cb9');
    expect(feishu.lastQuery).toBe('?user_id_type=open_id');
  });

  it('caches the tenant_access_token until shortly before it expires', async () => {
    let now = 1_000_000;
    const c = client(() => now);
    await c.fetch('81D31358-93AF-92D6-7425-01A5D67C4E71');
    await c.fetch('81D31358-93AF-92D6-7425-01A5D67C4E71');
    await Promise.all([c.fetch('81D31358-93AF-92D6-7425-01A5D67C4E71'), c.fetch('81D31358-93AF-92D6-7425-01A5D67C4E71')]);
    expect(feishu.tokenCalls).toBe(1);
    now += 7200_000 - 5 * 60_000 + 1; // inside the refresh margin
    await c.fetch('81D31358-93AF-92D6-7425-01A5D67C4E71');
    expect(feishu.tokenCalls).toBe(2);
    expect(feishu.instanceCalls).toBe(5);
  });

  it('renews a token the API reports invalid, once', async () => {
    const c = client();
    await c.fetch('81D31358-93AF-92D6-7425-01A5D67C4E71');
    feishu.revoked.add('t-1');
    expect(await c.fetch('81D31358-93AF-92D6-7425-01A5D67C4E71')).not.toBeNull();
    expect(feishu.tokenCalls).toBe(2);
  });

  it('answers null for an unknown instance (code 1390003)', async () => {
    expect(await client().fetch('NO-SUCH-INSTANCE')).toBeNull();
  });

  it('fails transiently when the app credentials are refused, without echoing them', async () => {
    const err = (await client(undefined, 'wrong-secret').fetch('x').catch((e: unknown) => e)) as InstanceDetailError;
    expect(err).toBeInstanceOf(InstanceDetailError);
    expect(err.permanent).toBe(false);
    expect(err.message).toBe('Feishu tenant_access_token refused (code 10014)');
  });

  it('fails permanently on a form that is not JSON', async () => {
    feishu.brokenForm = true;
    const err = (await client().fetch('81D31358-93AF-92D6-7425-01A5D67C4E71').catch((e: unknown) => e)) as InstanceDetailError;
    expect(err.permanent).toBe(true);
  });

  it('fails transiently when the platform cannot be reached', async () => {
    const c = new FeishuInstanceDetails({ baseUrl: 'http://127.0.0.1:1', appId: 'a', appSecret: 'b', timeoutMs: 2000 });
    const err = (await c.fetch('x').catch((e: unknown) => e)) as InstanceDetailError;
    expect(err).toBeInstanceOf(InstanceDetailError);
    expect(err.permanent).toBe(false);
  });
});

describe('DingTalk instance details', () => {
  const client = (now = () => Date.now()) => new DingTalkInstanceDetails({ baseUrl: dingServer.url, appKey: 'dingappkey', appSecret: 'ding-secret', now });

  it('reads the instance: originator, title and the TableField as rows', async () => {
    const detail = await client().fetch('a171de6c-8bxx-xxxx');
    expect(dingtalk.lastBody).toEqual({ process_instance_id: 'a171de6c-8bxx-xxxx' });
    expect(detail).toEqual({
      externalUserId: 'manager75',
      title: '张三提交的报销',
      form: [
        { name: '报销事由', value: '办公用品' },
        {
          name: '报销明细',
          value: [
            [
              { name: '明细说明', value: '打印纸' },
              { name: '金额（元）', value: '360.00' },
              { name: '日期', value: '2024-05-30' },
            ],
          ],
        },
        { name: '合计', value: '360.00' },
      ],
    });
  });

  it('caches the access_token and renews it when expired or reported invalid', async () => {
    let now = 5_000_000;
    const c = client(() => now);
    await c.fetch('a171de6c-8bxx-xxxx');
    await c.fetch('a171de6c-8bxx-xxxx');
    expect(dingtalk.tokenCalls).toBe(1);
    dingtalk.revoked.add('dt-1');
    await c.fetch('a171de6c-8bxx-xxxx');
    expect(dingtalk.tokenCalls).toBe(2);
    now += 7200_000;
    await c.fetch('a171de6c-8bxx-xxxx');
    expect(dingtalk.tokenCalls).toBe(3);
  });

  it('answers null for an unknown instance (errcode 820004)', async () => {
    expect(await client().fetch('nope')).toBeNull();
  });

  it('dispatches by platform and refuses an unconfigured one', async () => {
    const both = platformInstanceDetails({ dingtalk: client() });
    expect((await both.fetch('dingtalk', 'a171de6c-8bxx-xxxx'))?.externalUserId).toBe('manager75');
    await expect(both.fetch('feishu', 'x')).rejects.toThrow(/no instance-detail client configured for feishu/);
  });
});
