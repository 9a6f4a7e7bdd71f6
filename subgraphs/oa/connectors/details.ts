// Instance-detail clients: neither platform's approval event carries the form, so the connector reads the
// instance from the platform's API.
//
// - Feishu: GET {base}/open-apis/approval/v4/instances/:instance_id?user_id_type=… with a tenant_access_token from
//   POST {base}/open-apis/auth/v3/tenant_access_token/internal {app_id, app_secret} → {code, tenant_access_token, expire}.
//   Answer {code, msg, data: {approval_name, serial_number, user_id, open_id, form: "<JSON string of widgets>", …}};
//   code 1390003 = instance code not found. Widgets are {id, custom_id?, name, type, value}; a `fieldList` widget
//   has as value an array of rows, each an array of widgets.
// - DingTalk: POST {base}/topapi/processinstance/get?access_token=… {process_instance_id} with an access token from
//   GET {base}/gettoken?appkey=…&appsecret=… → {errcode, access_token, expires_in}. Answer {errcode, errmsg,
//   process_instance: {title, originator_userid, form_component_values: [{name, value, component_type, …}], …}};
//   a `TableField` value is a JSON string [{rowValue: [{label, value, key}], rowNumber}].
// Tokens are cached until shortly before they expire and renewed once when the API reports them invalid.
import { z } from 'zod';
import { dingTalkAttachments, feishuAttachments } from './attachment-fields.ts';
import type { FormField, InstanceDetail, InstanceDetails, Platform } from './types.ts';

/**
 * A detail lookup failed. `permanent`: the platform answered, but with something unusable (the event is then
 * rejected); otherwise the failure is transient (network, server error, token or permission problem) and the
 * platform should redeliver.
 */
export class InstanceDetailError extends Error {
  override readonly name = 'InstanceDetailError';
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

type FetchLike = typeof fetch;

interface ClientOptions {
  /** e.g. https://open.feishu.cn or https://oapi.dingtalk.com (no trailing path). */
  baseUrl: string;
  /** Per-request timeout (default 5 s). */
  timeoutMs?: number;
  /** Renew a token this long before it expires (default 5 minutes). */
  refreshMarginMs?: number;
  fetch?: FetchLike;
  now?: () => number;
}

/** A cached bearer token, fetched once at a time. */
class TokenCache {
  private token: { value: string; expiresAt: number } | undefined;
  private pending: Promise<string> | undefined;
  constructor(
    private readonly obtain: () => Promise<{ value: string; expiresInSeconds: number }>,
    private readonly now: () => number,
    private readonly marginMs: number,
  ) {}

  async get(): Promise<string> {
    if (this.token && this.now() < this.token.expiresAt) return this.token.value;
    this.pending ??= this.obtain()
      .then(({ value, expiresInSeconds }) => {
        const lifetime = Math.max(0, expiresInSeconds * 1000 - this.marginMs);
        this.token = { value, expiresAt: this.now() + lifetime };
        return value;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  invalidate(used: string): void {
    if (this.token?.value === used) this.token = undefined;
  }
}

async function requestJson(
  doFetch: FetchLike,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  what: string,
): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await doFetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    // The URL may carry credentials in its query (DingTalk): name the operation, never the URL.
    throw new InstanceDetailError(`${what}: request failed (${(err as Error).name})`, false);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    body = undefined;
  }
  if (body === undefined && res.status >= 500) throw new InstanceDetailError(`${what}: HTTP ${res.status}`, false);
  return { status: res.status, body };
}

// ---- Feishu --------------------------------------------------------------------------------------------

export interface FeishuDetailsOptions extends ClientOptions {
  appId: string;
  appSecret: string;
  /** Which id of the initiator becomes externalUserId (and so keys `users.feishu`): default 'user_id'. */
  userIdType?: 'user_id' | 'open_id';
}

export const FEISHU_INSTANCE_NOT_FOUND = 1390003;
/** Token errors after which the token is renewed once: invalid / expired tenant_access_token. */
const FEISHU_TOKEN_ERRORS = new Set([99991661, 99991663, 99991664, 99991668]);

const feishuTokenAnswer = z.object({ code: z.number(), msg: z.string().optional(), tenant_access_token: z.string().optional(), expire: z.number().optional() });
const feishuInstanceAnswer = z.object({
  code: z.number(),
  msg: z.string().optional(),
  data: z
    .object({
      approval_name: z.string().optional(),
      serial_number: z.string().optional(),
      user_id: z.string().optional(),
      open_id: z.string().optional(),
      form: z.string().optional(),
    })
    .optional(),
});

type Widget = { id?: unknown; custom_id?: unknown; name?: unknown; type?: unknown; value?: unknown; ext?: unknown };

/** Feishu form widgets → FormField[]; a fieldList becomes rows of fields. Named by `name`, else custom_id, else id. */
export function normaliseFeishuForm(widgets: unknown): FormField[] {
  if (!Array.isArray(widgets)) throw new InstanceDetailError('Feishu form is not a list of widgets', true);
  return widgets.map((w: Widget) => {
    const name = [w?.name, w?.custom_id, w?.id].find((n): n is string => typeof n === 'string' && n !== '') ?? '';
    if (w?.type === 'fieldList' && Array.isArray(w.value)) {
      return { name, value: w.value.map((row: unknown) => (Array.isArray(row) ? normaliseFeishuForm(row) : [])) };
    }
    if (w?.type === 'attachmentV2' || w?.type === 'attachment') return { name, value: feishuAttachments(w.value, w.ext) };
    return { name, value: w?.value ?? null };
  });
}

export class FeishuInstanceDetails {
  private readonly tokens: TokenCache;
  private readonly doFetch: FetchLike;
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: FeishuDetailsOptions) {
    this.doFetch = options.fetch ?? fetch;
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.tokens = new TokenCache(() => this.obtainToken(), options.now ?? Date.now, options.refreshMarginMs ?? 5 * 60_000);
  }

  private async obtainToken(): Promise<{ value: string; expiresInSeconds: number }> {
    const { body } = await requestJson(
      this.doFetch,
      `${this.base}/open-apis/auth/v3/tenant_access_token/internal`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ app_id: this.options.appId, app_secret: this.options.appSecret }),
      },
      this.timeoutMs,
      'Feishu tenant_access_token',
    );
    const answer = feishuTokenAnswer.safeParse(body);
    if (!answer.success || answer.data.code !== 0 || !answer.data.tenant_access_token) {
      const code = answer.success ? answer.data.code : 'malformed answer';
      throw new InstanceDetailError(`Feishu tenant_access_token refused (code ${code})`, false);
    }
    return { value: answer.data.tenant_access_token, expiresInSeconds: answer.data.expire ?? 7200 };
  }

  /** The API host (for the download allow-list) and a current tenant_access_token (./files.ts). */
  get apiHost(): string {
    return new URL(this.base).host;
  }
  token(): Promise<string> {
    return this.tokens.get();
  }

  async fetch(instanceCode: string): Promise<InstanceDetail | null> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.tokens.get();
      const userIdType = this.options.userIdType ?? 'user_id';
      const { status, body } = await requestJson(
        this.doFetch,
        `${this.base}/open-apis/approval/v4/instances/${encodeURIComponent(instanceCode)}?user_id_type=${userIdType}`,
        { method: 'GET', headers: { authorization: `Bearer ${token}` } },
        this.timeoutMs,
        'Feishu instance detail',
      );
      const answer = feishuInstanceAnswer.safeParse(body);
      if (!answer.success) throw new InstanceDetailError(`Feishu instance detail: unexpected answer (HTTP ${status})`, false);
      const { code, data } = answer.data;
      if (code === FEISHU_INSTANCE_NOT_FOUND) return null;
      if (FEISHU_TOKEN_ERRORS.has(code) && attempt === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      if (code !== 0 || data === undefined) throw new InstanceDetailError(`Feishu instance detail: code ${code}`, false);
      let widgets: unknown;
      try {
        widgets = JSON.parse(data.form ?? '[]') as unknown;
      } catch {
        throw new InstanceDetailError('Feishu instance detail: form is not JSON', true);
      }
      const externalUserId = (userIdType === 'user_id' ? data.user_id : data.open_id) ?? '';
      const name = data.approval_name ?? '';
      const title = data.serial_number ? `${name} ${data.serial_number}`.trim() : name;
      return { externalUserId, title, form: normaliseFeishuForm(widgets) };
    }
  }
}

// ---- DingTalk ------------------------------------------------------------------------------------------

export interface DingTalkDetailsOptions extends ClientOptions {
  appKey: string;
  appSecret: string;
  /** The newer API host (download info of attachments): default https://api.dingtalk.com. */
  apiBaseUrl?: string;
}

/** errcode DingTalk uses for "流程不存在" (process instance does not exist). */
export const DINGTALK_INSTANCE_NOT_FOUND = new Set([820004]);
/** Token errors after which the token is renewed once: invalid / missing / expired access_token. */
const DINGTALK_TOKEN_ERRORS = new Set([40014, 41001, 42001]);

const dingTalkTokenAnswer = z.object({ errcode: z.number(), access_token: z.string().optional(), expires_in: z.number().optional() });
const dingTalkInstanceAnswer = z.object({
  errcode: z.number(),
  errmsg: z.string().optional(),
  process_instance: z
    .object({
      title: z.string().optional(),
      originator_userid: z.string().optional(),
      form_component_values: z
        .array(z.object({ name: z.string().optional(), value: z.unknown().optional(), component_type: z.string().optional(), id: z.string().optional() }))
        .optional(),
    })
    .optional(),
});

const tableRows = z.array(z.object({ rowValue: z.array(z.object({ label: z.string().optional(), key: z.string().optional(), value: z.unknown().optional() })) }));

/** DingTalk form_component_values → FormField[]; a TableField becomes rows of fields named by their labels. */
export function normaliseDingTalkForm(values: ReadonlyArray<{ name?: string; value?: unknown; component_type?: string; id?: string }>): FormField[] {
  return values.map((v) => {
    const name = v.name ?? v.id ?? '';
    if (v.component_type === 'TableField' && typeof v.value === 'string' && v.value.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(v.value) as unknown;
      } catch {
        throw new InstanceDetailError(`DingTalk table field ${JSON.stringify(name)} is not JSON`, true);
      }
      const rows = tableRows.safeParse(parsed);
      if (!rows.success) throw new InstanceDetailError(`DingTalk table field ${JSON.stringify(name)} has an unexpected shape`, true);
      return { name, value: rows.data.map((r) => r.rowValue.map((c) => ({ name: c.label ?? c.key ?? '', value: c.value ?? null }))) };
    }
    if (v.component_type === 'DDAttachment') {
      const files = dingTalkAttachments(v.value);
      if (typeof files === 'string') throw new InstanceDetailError(`DingTalk attachment field ${JSON.stringify(name)} ${files}`, true);
      return { name, value: files };
    }
    return { name, value: v.value ?? null };
  });
}

export class DingTalkInstanceDetails {
  private readonly tokens: TokenCache;
  private readonly doFetch: FetchLike;
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: DingTalkDetailsOptions) {
    this.doFetch = options.fetch ?? fetch;
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.tokens = new TokenCache(() => this.obtainToken(), options.now ?? Date.now, options.refreshMarginMs ?? 5 * 60_000);
  }

  private async obtainToken(): Promise<{ value: string; expiresInSeconds: number }> {
    const query = new URLSearchParams({ appkey: this.options.appKey, appsecret: this.options.appSecret });
    const { body } = await requestJson(this.doFetch, `${this.base}/gettoken?${query}`, { method: 'GET' }, this.timeoutMs, 'DingTalk gettoken');
    const answer = dingTalkTokenAnswer.safeParse(body);
    if (!answer.success || answer.data.errcode !== 0 || !answer.data.access_token) {
      const code = answer.success ? answer.data.errcode : 'malformed answer';
      throw new InstanceDetailError(`DingTalk gettoken refused (errcode ${code})`, false);
    }
    return { value: answer.data.access_token, expiresInSeconds: answer.data.expires_in ?? 7200 };
  }

  /** The newer API's base URL, and a current access token (./files.ts; the same token serves both APIs). */
  get apiBaseUrl(): string {
    return (this.options.apiBaseUrl ?? 'https://api.dingtalk.com').replace(/\/+$/, '');
  }
  token(): Promise<string> {
    return this.tokens.get();
  }
  invalidateToken(used: string): void {
    this.tokens.invalidate(used);
  }

  async fetch(instanceCode: string): Promise<InstanceDetail | null> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.tokens.get();
      const { status, body } = await requestJson(
        this.doFetch,
        `${this.base}/topapi/processinstance/get?access_token=${encodeURIComponent(token)}`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ process_instance_id: instanceCode }) },
        this.timeoutMs,
        'DingTalk processinstance/get',
      );
      const answer = dingTalkInstanceAnswer.safeParse(body);
      if (!answer.success) throw new InstanceDetailError(`DingTalk processinstance/get: unexpected answer (HTTP ${status})`, false);
      const { errcode, process_instance: instance } = answer.data;
      if (DINGTALK_INSTANCE_NOT_FOUND.has(errcode)) return null;
      if (DINGTALK_TOKEN_ERRORS.has(errcode) && attempt === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      if (errcode !== 0 || instance === undefined) throw new InstanceDetailError(`DingTalk processinstance/get: errcode ${errcode}`, false);
      return {
        externalUserId: instance.originator_userid ?? '',
        title: instance.title ?? '',
        form: normaliseDingTalkForm(instance.form_component_values ?? []),
      };
    }
  }
}

// ---- both ----------------------------------------------------------------------------------------------

/** One InstanceDetails over the configured platform clients; an unconfigured platform is a transient error. */
export function platformInstanceDetails(clients: { feishu?: FeishuInstanceDetails; dingtalk?: DingTalkInstanceDetails }): InstanceDetails {
  return {
    async fetch(platform: Platform, instanceCode: string) {
      const client = clients[platform];
      if (client === undefined) throw new InstanceDetailError(`no instance-detail client configured for ${platform}`, false);
      return client.fetch(instanceCode);
    },
  };
}
