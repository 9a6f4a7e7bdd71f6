// What the lifecycle modules (access log, borrowing, holds, appraisal, destruction) run on: the archive services,
// the clock, and the mapping of workflow errors to GraphQL errors.
import { gqlError, today } from '../../../platform/graphql.ts';
import { WorkflowError } from '../../../platform/workflow/engine.ts';
import type { ArchiveServices } from '../context.ts';

/** What the lifecycle service functions run on: the archive services (the directory among them), plus optional overrides. */
export type LifecycleServices = ArchiveServices & {
  /** "Now" for dates and timestamps (tests pass a fake one); defaults to the system clock. */
  clock?: () => Date;
};

export const nowOf = (svc: Pick<LifecycleServices, 'clock'>): Date => (svc.clock ? svc.clock() : new Date());
/** Today's date (YYYY-MM-DD) in the business time zone. */
export const todayOf = (svc: Pick<LifecycleServices, 'clock' | 'settings'>, now: Date = nowOf(svc)): string => today(svc.settings.timeZone, now);

/** Maps errors of the workflow engine to the public error codes. */
export function fromWorkflow(err: unknown): never {
  if (err instanceof WorkflowError) throw gqlError(err.code, err.message);
  throw err;
}
