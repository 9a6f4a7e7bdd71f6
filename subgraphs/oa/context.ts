// What every OA resolver and service function receives for one request.
import type { Connection } from 'mongoose';
import type { EventLog } from '../../platform/integration/events.ts';
import { type Principal, type RequestOrigin, hasAnyRole } from '../../platform/identity.ts';
import { ROW_SCOPES, readsAllRows } from '../../schema/permissions.ts';
import type { WorkflowEngine } from '../../platform/workflow/engine.ts';
import type { Connectors } from './connectors/index.ts';
import type { OaLoaders } from './loaders.ts';
import type { OaModels } from './models.ts';
import type { AttachmentStore } from './attachments/store.ts';
import type { InvoiceSettings } from './attachments/invoice-support.ts';

export interface OaSettings {
  /** Claims above this amount (fen) also need a FINANCE_DIRECTOR (docs/api.md#default-route). */
  approvalThresholdFen: number;
  /** Time zone in which "today" and claim-number years are reckoned. */
  timeZone: string;
}

/** Long-lived parts shared by all requests. */
export interface OaServices {
  connection: Connection;
  models: OaModels;
  workflow: WorkflowEngine;
  events: EventLog;
  settings: OaSettings;
  /** Inbound OA platform events (Feishu, DingTalk); null when no platform is configured. */
  connectors: Connectors | null;
  /** Uploaded originals of claim items (GridFS bucket `attachments`). */
  attachments: AttachmentStore;
  /** COMPANY_TAX_ID and the invoice verification interface (./attachments/invoice-support.ts). */
  invoices: InvoiceSettings;
}

export interface OaContext extends OaServices {
  principal: Principal;
  /** Where the request came from, as the gateway signed it (requests served over HTTP have it). */
  origin?: RequestOrigin;
  loaders: OaLoaders;
}


/** Who reads every claim, from the unified model (schema/permissions.ts): its roles, services, integrations by scope. */
export const readsAllClaims = (p: Principal): boolean => readsAllRows(p, 'ExpenseClaim');
/** Roles that read the claims of their own department. */
export const readsDepartmentClaims = (p: Principal): boolean => hasAnyRole(p, ROW_SCOPES.ExpenseClaim.department);

export const EXPENSE_ROUTE_KEY = 'expense-claim';
