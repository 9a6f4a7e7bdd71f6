// What oa lends the modules that must read it in-process: small read interfaces over oa's own models, built where
// a process is assembled (scripts/*-options.ts) and handed in, so no other module reads oa's collections or imports
// its models (docs/architecture.md, "Ownership rules").
import type { Readable } from 'node:stream';
import type { Connection } from 'mongoose';
import type { Principal } from '../../platform/identity.ts';
import { toObjectId } from '../../platform/ids.ts';
import { EventLog } from '../../platform/integration/events.ts';
import { WorkflowEngine } from '../../platform/workflow/engine.ts';
import type { Directory } from '../../platform/workflow/types.ts';
import { AttachmentStore } from './attachments/store.ts';
import { type ExpenseClaimDoc, oaModels } from './models.ts';
import { oaDirectory } from './organisation.ts';
import { claimScope } from './scope.ts';

/** An approved claim as reconciliation compares it: its number, its exact total in fen, when it was approved. */
export interface ApprovedClaimRow {
  id: string;
  claimNo: string;
  totalFen: number;
  approvedAt: Date;
}

export interface ApprovedClaims {
  /** Claims APPROVED with approvedAt in [from, to): a fiscal period, as the caller draws its bounds. */
  approvedBetween(from: Date, to: Date): Promise<ApprovedClaimRow[]>;
}

/** Whose claim it is: what a reference to it may be shown by (ROW_SCOPES.ExpenseClaim). */
export interface ClaimOwner {
  applicantId: string;
  departmentId: string;
}

export interface ClaimVisibility {
  /**
   * The claim's owner when `principal` may read the claim under oa's own row scope (subgraphs/oa/scope.ts: own,
   * department, assigned approvals); null when it does not exist or is out of scope: callers cannot tell which.
   */
  visibleTo(principal: Principal, claimId: string): Promise<ClaimOwner | null>;
}

/** An original document of a claim as oa keeps it: what it recorded at upload, and its bytes as stored now. */
export interface OriginalFile {
  id: string;
  filename: string;
  mediaType: string;
  size: number;
  /** Lower-case hex SHA-256 recorded when the upload was stored. */
  sha256: string;
  /** The claim that references it (null while it is only an upload). */
  claimId: string | null;
  stream: Readable;
}

export interface ClaimOriginals {
  /**
   * A file of the GridFS bucket `attachments` and a stream of its bytes; null when there is none. For the archive,
   * which copies a filed claim's originals into its own storage (subgraphs/archive/originals/).
   */
  open(id: string): Promise<OriginalFile | null>;
}

export interface OaPorts {
  /** For the archive: the originals of an approved claim, copied when its voucher is filed. */
  attachments: ClaimOriginals;
  /** The organisation (departments, managers, roles) as approval routes read it: for the archive lifecycle. */
  directory: Directory;
  /** For reconciliation in the sync service. */
  approvedClaims: ApprovedClaims;
  /** For feedback in the operations module: a claim it names must be the sender's to read. */
  claims: ClaimVisibility;
}

export function oaPorts(connection: Connection): OaPorts {
  const models = oaModels(connection);
  const directory = oaDirectory({ models });
  // Read only here (approvals assigned to the caller, for the claim scope): it appends no event.
  const workflow = new WorkflowEngine({ connection, directory, events: new EventLog(connection) });
  const store = new AttachmentStore(connection);
  return {
    directory,
    attachments: {
      async open(id) {
        const [file] = await store.byIds([id]);
        if (!file || !file.metadata.sha256) return null;
        const m = file.metadata;
        return { id: file._id.toHexString(), filename: m.filename, mediaType: m.mediaType, size: file.length, sha256: m.sha256, claimId: m.claimId, stream: store.bucket.openDownloadStream(file._id) };
      },
    },
    claims: {
      async visibleTo(principal, claimId) {
        const id = toObjectId(claimId);
        if (!id) return null;
        const scope = await claimScope({ principal, workflow });
        const claim = await models.ExpenseClaim.findOne({ $and: [{ _id: id }, scope] }, { applicantId: 1, departmentId: 1 }).lean<Pick<ExpenseClaimDoc, 'applicantId' | 'departmentId'>>();
        return claim ? { applicantId: claim.applicantId, departmentId: claim.departmentId } : null;
      },
    },
    approvedClaims: {
      async approvedBetween(from, to) {
        const rows = await models.ExpenseClaim.find({ status: 'APPROVED', approvedAt: { $gte: from, $lt: to } }, { claimNo: 1, totalFen: 1, approvedAt: 1 }).lean<
          Array<Pick<ExpenseClaimDoc, '_id' | 'claimNo' | 'totalFen'> & { approvedAt: Date }>
        >();
        return rows.map((c) => ({ id: c._id.toHexString(), claimNo: c.claimNo, totalFen: c.totalFen, approvedAt: c.approvedAt }));
      },
    },
  };
}
