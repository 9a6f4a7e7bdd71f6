// What oa lends the modules that must read it in-process: small read interfaces over oa's own models, built where
// a process is assembled (scripts/*-options.ts) and handed in, so no other module reads oa's collections or imports
// its models (docs/architecture.md, "Ownership rules").
import type { Connection } from 'mongoose';
import type { Directory } from '../../platform/workflow/types.ts';
import { type ExpenseClaimDoc, oaModels } from './models.ts';
import { oaDirectory } from './organisation.ts';

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

export interface OaPorts {
  /** The organisation (departments, managers, roles) as approval routes read it: for the archive lifecycle. */
  directory: Directory;
  /** For reconciliation in the sync service. */
  approvedClaims: ApprovedClaims;
}

export function oaPorts(connection: Connection): OaPorts {
  const models = oaModels(connection);
  return {
    directory: oaDirectory({ models }),
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
