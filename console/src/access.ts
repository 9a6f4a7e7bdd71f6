// What the signed-in user may do, so the console shows only the views and buttons that will work for them. The
// gateway decides in the end (every call is checked there); this table mirrors schema/permissions.ts and
// test/console/access.test.ts fails when the two disagree.

export type Capability =
  /** Read the system: status and its history, sync jobs, alerts, every sync event (systemStatus, syncJobs, alerts). */
  | 'watch'
  /** Act on it: retry a sync job, acknowledge, resolve or act on an alert (retrySyncJob, acknowledgeAlert…). */
  | 'operate'
  /** Expense figures over every claim (expenseSummary reads all rows). */
  | 'allExpenses'
  /** Sync lag by day (syncStatistics). */
  | 'syncStatistics'
  /** The feedback of every user (feedback). */
  | 'readFeedback'
  /** Tag, close and reopen feedback (tagFeedback, closeFeedback, reopenFeedback). */
  | 'handleFeedback'
  /** Download the archive's copies of original documents by role (GET /archive/files/<id>; a borrower may too). */
  | 'downloadArchivedFiles'
  /** The months of a fiscal year and their close (accountingPeriods). */
  | 'periods';

export const CAPABILITIES: Readonly<Record<Capability, readonly string[]>> = {
  watch: ['ADMIN', 'AUDITOR'],
  operate: ['ADMIN'],
  allExpenses: ['ACCOUNTANT', 'FINANCE_DIRECTOR', 'AUDITOR'],
  syncStatistics: ['ADMIN', 'AUDITOR', 'ACCOUNTANT', 'FINANCE_DIRECTOR'],
  readFeedback: ['ADMIN', 'AUDITOR'],
  handleFeedback: ['ADMIN'],
  downloadArchivedFiles: ['ARCHIVIST', 'AUDITOR'],
  periods: ['ARCHIVIST', 'AUDITOR', 'ACCOUNTANT', 'FINANCE_DIRECTOR'],
};

/** The roles expense figures over every claim need, named where the console points a user to them. */
export const EXPENSE_ROLES = CAPABILITIES.allExpenses;

export interface Access {
  roles: readonly string[];
  can(capability: Capability): boolean;
}

export function accessOf(roles: readonly string[]): Access {
  const set = new Set(roles);
  return { roles: [...set], can: (c) => CAPABILITIES[c].some((r) => set.has(r)) };
}

/**
 * The roles the gateway gives this token: those it names together with the employee's own (the directory; `me`).
 * The token is only decoded here, not verified: the gateway verified it when `me` was answered.
 */
export function tokenRoles(token: string): string[] {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const roles = (JSON.parse(json) as { roles?: unknown }).roles;
    return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}
