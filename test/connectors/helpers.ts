// Fixtures for the connector tests: an embedded engine with a mongoose connection, a fake claim sink, fake
// instance details, an HTTP server around connectorRoutes, and the platforms' signing and encryption schemes
// written out independently of the code under test (so a change to the code cannot make them agree by construction).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import mongoose, { type Connection } from 'mongoose';
import { startEngine, type RunningEngine } from '../../engine/index.ts';
import { createLogger, type Logger } from '../../platform/logger.ts';
import type { ConnectorHandler } from '../../subgraphs/oa/connectors/routes.ts';
import type { ClaimSink, ClaimSinkResult, InstanceDetail, InstanceDetails, MappedClaim, Platform } from '../../subgraphs/oa/connectors/types.ts';

// ---- database ------------------------------------------------------------------------------------------

export interface Db {
  engine: RunningEngine;
  connection: Connection;
  close(): Promise<void>;
}

export async function openDb(): Promise<Db> {
  const engine = await startEngine({ port: 0, dbPath: null });
  const connection = await mongoose.createConnection(engine.uriFor('conn_test')).asPromise();
  return {
    engine,
    connection,
    async close() {
      await connection.close();
      await engine.close();
    },
  };
}

// ---- fakes ---------------------------------------------------------------------------------------------

/** Idempotent on (platform, instanceCode); refuses events older than the last applied one with 'stale'. */
export class FakeSink implements ClaimSink {
  readonly calls: MappedClaim[] = [];
  readonly last = new Map<string, number>();
  failNext: Error | undefined;

  async applyExternal(claim: MappedClaim): Promise<ClaimSinkResult> {
    this.calls.push(structuredClone(claim));
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    const key = `${claim.source.platform}:${claim.source.instanceCode}`;
    const claimId = `claim-${key}`;
    const t = claim.eventTime.getTime();
    const last = this.last.get(key);
    if (last !== undefined && t < last) return { claimId, applied: false, reason: 'stale' };
    if (last !== undefined && t === last) return { claimId, applied: false, reason: 'unchanged' };
    this.last.set(key, t);
    return { claimId, applied: true };
  }
}

export class FakeDetails implements InstanceDetails {
  readonly byKey = new Map<string, InstanceDetail>();
  readonly calls: string[] = [];
  /** While set, lookups wait for it (a platform API that does not answer yet). */
  hold: Promise<void> | undefined;
  failNext: Error | undefined;

  set(platform: Platform, instanceCode: string, detail: InstanceDetail): void {
    this.byKey.set(`${platform}:${instanceCode}`, detail);
  }

  async fetch(platform: Platform, instanceCode: string): Promise<InstanceDetail | null> {
    this.calls.push(`${platform}:${instanceCode}`);
    if (this.hold) await this.hold;
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    return structuredClone(this.byKey.get(`${platform}:${instanceCode}`) ?? null);
  }
}

// ---- mapping -------------------------------------------------------------------------------------------

export const MAPPING_FILE = {
  users: {
    feishu: { 'fs-user-1': 'E1001', 'fs-user-2': 'E1002' },
    dingtalk: { manager75: 'E2001' },
  },
  approvals: {
    feishu: {
      'APPROVAL-TRAVEL': {
        category: 'TRAVEL',
        title: '事由',
        items: { field: '费用明细', description: '费用说明', amount: '金额', occurredOn: '发生日期', invoiceNo: '发票号' },
      },
      'APPROVAL-MEALS': {
        category: 'MEALS',
        items: { field: '金额', description: '说明', amount: '金额', occurredOn: '日期' },
      },
    },
    dingtalk: {
      'PROC-EXPENSE': {
        category: 'OFFICE',
        items: { field: '报销明细', description: '明细说明', amount: '金额（元）', occurredOn: '日期', invoiceNo: '发票号码' },
      },
    },
  },
};

// ---- logging -------------------------------------------------------------------------------------------

/** A logger whose JSON lines are kept, to check what reaches the log. */
export function capturedLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', name: 'connectors-test' }, { destination }), text: () => chunks.join('') };
}

// ---- HTTP ----------------------------------------------------------------------------------------------

export interface TestServer {
  url: string;
  close(): Promise<void>;
}

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An HTTP server on 127.0.0.1 answering 404 for paths the connector handler does not take. */
export function serveConnectors(handler: ConnectorHandler): Promise<TestServer> {
  return listen((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not a connector path');
      }
    });
  });
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

// ---- Feishu scheme (open.feishu.cn "接收事件") ---------------------------------------------------------

export function feishuRefEncrypt(plaintext: string, encryptKey: string): string {
  const key = createHash('sha256').update(encryptKey).digest();
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

export function feishuRefSign(timestamp: string, nonce: string, encryptKey: string, body: string): string {
  return createHash('sha256').update(timestamp + nonce + encryptKey + body).digest('hex');
}

export interface FeishuDelivery {
  body: string;
  headers: Record<string, string>;
}

/** The HTTP request Feishu would send for `event` (encrypted and signed unless told otherwise). */
export function feishuDelivery(
  event: unknown,
  encryptKey: string,
  opts: { nowMs?: number; encrypt?: boolean; sign?: boolean; nonce?: string; timestampSeconds?: number } = {},
): FeishuDelivery {
  const plain = JSON.stringify(event);
  const body = opts.encrypt === false ? plain : JSON.stringify({ encrypt: feishuRefEncrypt(plain, encryptKey) });
  if (opts.sign === false) return { body, headers: {} };
  const timestamp = String(opts.timestampSeconds ?? Math.floor((opts.nowMs ?? Date.now()) / 1000));
  const nonce = opts.nonce ?? randomBytes(8).toString('hex');
  return {
    body,
    headers: {
      'x-lark-request-timestamp': timestamp,
      'x-lark-request-nonce': nonce,
      'x-lark-signature': feishuRefSign(timestamp, nonce, encryptKey, body),
    },
  };
}

/** 1.0 event body of approval_instance, as documented. */
export function feishuV1(opts: { uuid: string; token: string; instanceCode: string; approvalCode: string; status: string; operateTime: number | string }) {
  return {
    ts: '1502199207.7171419',
    uuid: opts.uuid,
    token: opts.token,
    type: 'event_callback',
    event: {
      app_id: 'cli_test',
      tenant_key: 'tenant-test',
      type: 'approval_instance',
      approval_code: opts.approvalCode,
      instance_code: opts.instanceCode,
      status: opts.status,
      operate_time: opts.operateTime,
      instance_operate_time: String(opts.operateTime),
    },
  };
}

/** 2.0 envelope around the same event. */
export function feishuV2(opts: { eventId: string; token: string; instanceCode: string; approvalCode: string; status: string; operateTime: number | string }) {
  return {
    schema: '2.0',
    header: { event_id: opts.eventId, event_type: 'approval_instance', token: opts.token, create_time: String(opts.operateTime), app_id: 'cli_test', tenant_key: 'tenant-test' },
    event: { type: 'approval_instance', approval_code: opts.approvalCode, instance_code: opts.instanceCode, status: opts.status, operate_time: String(opts.operateTime) },
  };
}

// ---- DingTalk scheme (open-dingtalk/DingTalk-Callback-Crypto) ------------------------------------------

export function dingRefSignature(token: string, timestamp: string, nonce: string, encrypt: string): string {
  const sorted = [token, timestamp, nonce, encrypt].sort();
  return createHash('sha1').update(sorted.join('')).digest('hex');
}

export function dingRefEncrypt(plaintext: string, aesKey: string, receiveId: string): string {
  const key = Buffer.from(`${aesKey}=`, 'base64');
  const msg = Buffer.from(plaintext, 'utf8');
  const len = Buffer.from([(msg.length >>> 24) & 255, (msg.length >>> 16) & 255, (msg.length >>> 8) & 255, msg.length & 255]);
  const unpadded = Buffer.concat([Buffer.from('0123456789abcdef'), len, msg, Buffer.from(receiveId)]);
  const amount = 32 - (unpadded.length % 32);
  const padded = Buffer.concat([unpadded, Buffer.alloc(amount, amount)]);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(padded), cipher.final()]).toString('base64');
}

/** Decrypts as DingTalk's reference does; returns the message and the receiveId it carries. */
export function dingRefDecrypt(encrypt: string, aesKey: string): { message: string; receiveId: string } {
  const key = Buffer.from(`${aesKey}=`, 'base64');
  const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
  decipher.setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(Buffer.from(encrypt, 'base64')), decipher.final()]);
  const pad = plain[plain.length - 1] as number;
  const body = plain.subarray(0, plain.length - pad);
  const len = body.readUInt32BE(16);
  return { message: body.subarray(20, 20 + len).toString('utf8'), receiveId: body.subarray(20 + len).toString('utf8') };
}

export interface DingTalkDelivery {
  query: string;
  body: string;
}

export function dingTalkDelivery(
  event: unknown,
  cfg: { token: string; aesKey: string; receiveId: string },
  opts: { nowMs?: number; nonce?: string; paramNames?: 'signature' | 'msg_signature' } = {},
): DingTalkDelivery {
  const encrypt = dingRefEncrypt(JSON.stringify(event), cfg.aesKey, cfg.receiveId);
  const timestamp = String(opts.nowMs ?? Date.now());
  const nonce = opts.nonce ?? randomBytes(4).toString('hex');
  const signature = dingRefSignature(cfg.token, timestamp, nonce, encrypt);
  const query =
    opts.paramNames === 'msg_signature'
      ? new URLSearchParams({ msg_signature: signature, timeStamp: timestamp, nonce })
      : new URLSearchParams({ signature, timestamp, nonce });
  return { query: query.toString(), body: JSON.stringify({ encrypt }) };
}
