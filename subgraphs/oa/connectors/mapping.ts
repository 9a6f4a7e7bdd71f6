// Normalisation of platform statuses and mapping of an external approval (event + instance detail) to an
// expense claim, driven by a JSON mapping file. Amounts become integer fen exactly: no float arithmetic.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { TEXT_FIELDS, type TextField, TextPolicyError, checkText } from '../../../platform/text-policy.ts';
import {
  EXPENSE_CATEGORIES,
  type ExpenseCategory,
  type ExternalApprovalEvent,
  type ExternalStatus,
  type FormField,
  type InstanceDetail,
  isAttachmentList,
  type MappedClaim,
  type MappedItem,
  type Platform,
} from './types.ts';

// ---- statuses ------------------------------------------------------------------------------------------

export type StatusOutcome = { status: ExternalStatus } | { ignore: string } | { invalid: string };

/**
 * Feishu approval_instance status → claim status. PENDING → SUBMITTED; APPROVED; REJECTED; CANCELED and DELETED →
 * WITHDRAWN; REVERTED (an approved instance revoked by its initiator) → SUBMITTED; OVERTIME_CLOSE and
 * OVERTIME_RECOVER have no claim equivalent and are ignored.
 */
export function normaliseFeishuStatus(status: unknown): StatusOutcome {
  switch (status) {
    case 'PENDING':
    case 'REVERTED':
      return { status: 'SUBMITTED' };
    case 'APPROVED':
      return { status: 'APPROVED' };
    case 'REJECTED':
      return { status: 'REJECTED' };
    case 'CANCELED':
    case 'DELETED':
      return { status: 'WITHDRAWN' };
    case 'OVERTIME_CLOSE':
    case 'OVERTIME_RECOVER':
      return { ignore: `status ${status} has no claim equivalent` };
    default:
      return { invalid: `unknown Feishu status ${JSON.stringify(status ?? null)}` };
  }
}

/**
 * DingTalk bpms_instance_change type/result → claim status. start → SUBMITTED; finish+agree → APPROVED;
 * finish+refuse → REJECTED; terminate (initiator revoked) and delete → WITHDRAWN.
 */
export function normaliseDingTalkStatus(type: string | undefined, result: string | undefined): StatusOutcome {
  switch (type) {
    case 'start':
      return { status: 'SUBMITTED' };
    case 'finish':
      if (result === 'agree') return { status: 'APPROVED' };
      if (result === 'refuse') return { status: 'REJECTED' };
      return { invalid: `finish event with unknown result ${JSON.stringify(result ?? null)}` };
    case 'terminate':
    case 'delete':
      return { status: 'WITHDRAWN' };
    default:
      return { invalid: `unknown DingTalk event type ${JSON.stringify(type ?? null)}` };
  }
}

// ---- amounts and dates ---------------------------------------------------------------------------------

export class FormValueError extends Error {
  override readonly name = 'FormValueError';
}

const MAX_YUAN_DIGITS = 13;
const quote = (v: unknown): string => {
  const text = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
};

/**
 * An amount in yuan (decimal string, or a JSON number as the platforms send it) → integer fen, exactly:
 * "1234.5" → 123450, 88 → 8800. Refused: more than two decimal places, exponents, signs, separators, zero.
 * A number is read through its shortest decimal representation, which is the literal the platform sent.
 */
export function toFen(value: unknown): number {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new FormValueError(`amount ${quote(value)} is not a number`);
    text = String(value);
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    throw new FormValueError(value === undefined || value === null ? 'amount is empty' : `amount ${quote(value)} is not a number`);
  }
  if (text === '') throw new FormValueError('amount is empty');
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new FormValueError(`amount ${quote(value)} is not a plain non-negative decimal number`);
  const [, whole = '', fraction = ''] = m;
  if (fraction.length > 2) throw new FormValueError(`amount ${quote(value)} has more than 2 decimal places`);
  const yuan = whole.replace(/^0+(?=\d)/, '');
  if (yuan.length > MAX_YUAN_DIGITS) throw new FormValueError(`amount ${quote(value)} is too large`);
  const fen = Number(yuan) * 100 + Number(fraction.padEnd(2, '0'));
  if (fen === 0) throw new FormValueError('amount must be greater than 0');
  return fen;
}

const CHINA_OFFSET_MS = 8 * 3600_000;

function isCalendarDate(y: number, m: number, d: number): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

/**
 * A date as the platforms send it → YYYY-MM-DD. Accepted: "2024-03-05", "2024/03/05", with any time part
 * ("2024-03-05 10:00", RFC 3339 "2024-03-05T08:00:00+08:00": the date as written, in the writer's zone), and
 * epoch milliseconds (number or digits), read in China time (UTC+8).
 */
export function toIsoDate(value: unknown): string {
  if (typeof value === 'number' || (typeof value === 'string' && /^\d{12,14}$/.test(value.trim()))) {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0) throw new FormValueError(`date ${quote(value)} is not a valid timestamp`);
    return new Date(n + CHINA_OFFSET_MS).toISOString().slice(0, 10);
  }
  if (typeof value !== 'string' || value.trim() === '') throw new FormValueError('date is empty');
  const m = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:$|[T ])/.exec(value.trim());
  if (!m) throw new FormValueError(`date ${quote(value)} is not a date (expected YYYY-MM-DD)`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (!isCalendarDate(y, mo, d)) throw new FormValueError(`date ${quote(value)} does not exist`);
  return `${m[1]}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

// ---- configuration -------------------------------------------------------------------------------------

/** Where the items of a claim are in an approval form. Every value names a form field (by its label). */
export interface ItemFieldsConfig {
  /**
   * The field holding the items. If its value is a table (Feishu fieldList, DingTalk TableField), each row is an
   * item and the other names are column labels within the row. Otherwise the whole form is one item and the
   * other names are top-level fields (then `field` is usually the amount field itself).
   */
  field: string;
  description: string;
  amount: string;
  occurredOn: string;
  /** Optional: an empty or missing value leaves the item without invoice number. */
  invoiceNo?: string;
  /**
   * Optional: an attachment field (Feishu attachmentV2, DingTalk DDAttachment). A column of the items table feeds its
   * row's item; a top-level field feeds the first item. Its files are downloaded and attached (./files.ts).
   */
  attachments?: string;
}

export interface ApprovalMapping {
  category: ExpenseCategory;
  /** Optional form field whose text becomes the claim title; otherwise the instance's own title. */
  title?: string;
  items: ItemFieldsConfig;
}

/** The validated mapping file. Maps (not plain objects) so that keys like "constructor" cannot misfire. */
export interface MappingConfig {
  users: Readonly<Record<Platform, ReadonlyMap<string, string>>>;
  approvals: Readonly<Record<Platform, ReadonlyMap<string, ApprovalMapping>>>;
}

const fieldName = z.string().trim().min(1, 'must name a form field');
const itemsSchema = z.strictObject({
  field: fieldName,
  description: fieldName,
  amount: fieldName,
  occurredOn: fieldName,
  invoiceNo: fieldName.optional(),
  attachments: fieldName.optional(),
});
const approvalSchema = z.strictObject({
  category: z.enum(EXPENSE_CATEGORIES, { error: `must be one of ${EXPENSE_CATEGORIES.join(', ')}` }),
  title: fieldName.optional(),
  items: itemsSchema,
});
const externalKey = z.string().min(1, 'must not be empty');
const employeeId = z.string().trim().min(1, 'must be an employee id');
const perPlatform = <T extends z.ZodType>(value: T) =>
  z.strictObject({
    feishu: z.record(externalKey, value).optional(),
    dingtalk: z.record(externalKey, value).optional(),
  });
export const mappingFileSchema = z.strictObject({
  users: perPlatform(employeeId),
  approvals: perPlatform(approvalSchema),
});
export type MappingFile = z.input<typeof mappingFileSchema>;

export class MappingConfigError extends Error {
  override readonly name = 'MappingConfigError';
  readonly issues: readonly string[];
  constructor(source: string, issues: readonly string[]) {
    super(`${source}: invalid connector mapping (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues.map((i) => `  ${i}`).join('\n')}`);
    this.issues = issues;
  }
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    const key = String(p);
    out += /^[A-Za-z_$][\w$]*$/.test(key) ? `${out === '' ? '' : '.'}${key}` : `[${JSON.stringify(key)}]`;
  }
  return out === '' ? '(root)' : out;
}

function toMap<T>(record: Record<string, T> | undefined): ReadonlyMap<string, T> {
  return new Map(Object.entries(record ?? {}));
}

/**
 * Validates a parsed mapping file.
 * @param source names the origin in error messages (e.g. "CONNECTOR_MAPPING_FILE (/etc/oa/mapping.json)").
 * @throws MappingConfigError listing every problem with its path.
 */
export function parseMappingConfig(input: unknown, source = 'mapping'): MappingConfig {
  const parsed = mappingFileSchema.safeParse(input);
  if (!parsed.success) {
    throw new MappingConfigError(source, parsed.error.issues.map((i) => `${pathText(i.path)}: ${i.message}`));
  }
  const { users, approvals } = parsed.data;
  return {
    users: { feishu: toMap(users.feishu), dingtalk: toMap(users.dingtalk) },
    approvals: { feishu: toMap(approvals.feishu), dingtalk: toMap(approvals.dingtalk) },
  };
}

/** Reads and validates the mapping file (JSON). Errors name `variable` and the path. */
export async function loadMappingFile(path: string, variable = 'CONNECTOR_MAPPING_FILE'): Promise<MappingConfig> {
  const source = `${variable} (${path})`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MappingConfigError(source, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch (err) {
    throw new MappingConfigError(source, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseMappingConfig(json, source);
}

// ---- mapping -------------------------------------------------------------------------------------------

export type MappingErrorCode =
  | 'UNKNOWN_APPROVAL'
  | 'UNKNOWN_USER'
  | 'DETAIL_NOT_FOUND'
  | 'DETAIL_UNUSABLE'
  | 'MISSING_FIELD'
  | 'INVALID_AMOUNT'
  | 'INVALID_DATE'
  /** A title or description the text policy (platform/text-policy.ts) refuses. */
  | 'INVALID_TEXT'
  | 'NO_ITEMS';

/** Why an external approval cannot become a claim. `reason` is precise and may quote form values. */
export interface MappingFailure {
  ok: false;
  code: MappingErrorCode;
  reason: string;
}
export type MappingResult = { ok: true; claim: MappedClaim } | MappingFailure;

const fail = (code: MappingErrorCode, reason: string): MappingFailure => ({ ok: false, code, reason });

/** The approval mapping for an event, or a failure naming the unmapped code. */
export function approvalFor(config: MappingConfig, platform: Platform, approvalCode: string): { ok: true; approval: ApprovalMapping } | MappingFailure {
  const approval = config.approvals[platform].get(approvalCode);
  return approval
    ? { ok: true, approval }
    : fail('UNKNOWN_APPROVAL', `approval code ${JSON.stringify(approvalCode)} is not mapped for ${platform} (approvals.${platform})`);
}

const isField = (v: unknown): v is FormField =>
  typeof v === 'object' && v !== null && typeof (v as FormField).name === 'string' && 'value' in (v as object);
const isRows = (v: unknown): v is FormField[][] => Array.isArray(v) && v.every((row) => Array.isArray(row) && row.every(isField));

function find(fields: readonly FormField[], name: string): FormField | undefined {
  return fields.find((f) => f.name === name);
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** The text as the OA stores it, or an ItemError quoting the policy's reason (never the text itself). */
function policed(value: string, field: string, spec: TextField, where: string): string {
  try {
    return checkText(value, field, spec);
  } catch (err) {
    if (err instanceof TextPolicyError) throw new ItemError('INVALID_TEXT', `${where}${err.message}`);
    throw err;
  }
}

class ItemError extends Error {
  constructor(
    readonly code: MappingErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function readItem(row: readonly FormField[], where: string, cfg: ItemFieldsConfig): MappedItem {
  const raw = text(find(row, cfg.description)?.value);
  if (raw === undefined) throw new ItemError('MISSING_FIELD', `${where}field ${JSON.stringify(cfg.description)} (description) is missing or empty`);
  const description = policed(raw, 'description', TEXT_FIELDS.itemDescription, `${where}field ${JSON.stringify(cfg.description)}: `);
  const amountField = find(row, cfg.amount);
  if (amountField === undefined) throw new ItemError('MISSING_FIELD', `${where}field ${JSON.stringify(cfg.amount)} (amount) is missing`);
  let amountFen: number;
  try {
    amountFen = toFen(amountField.value);
  } catch (err) {
    throw new ItemError('INVALID_AMOUNT', `${where}field ${JSON.stringify(cfg.amount)}: ${(err as Error).message}`);
  }
  const dateField = find(row, cfg.occurredOn);
  if (dateField === undefined) throw new ItemError('MISSING_FIELD', `${where}field ${JSON.stringify(cfg.occurredOn)} (occurredOn) is missing`);
  let occurredOn: string;
  try {
    occurredOn = toIsoDate(dateField.value);
  } catch (err) {
    throw new ItemError('INVALID_DATE', `${where}field ${JSON.stringify(cfg.occurredOn)}: ${(err as Error).message}`);
  }
  const invoiceNo = cfg.invoiceNo === undefined ? undefined : text(find(row, cfg.invoiceNo)?.value);
  return invoiceNo === undefined ? { description, amountFen, occurredOn } : { description, amountFen, occurredOn, invoiceNo };
}

/**
 * Maps an external approval event, with its instance detail, to a claim. Checks, in order: the approval code is
 * mapped, the applicant is mapped, the items field exists, and every item has a description, a valid amount
 * and a valid date. Title and descriptions pass the text policy (platform/text-policy.ts) and are returned NFC;
 * a refused text is INVALID_TEXT, so the event is REJECTED and applies nothing.
 */
export function mapToClaim(event: ExternalApprovalEvent, detail: InstanceDetail, config: MappingConfig): MappingResult {
  const found = approvalFor(config, event.platform, event.approvalCode);
  if (!found.ok) return found;
  const { approval } = found;

  const externalUserId = detail.externalUserId || event.externalUserId;
  if (!externalUserId) return fail('UNKNOWN_USER', 'the instance detail names no applicant');
  const applicantId = config.users[event.platform].get(externalUserId);
  if (applicantId === undefined) {
    return fail('UNKNOWN_USER', `${event.platform} user ${JSON.stringify(externalUserId)} is not mapped to an employee (users.${event.platform})`);
  }

  const form = detail.form;
  const container = find(form, approval.items.field);
  if (container === undefined) return fail('MISSING_FIELD', `form field ${JSON.stringify(approval.items.field)} (items.field) is missing`);
  const table = isRows(container.value);
  const rows: readonly (readonly FormField[])[] = table ? (container.value as FormField[][]) : [form];
  if (rows.length === 0) return fail('NO_ITEMS', `form field ${JSON.stringify(approval.items.field)} has no rows`);

  const items: MappedItem[] = [];
  let total = 0;
  for (const [i, row] of rows.entries()) {
    try {
      const item = readItem(row, table ? `row ${i + 1} of ${JSON.stringify(approval.items.field)}: ` : '', approval.items);
      total += item.amountFen;
      if (!Number.isSafeInteger(total)) return fail('INVALID_AMOUNT', 'the items total is too large');
      items.push(item);
    } catch (err) {
      if (err instanceof ItemError) return fail(err.code, err.message);
      throw err;
    }
  }

  const attachmentField = approval.items.attachments;
  if (attachmentField !== undefined) {
    // A column of the table feeds its row's item; a top-level field of that name feeds the first item.
    for (const [i, row] of rows.entries()) {
      const cell = table ? find(row, attachmentField) : undefined;
      if (cell && isAttachmentList(cell.value) && cell.value.files.length) items[i].attachments = [...cell.value.files];
    }
    const top = find(form, attachmentField);
    if (top && isAttachmentList(top.value) && top.value.files.length) items[0].attachments = [...(items[0].attachments ?? []), ...top.value.files];
  }

  const fromForm = approval.title === undefined ? undefined : text(find(form, approval.title)?.value);
  let title: string;
  try {
    title = policed(fromForm ?? (detail.title.trim() || event.instanceCode), 'title', TEXT_FIELDS.claimTitle, fromForm === undefined ? 'instance title: ' : `field ${JSON.stringify(approval.title)}: `);
  } catch (err) {
    if (err instanceof ItemError) return fail(err.code, err.message);
    throw err;
  }
  return {
    ok: true,
    claim: {
      source: { platform: event.platform, instanceCode: event.instanceCode, approvalCode: event.approvalCode },
      applicantId,
      category: approval.category,
      title,
      items,
      status: event.status,
      eventTime: event.eventTime,
    },
  };
}
