// HTTP endpoints of the inbound connectors: POST /connectors/feishu and POST /connectors/dingtalk.
//
// Answers (JSON):
// - 200 Feishu URL verification: {"challenge": "..."}; Feishu event: {"code": 0, "msg": "success", "status": …}.
// - 200 DingTalk (check_url and every accepted event): {msg_signature, timeStamp, nonce, encrypt} carrying "success".
// - 401 authentication failed (signature, timestamp, decryption, receiver, token); nothing is recorded.
// - 400 authenticated but unreadable; 404 platform not configured; 405 not POST; 413 body over 1 MiB;
//   500 transient failure (the platform redelivers).
import type { ConnectorFiles } from './files.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../../platform/logger.ts';
import { dingTalkAnswer, parseDingTalkRequest, type DingTalkConfig } from './dingtalk.ts';
import { parseFeishuRequest, type FeishuConfig } from './feishu.ts';
import { deliver, type DeliveryDeps, type DeliveryOutcome, type InboundEventStore } from './inbound.ts';
import type { MappingConfig } from './mapping.ts';
import { ConnectorAuthError, ConnectorRequestError, type ClaimSink, type InboundMessage, type InstanceDetails, type Platform } from './types.ts';

export const MAX_BODY_BYTES = 1024 * 1024;
/** DingTalk wants the answer within 1.5 s; past this the event is answered and finishes in the background. */
export const DINGTALK_ANSWER_WITHIN_MS = 1200;

export interface ConnectorRoutesOptions {
  feishu?: FeishuConfig;
  dingtalk?: DingTalkConfig;
  details: InstanceDetails;
  mapping: MappingConfig;
  store: InboundEventStore;
  sink: ClaimSink;
  /** Downloads the forms' files (./files.ts). */
  files?: ConnectorFiles;
  logger: Logger;
  /** Path prefix (default "/connectors"). */
  basePath?: string;
  /** Request body limit (default 1 MiB). */
  maxBodyBytes?: number;
  /** Deadline for DingTalk answers (default 1200 ms). */
  dingTalkAnswerWithinMs?: number;
  now?: () => number;
}

/** Handles the connector paths; resolves false for any other path (so the caller can route it elsewhere). */
export type ConnectorHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

class BodyTooLargeError extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new BodyTooLargeError());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

const settledOrLate = <T>(work: Promise<T>, ms: number): Promise<{ done: true; value: T } | { done: false }> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve({ done: false }), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve({ done: true, value });
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });

export function connectorRoutes(opts: ConnectorRoutesOptions): ConnectorHandler {
  const base = (opts.basePath ?? '/connectors').replace(/\/+$/, '');
  const limit = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const now = opts.now ?? Date.now;
  const deps: DeliveryDeps = { store: opts.store, details: opts.details, mapping: opts.mapping, sink: opts.sink, logger: opts.logger, now, ...(opts.files ? { files: opts.files } : {}) };
  const log = opts.logger;

  const refuse = (res: ServerResponse, platform: Platform, err: unknown): boolean => {
    if (err instanceof ConnectorAuthError) {
      log.warn({ platform, reason: err.message }, 'connector request refused: authentication failed');
      send(res, 401, { code: 401, msg: 'unauthorized' });
      return true;
    }
    if (err instanceof ConnectorRequestError) {
      log.warn({ platform, reason: err.message }, 'connector request refused: unreadable content');
      send(res, 400, { code: 400, msg: 'bad request' });
      return true;
    }
    return false;
  };

  const deliverable = (m: InboundMessage): m is Extract<InboundMessage, { kind: 'event' | 'invalid' | 'ignored' }> =>
    m.kind === 'event' || m.kind === 'invalid' || m.kind === 'ignored';

  async function feishu(req: IncomingMessage, res: ServerResponse, config: FeishuConfig, rawBody: Buffer): Promise<void> {
    let message: InboundMessage;
    try {
      message = parseFeishuRequest({ headers: req.headers, rawBody }, config, now());
    } catch (err) {
      if (refuse(res, 'feishu', err)) return;
      throw err;
    }
    if (message.kind === 'challenge') {
      log.info({ platform: 'feishu' }, 'Feishu URL verification answered');
      send(res, 200, { challenge: message.challenge });
      return;
    }
    if (!deliverable(message)) {
      send(res, 200, { code: 0, msg: 'success' });
      return;
    }
    let outcome: DeliveryOutcome;
    try {
      outcome = await deliver(message, deps);
    } catch {
      send(res, 500, { code: 500, msg: 'temporarily unavailable' });
      return;
    }
    send(res, 200, { code: 0, msg: 'success', status: outcome.status });
  }

  async function dingtalk(req: IncomingMessage, res: ServerResponse, config: DingTalkConfig, rawBody: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://connector.invalid');
    let message: InboundMessage;
    try {
      message = parseDingTalkRequest({ query: url.searchParams, rawBody }, config, now());
    } catch (err) {
      if (refuse(res, 'dingtalk', err)) return;
      throw err;
    }
    if (deliverable(message)) {
      const work = deliver(message, deps);
      let result: Awaited<ReturnType<typeof settledOrLate<DeliveryOutcome>>>;
      try {
        result = await settledOrLate(work, opts.dingTalkAnswerWithinMs ?? DINGTALK_ANSWER_WITHIN_MS);
      } catch {
        // Not "success": DingTalk redelivers.
        send(res, 500, { code: 500, msg: 'temporarily unavailable' });
        return;
      }
      if (!result.done) {
        const eventId = message.kind === 'event' ? message.event.eventId : message.eventId;
        log.warn({ platform: 'dingtalk', eventId }, 'DingTalk event still processing at the answer deadline; answered, finishing in the background');
        work.catch(() => undefined); // failures are logged by deliver and leave the event RECEIVED for redeliverPending
      }
    } else if (message.kind === 'check') {
      log.info({ platform: 'dingtalk' }, 'DingTalk check_url answered');
    }
    send(res, 200, dingTalkAnswer('success', config, now()));
  }

  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://connector.invalid').pathname.replace(/\/+$/, '');
    const platform: Platform | undefined = path === `${base}/feishu` ? 'feishu' : path === `${base}/dingtalk` ? 'dingtalk' : undefined;
    if (platform === undefined) return false;
    try {
      if (req.method !== 'POST') {
        req.resume();
        send(res, 405, { code: 405, msg: 'method not allowed' }, { allow: 'POST' });
        return true;
      }
      const config = platform === 'feishu' ? opts.feishu : opts.dingtalk;
      if (config === undefined) {
        req.resume();
        send(res, 404, { code: 404, msg: `${platform} connector is not configured` });
        return true;
      }
      let rawBody: Buffer;
      try {
        rawBody = await readBody(req, limit);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          send(res, 413, { code: 413, msg: `body larger than ${limit} bytes` }, { connection: 'close' });
          return true;
        }
        throw err;
      }
      if (platform === 'feishu') await feishu(req, res, config as FeishuConfig, rawBody);
      else await dingtalk(req, res, config as DingTalkConfig, rawBody);
    } catch (err) {
      log.error({ platform, err }, 'connector request failed');
      send(res, 500, { code: 500, msg: 'internal error' });
    }
    return true;
  };
}
