// The vocabulary shared by the inbound OA connectors: what a platform event becomes once normalised, what
// the mapping turns it into, and the two seams the connectors depend on (instance details and the claim sink).

export const PLATFORMS = ['feishu', 'dingtalk'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** Claim statuses an external approval can move a claim to. */
export const EXTERNAL_STATUSES = ['SUBMITTED', 'APPROVED', 'REJECTED', 'WITHDRAWN'] as const;
export type ExternalStatus = (typeof EXTERNAL_STATUSES)[number];

/** The `ExpenseCategory` enum of the OA contract (docs/api.md#oa). */
export const EXPENSE_CATEGORIES = ['TRAVEL', 'MEALS', 'OFFICE', 'TRAINING', 'OTHER'] as const;
export type ExpenseCategory = (typeof EXPENSE_CATEGORIES)[number];

/**
 * One field of an approval form. A table field (Feishu `fieldList`, DingTalk `TableField`) has as value an
 * array of rows, each row itself an array of fields: `FormField[][]`.
 */
export interface FormField {
  name: string;
  value: unknown;
}

/** A platform's approval event, normalised. Neither platform's event carries the form. */
export interface ExternalApprovalEvent {
  platform: Platform;
  /** Unique per delivery subject: Feishu `uuid`/`header.event_id`; DingTalk `eventId`/`BizId` or a derived key. */
  eventId: string;
  instanceCode: string;
  approvalCode: string;
  status: ExternalStatus;
  /** When the change happened at the platform (not when we received it). */
  eventTime: Date;
  externalUserId: string | null;
  form: FormField[] | null;
}

/**
 * One file of an attachment field, as the platform names it (./details.ts): a Feishu attachmentV2 widget lists
 * download URLs valid for a limited time; a DingTalk DDAttachment lists 钉盘 files fetched through the
 * download-info API. Downloaded by ./files.ts.
 */
export type AttachmentRef =
  | { platform: 'feishu'; name: string; url: string }
  | { platform: 'dingtalk'; name: string; fileId: string; spaceId: string | null; size: number | null };

/** The value of an attachment field once normalised. */
export interface AttachmentList {
  kind: 'attachments';
  files: AttachmentRef[];
}

export const isAttachmentList = (v: unknown): v is AttachmentList =>
  typeof v === 'object' && v !== null && (v as AttachmentList).kind === 'attachments' && Array.isArray((v as AttachmentList).files);

export interface MappedItem {
  description: string;
  /** Integer fen (1 yuan = 100 fen). */
  amountFen: number;
  /** YYYY-MM-DD */
  occurredOn: string;
  invoiceNo?: string;
  /** Files the form names for this item (the mapping's items.attachments), still to download. */
  attachments?: AttachmentRef[];
  /** Ids of the downloaded files (./files.ts), bound to the claim by the sink. */
  attachmentIds?: string[];
}

/** An expense claim as the OA service should hold it after an external approval event. */
export interface MappedClaim {
  source: { platform: Platform; instanceCode: string; approvalCode: string };
  /** Our employee id. */
  applicantId: string;
  category: ExpenseCategory;
  title: string;
  items: MappedItem[];
  status: ExternalStatus;
  eventTime: Date;
}

export interface ClaimSinkResult {
  claimId: string;
  applied: boolean;
  /** 'stale' when the event is older than the last applied one for the instance; anything else otherwise. */
  reason?: string;
  /** The OA's rules refuse the claim (invalid items, an invoice already booked, a final claim): record REJECTED. */
  refused?: boolean;
}

/**
 * Implemented by the OA service. Idempotent on (platform, instanceCode); an event older than the last applied
 * eventTime for that instance answers `{ applied: false, reason: 'stale' }`.
 */
export interface ClaimSink {
  applyExternal(claim: MappedClaim): Promise<ClaimSinkResult>;
}

/** What the platform's instance-detail API tells us about an approval instance. */
export interface InstanceDetail {
  externalUserId: string;
  title: string;
  form: FormField[];
}

/** Reads approval instances from the platforms. `null`: the platform says the instance does not exist. */
export interface InstanceDetails {
  fetch(platform: Platform, instanceCode: string): Promise<InstanceDetail | null>;
}

/**
 * A request that failed authentication (bad or missing signature, stale timestamp, undecryptable body,
 * wrong receiver, wrong verification token). Answered 401; nothing is stored. `reason` is for logs only and
 * never contains secrets.
 */
export class ConnectorAuthError extends Error {
  override readonly name = 'ConnectorAuthError';
}

/** An authenticated request whose content cannot be understood (answered 400). */
export class ConnectorRequestError extends Error {
  override readonly name = 'ConnectorRequestError';
}

/**
 * What a platform request turned out to be, once authenticated.
 * - `challenge`: Feishu URL verification, answered with the challenge.
 * - `check`: DingTalk `check_url`, answered with the encrypted "success".
 * - `event`: an approval event to deliver.
 * - `ignored`: nothing to deliver (another event type, or a status without claim equivalent). When it names an
 *   approval event (`eventId` set) it is recorded as IGNORED.
 * - `invalid`: an approval event that cannot be normalised; recorded as REJECTED with the reason.
 */
export type InboundMessage =
  | { kind: 'challenge'; challenge: string }
  | { kind: 'check' }
  | { kind: 'event'; event: ExternalApprovalEvent }
  | { kind: 'ignored'; platform: Platform; reason: string; eventId?: string; instanceCode?: string; approvalCode?: string; eventTime?: Date }
  | { kind: 'invalid'; platform: Platform; reason: string; eventId: string; instanceCode: string | null; approvalCode: string | null; eventTime: Date | null };
