// Stored feedback (collection `feedback`): what a user sent about the integration, and what operators did with it.
// The claim or record it names is kept with its owner (applicant, department) as the owning subgraph answered at
// sending, so that a reference is shown only to those whose row scope covers it (resolvers.ts), as for sync events.
import type { Connection, Model, Types } from 'mongoose';
import { Schema } from 'mongoose';

export type FeedbackStatus = 'OPEN' | 'CLOSED';
export type FeedbackChangeKind = 'SENT' | 'TAGGED' | 'CLOSED' | 'REOPENED';

export interface FeedbackChangeDoc {
  kind: FeedbackChangeKind;
  at: Date;
  by: string;
  tags?: string[];
  resolution?: string | null;
}

/** Whose the referenced claim (or the record's voucher's claim) is; nulls for a record filing no voucher. */
export interface ReferenceOwnerDoc {
  applicantId: string | null;
  departmentId: string | null;
}

export interface FeedbackDoc {
  _id: Types.ObjectId;
  text: string;
  /** The sender's principal id (an employee id). */
  senderId: string;
  claimId: string | null;
  archiveRecordId: string | null;
  /** Whose the claim and the record it names are, as their subgraphs answered at sending; null: names none. */
  claimOwner: ReferenceOwnerDoc | null;
  recordOwner: ReferenceOwnerDoc | null;
  source: { page: string | null; client: string | null };
  createdAt: Date;
  status: FeedbackStatus;
  tags: string[];
  closedAt: Date | null;
  closedBy: string | null;
  resolution: string | null;
  history: FeedbackChangeDoc[];
}

const feedbackSchema = new Schema<FeedbackDoc>(
  {
    text: { type: String, required: true },
    senderId: { type: String, required: true },
    claimId: { type: String, default: null },
    archiveRecordId: { type: String, default: null },
    claimOwner: { type: Schema.Types.Mixed, default: null },
    recordOwner: { type: Schema.Types.Mixed, default: null },
    source: { type: Schema.Types.Mixed, required: true },
    createdAt: { type: Date, required: true },
    status: { type: String, required: true },
    tags: { type: [String], default: [] },
    closedAt: { type: Date, default: null },
    closedBy: { type: String, default: null },
    resolution: { type: String, default: null },
    history: { type: Schema.Types.Mixed, default: [] },
  },
  { collection: 'feedback', versionKey: false, minimize: false },
);
// Newest first (by _id, which orders like createdAt): by sender (myFeedback), status and tag; the hourly limit.
feedbackSchema.index({ senderId: 1, _id: -1 });
feedbackSchema.index({ senderId: 1, createdAt: -1 });
feedbackSchema.index({ status: 1, _id: -1 });
feedbackSchema.index({ tags: 1, _id: -1 });

export function feedbackModel(connection: Connection): Model<FeedbackDoc> {
  return (connection.models.Feedback as Model<FeedbackDoc> | undefined) ?? connection.model<FeedbackDoc>('Feedback', feedbackSchema);
}
