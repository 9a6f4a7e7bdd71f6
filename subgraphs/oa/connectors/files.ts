// Downloads of the files an approval form attaches (Feishu attachmentV2, DingTalk DDAttachment; ./details.ts) into
// the attachments bucket, owned by the applicant, so that the sink binds them to the mapped claim's items.
//
// - Feishu: the instance detail lists temporary download URLs; fetched with the tenant_access_token, which is only
//   sent to the configured API host.
// - DingTalk: POST {api}/v1.0/workflow/processInstances/spaces/files/urls/download {processInstanceId, fileId} with
//   header x-acs-dingtalk-access-token → {success, result: {downloadUri, fileId, spaceId}}, the URI valid 15 minutes
//   (https://open.dingtalk.com/document/development/download-an-approval-attachment).
// The URLs come from the platforms' answers, so each (and each redirect, at most MAX_REDIRECTS) must be http(s) on an
// allowed host: the platform's API host, or a host of its download allow-list. Bytes are spooled to a private
// temporary file, counted against FILE_MAX_BYTES and what is left of CLAIM_FILES_MAX_BYTES (aborted past it), their
// type recognised by platform/file-kind.ts, then stored. A refused file (host, size, type) is left out of the claim
// and named in the event's record; a network or server failure throws, so the whole event is retried.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { fileKind } from '../../../platform/file-kind.ts';
import { inspectStored } from '../attachments/inspection.ts';
import { type AttachmentStore, MAX_ATTACHMENTS_PER_ITEM } from '../attachments/store.ts';
import type { InvoiceVerifier } from '../invoices/verifier.ts';
import type { DingTalkInstanceDetails, FeishuInstanceDetails } from './details.ts';
import type { AttachmentRef, MappedClaim } from './types.ts';

export const MAX_REDIRECTS = 2;
/** Download hosts allowed besides the API host: `*.suffix` matches that domain's subdomains (https only). */
export const DEFAULT_FILE_HOSTS: Readonly<Record<'feishu' | 'dingtalk', readonly string[]>> = {
  feishu: ['*.feishu.cn', '*.larksuite.com', '*.feishucdn.com'],
  dingtalk: ['*.dingtalk.com', '*.aliyuncs.com'],
};

/** A file that will never be accepted (host, size, type, platform refusal): recorded, not retried. */
export class FileRefusedError extends Error {
  override readonly name = 'FileRefusedError';
}

export interface ConnectorFilesOptions {
  store: AttachmentStore;
  /** Invoices read and verified as for an upload (../attachments/inspection.ts); without it, files are stored uninspected. */
  verifier?: InvoiceVerifier;
  feishu?: FeishuInstanceDetails;
  dingtalk?: DingTalkInstanceDetails;
  /** Extra allowed download hosts per platform (exact host[:port], or *.domain); defaults DEFAULT_FILE_HOSTS. */
  hosts?: Partial<Record<'feishu' | 'dingtalk', readonly string[]>>;
  /** Per request (download-info call, and each file's whole download). Default 30 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface CollectedFiles {
  claim: MappedClaim;
  /** One line per refused file, for the inbound record. */
  problems: string[];
}

const downloadInfo = z.object({ result: z.object({ downloadUri: z.string() }).optional(), success: z.boolean().optional() });

export class ConnectorFiles {
  private readonly doFetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly options: ConnectorFilesOptions) {
    this.doFetch = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Downloads every file the claim's items name; returns the claim with attachmentIds and the refused files. */
  async collect(claim: MappedClaim): Promise<CollectedFiles> {
    const problems: string[] = [];
    let budget = this.options.store.settings.claimFilesMaxBytes;
    const items = [];
    for (const [i, item] of claim.items.entries()) {
      const { attachments = [], ...rest } = item;
      const ids: string[] = [];
      for (const ref of attachments) {
        const label = `item ${i + 1}, file ${JSON.stringify(ref.name)}`;
        if (ids.length >= MAX_ATTACHMENTS_PER_ITEM) {
          problems.push(`${label}: an item carries at most ${MAX_ATTACHMENTS_PER_ITEM} attachments`);
          continue;
        }
        try {
          const limit = Math.min(this.options.store.settings.fileMaxBytes, budget);
          const stored = await this.download(claim, ref, limit);
          budget -= stored.size;
          ids.push(stored.id);
        } catch (err) {
          if (!(err instanceof FileRefusedError)) throw err;
          problems.push(`${label}: ${err.message}`);
        }
      }
      items.push(ids.length ? { ...rest, attachmentIds: ids } : rest);
    }
    return { claim: { ...claim, items }, problems };
  }

  private allowed(platform: 'feishu' | 'dingtalk', apiHost: string, url: URL): boolean {
    if (url.host === apiHost && (url.protocol === 'https:' || url.protocol === 'http:')) return true;
    const hosts = this.options.hosts?.[platform] ?? DEFAULT_FILE_HOSTS[platform];
    return hosts.some((h) =>
      h.startsWith('*.') ? url.protocol === 'https:' && url.hostname.endsWith(h.slice(1)) : url.host === h && (url.protocol === 'https:' || url.protocol === 'http:'),
    );
  }

  private async download(claim: MappedClaim, ref: AttachmentRef, limit: number) {
    if (ref.platform === 'feishu') {
      const client = this.options.feishu;
      if (!client) throw new Error('no Feishu client configured for attachments');
      const token = await client.token();
      const apiHost = client.apiHost;
      return this.fetchFile(ref.url, (u) => this.allowed('feishu', apiHost, u), (u): Record<string, string> => (u.host === apiHost ? { authorization: `Bearer ${token}` } : {}), claim, ref, limit);
    }
    const client = this.options.dingtalk;
    if (!client) throw new Error('no DingTalk client configured for attachments');
    if (ref.size !== null && ref.size > limit) throw new FileRefusedError(`larger than ${limit} bytes (${ref.size})`);
    const token = await client.token();
    const res = await this.doFetch(`${client.apiBaseUrl}/v1.0/workflow/processInstances/spaces/files/urls/download`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-acs-dingtalk-access-token': token },
      body: JSON.stringify({ processInstanceId: claim.source.instanceCode, fileId: ref.fileId }),
      signal: AbortSignal.timeout(this.timeoutMs),
    }).catch((err: unknown) => {
      throw new Error(`DingTalk attachment download info: request failed (${(err as Error).name})`);
    });
    const body = downloadInfo.safeParse(await res.json().catch(() => undefined));
    if (res.status === 401) client.invalidateToken(token);
    if (res.status >= 500 || res.status === 401 || res.status === 429) throw new Error(`DingTalk attachment download info: HTTP ${res.status}`);
    if (!res.ok || !body.success || !body.data.result) throw new FileRefusedError(`DingTalk gives no download URL (HTTP ${res.status})`);
    const apiHost = new URL(client.apiBaseUrl).host;
    return this.fetchFile(body.data.result.downloadUri, (u) => this.allowed('dingtalk', apiHost, u), () => ({}), claim, ref, limit);
  }

  /** GET with manual redirects, each URL checked; the body spooled under `limit`, typed, stored. */
  private async fetchFile(raw: string, allowed: (u: URL) => boolean, headers: (u: URL) => Record<string, string>, claim: MappedClaim, ref: AttachmentRef, limit: number) {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new FileRefusedError('the download URL is not a URL');
    }
    let res: Response | undefined;
    for (let hop = 0; ; hop++) {
      // Never name the URL: it may carry a signature.
      if (!allowed(url)) throw new FileRefusedError(`download host ${url.host} is not allowed`);
      res = await this.doFetch(url, { headers: headers(url), redirect: 'manual', signal }).catch((err: unknown) => {
        throw new Error(`attachment download: request failed (${(err as Error).name})`);
      });
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        if (hop >= MAX_REDIRECTS) throw new FileRefusedError(`more than ${MAX_REDIRECTS} redirects`);
        url = new URL(location, url);
        continue;
      }
      break;
    }
    if (res.status >= 500 || res.status === 429 || res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new Error(`attachment download: HTTP ${res.status}`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new FileRefusedError(`the platform answers HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > limit) {
      await res.body.cancel();
      throw new FileRefusedError(`larger than ${limit} bytes (${declared})`);
    }
    const dir = await mkdtemp(path.join(tmpdir(), 'oa-connector-file-'));
    try {
      const spooled = path.join(dir, 'file');
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          if (size > limit) return done(new FileRefusedError(`larger than ${limit} bytes`));
          done(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), counter, createWriteStream(spooled, { mode: 0o600 }));
      const kind = await fileKind(spooled);
      if (kind === null) throw new FileRefusedError('not an accepted type (PDF, OFD, XML, JPEG, PNG, TIFF or HEIC, recognised from the bytes)');
      const saved = await this.options.store.storeFromStream(claim.applicantId, ref.name, kind, createReadStream(spooled), limit);
      if (this.options.verifier) await inspectStored(this.options.store, saved.id, saved.mediaType, this.options.verifier);
      return saved;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
