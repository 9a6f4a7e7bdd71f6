// Feishu/Lark event subscription ("send events to developer server") for `approval_instance` events.
//
// Scheme (open.feishu.cn, "接收事件" / encrypt-key-encryption-configuration-case):
// - X-Lark-Signature = hex(sha256(utf8(X-Lark-Request-Timestamp + X-Lark-Request-Nonce + encryptKey) ‖ raw body)).
//   The URL verification request is not signed ("安全校验…不包括请求网址校验"); it is authenticated by the
//   verification token inside the (encrypted) body instead.
// - Encrypted bodies are {"encrypt": base64(iv ‖ AES-256-CBC(key = sha256(encryptKey), iv, PKCS#7(json)))}.
// - Event bodies come in the 1.0 shape {uuid, token, ts, type: 'event_callback', event: {...}} (approval_instance
//   is a 1.0 event) or the 2.0 shape {schema: '2.0', header: {event_id, event_type, token, create_time}, event}.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { assertFresh, DEFAULT_REPLAY_WINDOW_MS, hexDigestsEqual, parseSignedTimestamp, secretsEqual } from './auth.ts';
import { normaliseFeishuStatus } from './mapping.ts';
import { ConnectorAuthError, ConnectorRequestError, type InboundMessage } from './types.ts';

export interface FeishuConfig {
  /** "Encrypt Key" of the app's encryption strategy (事件与回调 > 加密策略). */
  encryptKey: string;
  /** "Verification Token" of the same page. */
  verificationToken: string;
  /** Replay window for X-Lark-Request-Timestamp (default 5 minutes). */
  replayWindowMs?: number;
}

export interface FeishuRequest {
  /** Lower-case header names, as node:http gives them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  rawBody: Buffer;
}

export const FEISHU_EVENT_TYPE = 'approval_instance';

/** hex(sha256(timestamp + nonce + encryptKey + rawBody)), the value Feishu sends in X-Lark-Signature. */
export function feishuSignature(timestamp: string, nonce: string, encryptKey: string, rawBody: Buffer | string): string {
  return createHash('sha256')
    .update(Buffer.from(timestamp + nonce + encryptKey, 'utf8'))
    .update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody)
    .digest('hex');
}

function feishuKey(encryptKey: string): Buffer {
  return createHash('sha256').update(encryptKey, 'utf8').digest();
}

/** Decrypts an `encrypt` value. Throws ConnectorAuthError when it is not valid ciphertext under this key. */
export function decryptFeishu(encrypt: string, encryptKey: string): string {
  const data = Buffer.from(encrypt, 'base64');
  // A valid message is the 16-byte IV followed by at least one whole AES block.
  if (data.length < 32 || data.length % 16 !== 0) {
    throw new ConnectorAuthError('encrypted body is not valid base64 AES-CBC data');
  }
  try {
    const decipher = createDecipheriv('aes-256-cbc', feishuKey(encryptKey), data.subarray(0, 16));
    return Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]).toString('utf8');
  } catch {
    throw new ConnectorAuthError('encrypted body does not decrypt under the configured encrypt key');
  }
}

/** Encrypts like Feishu does (random IV unless given). Used by tests and tools. */
export function encryptFeishu(plaintext: string, encryptKey: string, iv: Buffer = randomBytes(16)): string {
  const cipher = createCipheriv('aes-256-cbc', feishuKey(encryptKey), iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

function header(headers: FeishuRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Milliseconds from an `operate_time`-like value: a digit string or an integer. */
function millis(v: unknown): Date | null {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return new Date(v);
  if (typeof v === 'string' && /^\d{1,16}$/.test(v)) return new Date(Number(v));
  return null;
}

/**
 * Authenticates, decrypts and classifies one Feishu request.
 * @throws ConnectorAuthError (answer 401) or ConnectorRequestError (answer 400).
 */
export function parseFeishuRequest(request: FeishuRequest, config: FeishuConfig, nowMs: number = Date.now()): InboundMessage {
  const timestamp = header(request.headers, 'x-lark-request-timestamp');
  const nonce = header(request.headers, 'x-lark-request-nonce');
  const signature = header(request.headers, 'x-lark-signature');
  const signed = signature !== undefined;

  if (signed) {
    if (nonce === undefined || timestamp === undefined) throw new ConnectorAuthError('signature without timestamp or nonce');
    assertFresh(parseSignedTimestamp(timestamp), nowMs, config.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS);
    if (!hexDigestsEqual(feishuSignature(timestamp, nonce, config.encryptKey, request.rawBody), signature)) {
      throw new ConnectorAuthError('X-Lark-Signature does not match');
    }
  }

  // Past this point an unsigned request can only be a URL verification, proven by decryption and the token.
  const outer = parseJson(request.rawBody.toString('utf8'));
  if (!isObject(outer)) {
    if (signed) throw new ConnectorRequestError('body is not a JSON object');
    throw new ConnectorAuthError('unsigned request whose body is not JSON');
  }
  let body: Json = outer;
  if (typeof outer.encrypt === 'string') {
    const inner = parseJson(decryptFeishu(outer.encrypt, config.encryptKey));
    if (!isObject(inner)) throw new ConnectorAuthError('decrypted body is not a JSON object');
    body = inner;
  }

  const schema2 = body.schema === '2.0' && isObject(body.header);
  const head: Json = schema2 ? (body.header as Json) : body;
  const token = str(head.token);
  if (token === undefined || !secretsEqual(config.verificationToken, token)) {
    throw new ConnectorAuthError('verification token does not match');
  }

  if (body.type === 'url_verification') {
    const challenge = str(body.challenge);
    if (challenge === undefined) throw new ConnectorRequestError('url_verification without challenge');
    return { kind: 'challenge', challenge };
  }
  if (!signed) throw new ConnectorAuthError('event without X-Lark-Signature');

  const event = isObject(body.event) ? body.event : undefined;
  const eventType = schema2 ? str(head.event_type) : str(event?.type);
  if (event === undefined || (eventType !== FEISHU_EVENT_TYPE && event.type !== FEISHU_EVENT_TYPE)) {
    return { kind: 'ignored', platform: 'feishu', reason: `event type ${JSON.stringify(eventType ?? body.type ?? null)} is not handled` };
  }
  return normaliseFeishuEvent(schema2 ? str(head.event_id) : str(body.uuid), event, head);
}

/** Turns the `event` object of an approval_instance delivery into an InboundMessage. */
export function normaliseFeishuEvent(eventId: string | undefined, event: Json, head: Json = {}): InboundMessage {
  if (eventId === undefined) throw new ConnectorRequestError('approval_instance event without uuid/event_id');
  const instanceCode = str(event.instance_code) ?? null;
  const approvalCode = str(event.approval_code) ?? null;
  // operate_time is a string of ms, or an int64 for REVERTED; instance_operate_time and the delivery time are fall-backs.
  const eventTime = millis(event.operate_time) ?? millis(event.instance_operate_time) ?? millis(head.create_time);
  const invalid = (reason: string): InboundMessage => ({ kind: 'invalid', platform: 'feishu', reason, eventId, instanceCode, approvalCode, eventTime });

  if (instanceCode === null) return invalid('event has no instance_code');
  if (approvalCode === null) return invalid('event has no approval_code');
  if (eventTime === null) return invalid('event has no valid operate_time');
  const status = normaliseFeishuStatus(event.status);
  if ('ignore' in status) return { kind: 'ignored', platform: 'feishu', reason: status.ignore, eventId, instanceCode, approvalCode, eventTime };
  if ('invalid' in status) return invalid(status.invalid);
  return {
    kind: 'event',
    event: { platform: 'feishu', eventId, instanceCode, approvalCode, status: status.status, eventTime, externalUserId: null, form: null },
  };
}
