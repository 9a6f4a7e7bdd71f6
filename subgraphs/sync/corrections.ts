// ADMIN corrections of a sync job's claim presentation (issue 13): the title, item descriptions and applicant name
// the archive receives, for a job that went DEAD or FAILED on them. The claim in oa stays as approved (it is final);
// the corrections are kept on the job with who, when and why, recorded in the audit trail, and applied each time
// the job builds its ApprovedClaimInput (approved-claim.ts). Documented in docs/api.md#correcting-a-sync-job.
import { badInput } from '../../platform/graphql.ts';
import { TEXT_FIELDS, optionalText, requiredText } from '../../platform/text-policy.ts';
import type { ApprovedClaimInput } from './approved-claim.ts';
import type { SyncJobCorrectionDoc } from './models.ts';

export interface SyncJobCorrectionInput {
  title?: string | null;
  applicantName?: string | null;
  items?: { index: number; description: string }[] | null;
}

/** Most item corrections in one call (a claim has at most this many items worth correcting by hand). */
const MAX_ITEMS = 100;

/** The correction as stored: every text through the policy of oa's edge, so a correction is never refused again. */
export function checkCorrection(input: SyncJobCorrectionInput, reason: string, by: string, at: Date): SyncJobCorrectionDoc {
  const items = input.items ?? [];
  if (items.length > MAX_ITEMS) throw badInput(`at most ${MAX_ITEMS} item corrections`, 'correction.items');
  const seen = new Set<number>();
  const checkedItems = items.map((item, i) => {
    if (!Number.isInteger(item.index) || item.index < 0 || seen.has(item.index)) throw badInput(`correction.items[${i}].index must be a distinct item index`, `correction.items[${i}].index`);
    seen.add(item.index);
    return { index: item.index, description: requiredText(item.description, `correction.items[${i}].description`, TEXT_FIELDS.itemDescription) };
  });
  const doc: SyncJobCorrectionDoc = {
    title: input.title === undefined || input.title === null ? null : requiredText(input.title, 'correction.title', TEXT_FIELDS.claimTitle),
    applicantName: optionalText(input.applicantName, 'correction.applicantName', TEXT_FIELDS.name),
    items: checkedItems,
    reason: requiredText(reason, 'reason', TEXT_FIELDS.correctionReason),
    correctedBy: by,
    correctedAt: at,
  };
  if (doc.title === null && doc.applicantName === null && !doc.items.length) throw badInput('a correction changes the title, the applicant name or an item description', 'correction');
  return doc;
}

/** The fields a correction changes, for the audit trail (never their texts). */
export const correctedFields = (c: SyncJobCorrectionDoc): string[] => [
  ...(c.title !== null ? ['title'] : []),
  ...(c.applicantName !== null ? ['applicantName'] : []),
  ...c.items.map((i) => `items[${i.index}].description`),
];

/** The claim with the corrections applied, oldest first (a later one wins); an index beyond the items is refused. */
export function applyCorrections(claim: ApprovedClaimInput, corrections: readonly SyncJobCorrectionDoc[]): ApprovedClaimInput {
  let out = claim;
  for (const c of corrections) {
    for (const item of c.items) {
      if (item.index >= out.items.length) throw badInput(`correction.items: the claim has ${out.items.length} item(s), no index ${item.index}`, 'correction.items');
    }
    out = {
      ...out,
      title: c.title ?? out.title,
      applicantName: c.applicantName ?? out.applicantName,
      items: out.items.map((item, i) => ({ ...item, description: c.items.find((x) => x.index === i)?.description ?? item.description })),
    };
  }
  return out;
}
