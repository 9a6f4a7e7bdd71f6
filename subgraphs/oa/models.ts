// Mongoose models of the OA side. Money is integer fen; ids are ObjectIds exposed as hex strings.
import { type Connection, type Model, Schema, type Types } from 'mongoose';
import type { Role } from '../../platform/identity.ts';

export type ExpenseCategory = 'TRAVEL' | 'MEALS' | 'OFFICE' | 'TRAINING' | 'OTHER';
export type ClaimStatus = 'DRAFT' | 'SUBMITTED' | 'APPROVED' | 'REJECTED' | 'WITHDRAWN';
export const CATEGORIES: readonly ExpenseCategory[] = ['TRAVEL', 'MEALS', 'OFFICE', 'TRAINING', 'OTHER'];
/** Claims whose invoices count as booked. */
export const LIVE_STATUSES: readonly ClaimStatus[] = ['DRAFT', 'SUBMITTED', 'APPROVED'];

export interface DepartmentDoc {
  _id: Types.ObjectId;
  code: string;
  name: string;
  managerId: string | null;
  parentId: string | null;
  createdAt: Date;
}

export interface EmployeeDoc {
  _id: Types.ObjectId;
  employeeNo: string;
  name: string;
  departmentId: string;
  roles: Role[];
  email: string | null;
  phone: string | null;
  bankAccount: string | null;
  idNumber: string | null;
  createdAt: Date;
}

export interface ExpenseItemDoc {
  description: string;
  amountFen: number;
  occurredOn: string;
  invoiceNo: string | null;
  /** Files in the GridFS bucket `attachments` (./attachments/store.ts); absent when none. */
  attachmentIds?: string[];
}

export interface ExpenseClaimDoc {
  _id: Types.ObjectId;
  claimNo: string;
  applicantId: string;
  departmentId: string;
  title: string;
  category: ExpenseCategory;
  items: ExpenseItemDoc[];
  totalFen: number;
  status: ClaimStatus;
  approvalId: string | null;
  createdAt: Date;
  submittedAt: Date | null;
  approvedAt: Date | null;
  decidedAt: Date | null;
  /** Set for claims that arrived from an outside OA platform. */
  external: { platform: string; instanceCode: string; approvalCode: string; lastEventTime: Date } | null;
}

/** One booked invoice number: the unique _id makes double booking impossible, even under concurrency. */
export interface InvoiceBookingDoc {
  _id: string;
  claimId: string;
  claimNo: string;
}

const departmentSchema = new Schema<DepartmentDoc>(
  {
    code: { type: String, required: true, unique: true },
    name: { type: String, required: true },
    managerId: { type: String, default: null },
    parentId: { type: String, default: null },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'departments', versionKey: false },
);

const employeeSchema = new Schema<EmployeeDoc>(
  {
    employeeNo: { type: String, required: true, unique: true },
    name: { type: String, required: true },
    departmentId: { type: String, required: true, index: true },
    roles: { type: [String], default: ['EMPLOYEE'], index: true },
    email: { type: String, default: null },
    phone: { type: String, default: null },
    bankAccount: { type: String, default: null },
    idNumber: { type: String, default: null },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'employees', versionKey: false },
);

const itemSchema = new Schema<ExpenseItemDoc>(
  {
    description: { type: String, required: true },
    amountFen: { type: Number, required: true },
    occurredOn: { type: String, required: true },
    invoiceNo: { type: String, default: null },
    attachmentIds: { type: [String], default: undefined },
  },
  { _id: false },
);

const claimSchema = new Schema<ExpenseClaimDoc>(
  {
    claimNo: { type: String, required: true, unique: true },
    applicantId: { type: String, required: true, index: true },
    departmentId: { type: String, required: true, index: true },
    title: { type: String, required: true },
    category: { type: String, required: true, enum: CATEGORIES },
    items: { type: [itemSchema], required: true },
    totalFen: { type: Number, required: true },
    status: { type: String, required: true, index: true },
    approvalId: { type: String, default: null },
    createdAt: { type: Date, required: true },
    submittedAt: { type: Date, default: null },
    approvedAt: { type: Date, default: null },
    decidedAt: { type: Date, default: null },
    external: {
      type: new Schema({ platform: String, instanceCode: String, approvalCode: String, lastEventTime: Date }, { _id: false }),
      default: null,
    },
  },
  { collection: 'expense_claims', versionKey: false },
);
// Reports select approved claims by approval day (reports.ts).
claimSchema.index({ approvedAt: 1 });
// Claim lists ordered by amount (AMOUNT_DESC / AMOUNT_ASC), the _id breaking ties as the cursor does.
claimSchema.index({ totalFen: 1, _id: 1 });
claimSchema.index({ 'external.platform': 1, 'external.instanceCode': 1 }, { unique: true, partialFilterExpression: { 'external.instanceCode': { $exists: true } } });

const invoiceSchema = new Schema<InvoiceBookingDoc>(
  { _id: String, claimId: { type: String, required: true, index: true }, claimNo: { type: String, required: true } },
  { collection: 'invoice_bookings', versionKey: false },
);

export interface OaModels {
  Department: Model<DepartmentDoc>;
  Employee: Model<EmployeeDoc>;
  ExpenseClaim: Model<ExpenseClaimDoc>;
  InvoiceBooking: Model<InvoiceBookingDoc>;
}

const modelOf = <T>(connection: Connection, name: string, schema: Schema<T>): Model<T> =>
  (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);

export function oaModels(connection: Connection): OaModels {
  return {
    Department: modelOf(connection, 'Department', departmentSchema),
    Employee: modelOf(connection, 'Employee', employeeSchema),
    ExpenseClaim: modelOf(connection, 'ExpenseClaim', claimSchema),
    InvoiceBooking: modelOf(connection, 'InvoiceBooking', invoiceSchema),
  };
}
