// Connector configuration from environment variables, validated at start-up. A platform is enabled when any of
// its own variables (FEISHU_* / DINGTALK_*) is set; it then needs all of them. Errors name the variable and never
// echo a secret.
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../../../platform/config.ts';
import { DEFAULT_REPLAY_WINDOW_MS } from './auth.ts';
import type { DingTalkConfig } from './dingtalk.ts';
import type { FeishuConfig } from './feishu.ts';

export const DEFAULT_FEISHU_API_URL = 'https://open.feishu.cn';
export const DEFAULT_DINGTALK_API_URL = 'https://oapi.dingtalk.com';
/** DingTalk's newer API host, which serves the download info of approval attachments. */
export const DEFAULT_DINGTALK_FILES_API_URL = 'https://api.dingtalk.com';

export interface FeishuConnectorConfig extends FeishuConfig {
  replayWindowMs: number;
  details: { baseUrl: string; appId: string; appSecret: string; userIdType: 'user_id' | 'open_id' };
}
export interface DingTalkConnectorConfig extends DingTalkConfig {
  replayWindowMs: number;
  details: { baseUrl: string; appKey: string; appSecret: string; apiBaseUrl: string };
}
export interface ConnectorConfig {
  feishu?: FeishuConnectorConfig;
  dingtalk?: DingTalkConnectorConfig;
  /** Path of the mapping JSON file (required when a platform is enabled). */
  mappingFile?: string;
  /** CONNECTOR_FILE_HOSTS: the hosts attachments may be downloaded from, replacing DEFAULT_FILE_HOSTS (./files.ts). */
  fileHosts?: string[];
}

export const CONNECTOR_VARIABLES = [
  'FEISHU_ENCRYPT_KEY',
  'FEISHU_VERIFICATION_TOKEN',
  'FEISHU_APP_ID',
  'FEISHU_APP_SECRET',
  'FEISHU_USER_ID_TYPE',
  'DINGTALK_TOKEN',
  'DINGTALK_AES_KEY',
  'DINGTALK_APP_KEY',
  'DINGTALK_APP_SECRET',
  'CONNECTOR_MAPPING_FILE',
  'CONNECTOR_DETAILS_FEISHU_URL',
  'CONNECTOR_DETAILS_DINGTALK_URL',
  'CONNECTOR_FILES_DINGTALK_URL',
  'CONNECTOR_FILE_HOSTS',
  'CONNECTOR_REPLAY_WINDOW_SECONDS',
] as const;
type Variable = (typeof CONNECTOR_VARIABLES)[number];

const FEISHU_OWN: readonly Variable[] = ['FEISHU_ENCRYPT_KEY', 'FEISHU_VERIFICATION_TOKEN', 'FEISHU_APP_ID', 'FEISHU_APP_SECRET', 'FEISHU_USER_ID_TYPE'];
const FEISHU_REQUIRED: readonly Variable[] = ['FEISHU_ENCRYPT_KEY', 'FEISHU_VERIFICATION_TOKEN', 'FEISHU_APP_ID', 'FEISHU_APP_SECRET'];
const DINGTALK_OWN: readonly Variable[] = ['DINGTALK_TOKEN', 'DINGTALK_AES_KEY', 'DINGTALK_APP_KEY', 'DINGTALK_APP_SECRET'];

const raw = z.string().optional();
const httpUrl = raw.refine((v) => v === undefined || (/^https?:\/\//.test(v) && URL.canParse(v)), { message: 'expected an http(s) URL' });
const schema = z.object({
  FEISHU_ENCRYPT_KEY: raw,
  FEISHU_VERIFICATION_TOKEN: raw,
  FEISHU_APP_ID: raw,
  FEISHU_APP_SECRET: raw,
  FEISHU_USER_ID_TYPE: raw.refine((v) => v === undefined || v === 'user_id' || v === 'open_id', { message: 'expected user_id or open_id' }),
  DINGTALK_TOKEN: raw,
  // Secret: the message gives the rule and the length, never the value.
  DINGTALK_AES_KEY: raw.superRefine((v, ctx) => {
    if (v !== undefined && !/^[A-Za-z0-9]{43}$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: `expected exactly 43 letters or digits, got ${v.length} characters` });
    }
  }),
  DINGTALK_APP_KEY: raw,
  DINGTALK_APP_SECRET: raw,
  CONNECTOR_MAPPING_FILE: raw,
  CONNECTOR_DETAILS_FEISHU_URL: httpUrl,
  CONNECTOR_DETAILS_DINGTALK_URL: httpUrl,
  CONNECTOR_FILES_DINGTALK_URL: httpUrl,
  // host[:port] or *.domain, comma-separated: no scheme, path or wildcard elsewhere.
  CONNECTOR_FILE_HOSTS: raw.refine((v) => v === undefined || v.split(',').every((h) => /^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$/i.test(h.trim())), {
    message: 'expected comma-separated host names (host, host:port or *.domain)',
  }),
  CONNECTOR_REPLAY_WINDOW_SECONDS: raw.refine((v) => v === undefined || (/^\d{1,5}$/.test(v) && Number(v) >= 10 && Number(v) <= 86_400), {
    message: 'expected an integer number of seconds 10..86400',
  }),
});

/**
 * Reads the connector variables. Returns `{}` when no platform is configured (the connectors are then off).
 * @throws ConfigError naming every bad or missing variable.
 */
export function loadConnectorConfig(env: Readonly<Record<string, string | undefined>> = process.env): ConnectorConfig {
  const input: Partial<Record<Variable, string>> = {};
  for (const name of CONNECTOR_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') input[name] = value.trim();
  }
  const parsed = schema.safeParse(input);
  const issues: ConfigIssue[] = parsed.success ? [] : parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? 'environment'), message: i.message }));

  const feishuOn = FEISHU_OWN.some((v) => input[v] !== undefined);
  const dingtalkOn = DINGTALK_OWN.some((v) => input[v] !== undefined);
  const require = (names: readonly Variable[], why: string) => {
    for (const name of names) if (input[name] === undefined) issues.push({ variable: name, message: `required when ${why}` });
  };
  if (feishuOn) require(FEISHU_REQUIRED, 'the Feishu connector is configured (a FEISHU_* variable is set)');
  if (dingtalkOn) require(DINGTALK_OWN, 'the DingTalk connector is configured (a DINGTALK_* variable is set)');
  if (feishuOn || dingtalkOn) require(['CONNECTOR_MAPPING_FILE'], 'a connector is configured');
  if (issues.length > 0) throw new ConfigError(issues);

  const replayWindowMs = input.CONNECTOR_REPLAY_WINDOW_SECONDS === undefined ? DEFAULT_REPLAY_WINDOW_MS : Number(input.CONNECTOR_REPLAY_WINDOW_SECONDS) * 1000;
  const config: ConnectorConfig = {};
  if (input.CONNECTOR_MAPPING_FILE !== undefined) config.mappingFile = input.CONNECTOR_MAPPING_FILE;
  if (input.CONNECTOR_FILE_HOSTS !== undefined) config.fileHosts = input.CONNECTOR_FILE_HOSTS.split(',').map((h) => h.trim().toLowerCase());
  if (feishuOn) {
    config.feishu = {
      encryptKey: input.FEISHU_ENCRYPT_KEY as string,
      verificationToken: input.FEISHU_VERIFICATION_TOKEN as string,
      replayWindowMs,
      details: {
        baseUrl: input.CONNECTOR_DETAILS_FEISHU_URL ?? DEFAULT_FEISHU_API_URL,
        appId: input.FEISHU_APP_ID as string,
        appSecret: input.FEISHU_APP_SECRET as string,
        userIdType: (input.FEISHU_USER_ID_TYPE as 'user_id' | 'open_id' | undefined) ?? 'user_id',
      },
    };
  }
  if (dingtalkOn) {
    config.dingtalk = {
      token: input.DINGTALK_TOKEN as string,
      aesKey: input.DINGTALK_AES_KEY as string,
      appKey: input.DINGTALK_APP_KEY as string,
      replayWindowMs,
      details: {
        baseUrl: input.CONNECTOR_DETAILS_DINGTALK_URL ?? DEFAULT_DINGTALK_API_URL,
        appKey: input.DINGTALK_APP_KEY as string,
        appSecret: input.DINGTALK_APP_SECRET as string,
        apiBaseUrl: input.CONNECTOR_FILES_DINGTALK_URL ?? DEFAULT_DINGTALK_FILES_API_URL,
      },
    };
  }
  return config;
}
