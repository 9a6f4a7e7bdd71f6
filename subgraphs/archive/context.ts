// What every archive resolver and service function receives for one request.
import type { Connection } from 'mongoose';
import type { EventLog } from '../../platform/integration/events.ts';
import type { Principal, RequestOrigin } from '../../platform/identity.ts';
import type { WorkflowEngine } from '../../platform/workflow/engine.ts';
import type { Directory } from '../../platform/workflow/types.ts';
import type { ArchiveLoaders } from './loaders.ts';
import type { ArchiveModels } from './models.ts';
import type { ArchiveSeals } from './seals.ts';
import type { OriginalsSource } from './originals/store.ts';
import type { CloseReadiness } from './close/periods.ts';

/** An expense claim as the archive knows it: by id (the oa subgraph owns the rest). */
export interface ClaimReference {
  id: string;
}

export interface ChartAccount {
  code: string;
  name: string;
}

export interface ArchiveSettings {
  /** 全宗号, the first part of every archive number. */
  fonds: string;
  /** The unit's name printed on its books and reports (close/); `全宗 <fonds>` when not set. */
  companyName?: string;
  /** A voucher dated in a closed period: booked in the next open one (default), or refused (close/booking.ts). */
  closedPeriodBooking?: 'NEXT_OPEN' | 'REFUSE';
  timeZone: string;
  /** Records per custody batch of a handover, and the largest register whose custody passes within its second signature (close/handover*.ts). */
  handover?: { batch?: number; inlineRecords?: number };
  /** The largest month whose documents are generated within closePeriod (close/periods.ts). */
  close?: { inlineVouchers?: number };
  /** Expense account per claim category (the debit side of a voucher). */
  expenseAccounts: Readonly<Record<string, ChartAccount>>;
  /** The payable (or bank) account credited by expense vouchers. */
  creditAccount: ChartAccount;
  financeDepartmentId: string | null;
  unitHeadId: string | null;
  itDepartmentId: string | null;
}

/** The default chart: 管理费用 sub-accounts per category, credited to 其他应付款 until paid. */
export const DEFAULT_CHART: Pick<ArchiveSettings, 'expenseAccounts' | 'creditAccount'> = {
  expenseAccounts: {
    TRAVEL: { code: '6602.01', name: '管理费用-差旅费' },
    MEALS: { code: '6602.02', name: '管理费用-业务招待费' },
    OFFICE: { code: '6602.03', name: '管理费用-办公费' },
    TRAINING: { code: '6602.04', name: '管理费用-培训费' },
    OTHER: { code: '6602.99', name: '管理费用-其他' },
  },
  creditAccount: { code: '2241', name: '其他应付款' },
};

export interface ArchiveServices {
  connection: Connection;
  models: ArchiveModels;
  workflow: WorkflowEngine;
  events: EventLog;
  settings: ArchiveSettings;
  /** The organisation, for approval routes and signatories. */
  directory: Directory;
  /** "Now" for business dates (tests pass a fake one). */
  clock?: () => Date;
  /** Seals chain heads outside the database (seals.ts); absent, nothing is sealed and verification says so. */
  seals?: ArchiveSeals;
  /** Where filed claims' original documents are copied from: oa's attachments port, handed in by the assembly. */
  originals?: OriginalsSource;
  /** Whether a month may be closed: the sync module's readiness port (subgraphs/sync/ports.ts), handed in by the assembly. */
  closeReadiness?: CloseReadiness;
  /**
   * Asks the archive's worker loop to go on with the work it runs in the background: periods being generated
   * (close/periods.ts) and registers passing custody (close/handover-transfer.ts); absent, nothing runs them.
   */
  background?: { wake(): void };
}

export interface ArchiveContext extends ArchiveServices {
  principal: Principal;
  /** Where the request came from, as the gateway signed it (requests served over HTTP have it). */
  origin?: RequestOrigin;
  loaders: ArchiveLoaders;
}

/** Where records are kept, as the four-properties check compares it. */
export const STORAGE_LOCATION = 'mongodb:archive_records';
export const PRODUCER = 'oa-archive-federation 0.1.0';
