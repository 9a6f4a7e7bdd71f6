// The approved claim a sync job books, as generateVoucher takes it (ApprovedClaimInput, schema/archive.graphql).
// oa writes it into the CLAIM_APPROVED event in the approving transaction (an approved claim is final), so a job
// costs two calls to the archive and none to oa. Events appended before oa wrote that snapshot have none: their
// claims are read from oa as before, so an upgrade strands no claim.
import type { DomainEvent, EventLog } from '../../platform/integration/events.ts';
import { formatMoney, parseMoney } from '../../platform/money.ts';
import type { SyncJobDoc } from './models.ts';
import { type SubgraphCall, SubgraphCallError } from './subgraph-client.ts';

export interface ApprovedClaimInput {
  claimId: string;
  claimNo: string;
  title: string;
  category: string;
  applicantId: string;
  applicantName: string | null;
  departmentId: string;
  approvedAt: string;
  total: string;
  /** attachmentIds: the item's original documents (oa's ids), which the archive copies when it files the voucher. */
  items: { description: string; amount: string; occurredOn: string; invoiceNo: string | null; attachmentIds?: string[] }[];
}

const CLAIM_QUERY = `query SyncClaim($id: ID!) {
  expenseClaim(id: $id) {
    id claimNo title category status approvedAt total
    applicant { id name }
    department { id }
    items { description amount occurredOn invoiceNo }
  }
}`;

interface OaClaim {
  id: string;
  claimNo: string;
  title: string;
  category: string;
  status: string;
  approvedAt: string | null;
  total: string;
  applicant: { id: string; name: string | null };
  department: { id: string };
  items: { description: string; amount: string; occurredOn: string; invoiceNo: string | null }[];
}

type JobOfClaim = Pick<SyncJobDoc, 'claimId' | 'claimNo' | 'eventSeq'>;

/** The claim of a job: from its CLAIM_APPROVED event's snapshot, else from oa. */
export async function approvedClaimOf(job: JobOfClaim, events: EventLog, oa: SubgraphCall): Promise<ApprovedClaimInput> {
  const event = await events.events.findOne({ seq: job.eventSeq, type: 'CLAIM_APPROVED' }, { payload: 1, _id: 0 }).lean<Pick<DomainEvent, 'payload'>>();
  return fromSnapshot(event?.payload.claim, job.claimId) ?? (await fromOa(job, oa));
}

/** The claims of many jobs (their events read at once), in their order; a claim that cannot be had is its error. */
export async function approvedClaimsOf(jobs: readonly JobOfClaim[], events: EventLog, oa: SubgraphCall): Promise<Array<ApprovedClaimInput | Error>> {
  const found = await events.events.find({ seq: { $in: jobs.map((j) => j.eventSeq) }, type: 'CLAIM_APPROVED' }, { seq: 1, payload: 1, _id: 0 }).lean<Pick<DomainEvent, 'seq' | 'payload'>[]>();
  const bySeq = new Map(found.map((e) => [e.seq, e.payload]));
  return Promise.all(
    jobs.map(async (job) => {
      try {
        return fromSnapshot(bySeq.get(job.eventSeq)?.claim, job.claimId) ?? (await fromOa(job, oa));
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    }),
  );
}

const isText = (v: unknown): v is string => typeof v === 'string';
const isFen = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** The snapshot as the input, amounts formatted from integer fen; null when there is none (or it is not one). */
export function fromSnapshot(snapshot: unknown, claimId: string): ApprovedClaimInput | null {
  if (!snapshot || typeof snapshot !== 'object') return null;
  const s = snapshot as Record<string, unknown>;
  const items = Array.isArray(s.items) ? (s.items as Record<string, unknown>[]) : null;
  const valid =
    s.claimId === claimId &&
    [s.claimNo, s.title, s.category, s.applicantId, s.departmentId, s.approvedAt].every(isText) &&
    (s.applicantName === null || isText(s.applicantName)) &&
    isFen(s.totalFen) &&
    items !== null &&
    items.every(
      (i) =>
        i && isText(i.description) && isFen(i.amountFen) && isText(i.occurredOn) && (i.invoiceNo === null || isText(i.invoiceNo)) &&
        (i.attachmentIds === undefined || (Array.isArray(i.attachmentIds) && i.attachmentIds.every(isText))),
    );
  if (!valid) return null;
  return {
    claimId,
    claimNo: s.claimNo as string,
    title: s.title as string,
    category: s.category as string,
    applicantId: s.applicantId as string,
    applicantName: s.applicantName as string | null,
    departmentId: s.departmentId as string,
    approvedAt: s.approvedAt as string,
    total: formatMoney(s.totalFen as number),
    items: items!.map((i) => ({
      description: i.description as string,
      amount: formatMoney(i.amountFen as number),
      occurredOn: i.occurredOn as string,
      invoiceNo: i.invoiceNo as string | null,
      ...(Array.isArray(i.attachmentIds) && i.attachmentIds.length ? { attachmentIds: i.attachmentIds as string[] } : {}),
    })),
  };
}

async function fromOa(job: Pick<SyncJobDoc, 'claimId' | 'claimNo'>, oa: SubgraphCall): Promise<ApprovedClaimInput> {
  const { expenseClaim: c } = await oa<{ expenseClaim: OaClaim | null }>(CLAIM_QUERY, { id: job.claimId });
  if (!c) throw new SubgraphCallError(`claim ${job.claimNo || job.claimId} not found in OA`, false);
  if (c.status !== 'APPROVED' || !c.approvedAt) throw new SubgraphCallError(`claim ${c.claimNo} is ${c.status}, not APPROVED`, false);
  return {
    claimId: c.id,
    claimNo: c.claimNo,
    title: c.title,
    category: c.category,
    applicantId: c.applicant.id,
    applicantName: c.applicant.name,
    departmentId: c.department.id,
    approvedAt: c.approvedAt,
    // Re-formatted through the exact parser: what OA sent must be a valid amount to the fen.
    total: formatMoney(parseMoney(c.total)),
    items: c.items.map((i) => ({ description: i.description, amount: i.amount, occurredOn: i.occurredOn, invoiceNo: i.invoiceNo })),
  };
}
