// Attachment fields of approval forms, normalised to AttachmentList (./types.ts) for the mapping and ./files.ts.
import { z } from 'zod';
import type { AttachmentList, AttachmentRef } from './types.ts';

/** A list given as an array of strings or as one comma-separated string (the instance detail uses both). */
const listOf = (v: unknown): string[] =>
  (Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : []).filter((x): x is string => typeof x === 'string').map((x) => x.trim()).filter((x) => x !== '');

/**
 * A Feishu attachment widget (type attachmentV2, or the older attachment): `value` the files' download URLs, valid
 * for a limited time, `ext` their names in the same order (https://open.feishu.cn/document/server-docs/approval-v4/
 * instance/get; the widget shape: …/approval-v4/instance/approval-instance-form-control-parameters). A value that is
 * not a URL (a file code, as instances are created with) names nothing to download and is skipped.
 */
export function feishuAttachments(value: unknown, ext: unknown): AttachmentList {
  const names = listOf(ext);
  const files: AttachmentRef[] = listOf(value)
    .map((url, i) => ({ url, name: names[i] ?? `attachment-${i + 1}` }))
    .filter((f) => /^https?:\/\//i.test(f.url))
    .map((f) => ({ platform: 'feishu', name: f.name, url: f.url }));
  return { kind: 'attachments', files };
}

/**
 * A DDAttachment value: a JSON string listing 钉盘 files [{spaceId, fileId, fileName, fileSize, fileType}]
 * (https://open.dingtalk.com/document/development/obtains-the-details-of-a-single-approval-instance-pop; the fields
 * as the official SDKs read them). Ids arrive as strings or numbers.
 */
const ddAttachments = z.array(
  z.object({
    fileId: z.union([z.string(), z.number()]),
    spaceId: z.union([z.string(), z.number()]).optional(),
    fileName: z.string().optional(),
    fileSize: z.union([z.string(), z.number()]).optional(),
    fileType: z.string().optional(),
  }),
);

/** The files of a DDAttachment value, or what is wrong with it. */
export function dingTalkAttachments(value: unknown): AttachmentList | string {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return { kind: 'attachments', files: [] };
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value) as unknown;
    } catch {
      return 'is not JSON';
    }
  }
  const list = ddAttachments.safeParse(parsed);
  if (!list.success) return 'has an unexpected shape';
  return {
    kind: 'attachments',
    files: list.data.map((f, i) => {
      const size = Number(f.fileSize);
      const fallback = `attachment-${i + 1}${f.fileType ? `.${f.fileType}` : ''}`;
      return { platform: 'dingtalk', name: f.fileName ?? fallback, fileId: String(f.fileId), spaceId: f.spaceId === undefined ? null : String(f.spaceId), size: Number.isFinite(size) ? size : null };
    }),
  };
}
