// The one policy for free text at the edge of every subgraph and connector (issue 13). Text that a later step
// refuses (the archive's usability check, subgraphs/archive/four-properties/usability.ts, refuses control
// characters, unpaired surrogates, bidi controls and U+FFFD in metadata) must be refused when it is first
// entered, or the claim is approved and its sync job goes DEAD for ever.
//
// Order: the text as received is scanned (positions are 1-based code points of what the client sent), then it is
// normalised (NFC; CRLF → LF in multi-line text), trimmed, and its length counted in code points, the unit the
// archive's authenticity check counts (subgraphs/archive/four-properties/authenticity.ts). The returned string is
// what gets stored. Documented in README.md ("Text inputs") and docs/api.md#text-inputs.
import { badInput } from './graphql.ts';

/** single-line: no control character at all. multi-line: line feed and tab (and CRLF, stored as LF) only. */
export type TextKind = 'single-line' | 'multi-line';

export interface TextField {
  kind: TextKind;
  /** Most code points after NFC and trimming. */
  max: number;
}

/**
 * Every free-text input, with its kind and the length it had before this policy (kept). Names are the fields'
 * own; the comment says where each is taken.
 */
export const TEXT_FIELDS = {
  /** oa createExpenseClaim.title; a connector's claim title; archive generateVoucher title. */
  claimTitle: { kind: 'single-line', max: 200 },
  /** oa ExpenseItemInput.description; a connector's item description; archive ApprovedClaimItemInput.description. */
  itemDescription: { kind: 'multi-line', max: 500 },
  /** oa decideApproval.comment. */
  approvalComment: { kind: 'multi-line', max: 1000 },
  /** oa CreateEmployeeInput/UpdateEmployeeInput.name, CreateDepartmentInput/UpdateDepartmentInput.name; archive applicantName. */
  name: { kind: 'single-line', max: 100 },
  /** sync CreateApiKeyInput.name: the integration an API key is for. */
  integrationName: { kind: 'single-line', max: 100 },
  /** archive FileRecordInput.title. */
  recordTitle: { kind: 'single-line', max: 200 },
  /** archive readArchiveContent.purpose and LoanRequestInput.purpose. */
  purpose: { kind: 'multi-line', max: 500 },
  /** archive decideLoan.comment and signDestruction.comment. */
  archiveComment: { kind: 'multi-line', max: 1000 },
  /** archive placeHold.reason. */
  holdReason: { kind: 'multi-line', max: 500 },
  /** archive appraiseRecord.opinion. */
  appraisalOpinion: { kind: 'multi-line', max: 5000 },
  /** archive ProposeDestructionInput.reason and cancelDestruction.reason. */
  destructionReason: { kind: 'multi-line', max: 1000 },
  /** operations resolveAlert.resolution. */
  alertResolution: { kind: 'multi-line', max: 500 },
  /** sync correctSyncJob.reason. */
  correctionReason: { kind: 'multi-line', max: 500 },
  /** operations SendFeedbackInput.text. */
  feedbackText: { kind: 'multi-line', max: 4000 },
  /** operations FeedbackSourceInput.page: the page or view feedback was sent from. */
  feedbackPage: { kind: 'single-line', max: 200 },
  /** operations closeFeedback.resolution. */
  feedbackResolution: { kind: 'multi-line', max: 1000 },
} as const satisfies Record<string, TextField>;

/** A text refused by the policy; `field` is the input's name as the caller knows it (e.g. `items[0].description`). */
export class TextPolicyError extends Error {
  override readonly name = 'TextPolicyError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const hex = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

const TAG_CANCEL = 0xe007f;
const BLACK_FLAG = 0x1f3f4;
const isTag = (cp: number): boolean => cp >= 0xe0020 && cp <= 0xe007e;

/**
 * Why a code point is refused, or null. Allowed format characters (Cf) include ZWJ U+200D and ZWNJ U+200C (emoji
 * sequences, Persian and Indic scripts), the bidi marks U+200E, U+200F and U+061C (they fix the display of
 * neutral characters next to them and, unlike embeddings, overrides and isolates, reorder no run of text),
 * the soft hyphen, the word joiner, and the Arabic number signs. Private-use and unassigned code points pass.
 */
function refusal(cp: number, kind: TextKind): string | null {
  if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f)) {
    if (kind === 'multi-line' && (cp === 0x0a || cp === 0x09)) return null;
    return `the control character ${hex(cp)}`;
  }
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return `the bidirectional control ${hex(cp)}`;
  if (cp === 0x2028 || cp === 0x2029) return `the line or paragraph separator ${hex(cp)}${kind === 'multi-line' ? ' (use a line feed)' : ''}`;
  if (cp >= 0x206a && cp <= 0x206f) return `the deprecated format character ${hex(cp)}`;
  if (cp === 0xfeff) return 'the byte order mark U+FEFF';
  if (cp >= 0xfff9 && cp <= 0xfffb) return `the interlinear annotation character ${hex(cp)}`;
  if (cp === 0xfffd) return 'the replacement character U+FFFD, the mark of an earlier decoding error';
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return `the noncharacter ${hex(cp)}`;
  if (cp === 0xe0001) return 'the deprecated language tag U+E0001';
  return null;
}

/** The first refused character of `raw` and its 1-based position in code points, or null. */
function firstProblem(raw: string, kind: TextKind): string | null {
  const cps = Array.from(raw, (c) => c.codePointAt(0)!);
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i];
    const at = ` at position ${i + 1}`;
    if (cp >= 0xd800 && cp <= 0xdfff) return `an unpaired surrogate ${hex(cp)}${at}`;
    // CRLF is a line break in multi-line text (stored as LF); a lone CR is a control character.
    if (cp === 0x0d && kind === 'multi-line' && cps[i + 1] === 0x0a) continue;
    // Tag characters only inside an emoji tag sequence (🏴 + tags + U+E007F, e.g. the flag of Scotland): elsewhere
    // they are invisible text a reader never sees.
    if (cp === BLACK_FLAG && isTag(cps[i + 1] ?? 0)) {
      let j = i + 1;
      while (isTag(cps[j] ?? 0)) j++;
      if (cps[j] === TAG_CANCEL) {
        i = j;
        continue;
      }
      return `the tag character ${hex(cps[i + 1])} outside an emoji tag sequence at position ${i + 2}`;
    }
    if (isTag(cp) || cp === TAG_CANCEL) return `the tag character ${hex(cp)} outside an emoji tag sequence${at}`;
    const why = refusal(cp, kind);
    if (why) return `${why}${at}`;
  }
  return null;
}

const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/**
 * Checks and normalises one text. Returns the stored form (NFC, trimmed; multi-line with LF line breaks).
 * @throws TextPolicyError naming `field`, the problem and its position, or the allowed length.
 */
export function checkText(value: unknown, field: string, spec: TextField, required = true): string {
  if (typeof value !== 'string') throw new TextPolicyError(field, `${field} must be text`);
  const problem = firstProblem(value, spec.kind);
  if (problem) throw new TextPolicyError(field, `${field} contains ${problem}`);
  let text = value.normalize('NFC').trim();
  if (spec.kind === 'multi-line') text = text.replace(/\r\n/g, '\n');
  const length = codePoints(text);
  if ((required && length === 0) || length > spec.max) {
    throw new TextPolicyError(field, `${field} must be ${required ? 1 : 0} to ${spec.max} characters${length > spec.max ? ` (it has ${length})` : ''}`);
  }
  return text;
}

const toGraphQL = (err: unknown): unknown => (err instanceof TextPolicyError ? badInput(err.message, err.field) : err);

/** A required text input: the stored form, or BAD_USER_INPUT with `extensions.field`. */
export function requiredText(value: unknown, field: string, spec: TextField): string {
  try {
    return checkText(value, field, spec);
  } catch (err) {
    throw toGraphQL(err);
  }
}

/** An optional text input: null when absent or blank, else as requiredText. */
export function optionalText(value: unknown, field: string, spec: TextField): string | null {
  if (value === undefined || value === null) return null;
  try {
    const text = checkText(value, field, spec, false);
    return text === '' ? null : text;
  } catch (err) {
    throw toGraphQL(err);
  }
}

/** The first `max` code points of `text`, never half of a surrogate pair (for titles built from other texts). */
export function clip(text: string, max: number): string {
  return codePoints(text) <= max ? text : Array.from(text).slice(0, max).join('');
}
