// Start-up of the archive lifecycle: its collections and indexes, and its approval routes.
import { RecordHistory } from '../history.ts';
import { AccessLog } from './access-log.ts';
import { appraisalModel } from './appraisal.ts';
import { borrowingRoute, loanModel } from './borrowing.ts';
import { ensureDestructionRoute, registerModel } from './destruction/index.ts';
import type { LifecycleServices } from './services.ts';

/**
 * Creates the lifecycle collections and indexes, adopts records filed before histories existed, and saves the `archive-borrowing` and `archive-destruction`
 * routes (no new version when unchanged). Call once at start-up, after the workflow engine's init and before
 * any transaction uses the collections.
 */
export async function initArchiveLifecycle(svc: LifecycleServices): Promise<{ borrowing: number; destruction: number | null }> {
  const history = new RecordHistory(svc.connection);
  await Promise.all([new AccessLog(svc.connection).model.init(), loanModel(svc.connection).init(), appraisalModel(svc.connection).init(), registerModel(svc.connection).init(), history.model.init()]);
  // Records filed before histories existed are adopted as found, once (subgraphs/archive/history.ts).
  await history.adopt();
  const borrowing = await svc.workflow.saveDefinition(borrowingRoute());
  const destruction = await ensureDestructionRoute(svc);
  return { borrowing: borrowing.version, destruction: destruction?.definition.version ?? null };
}
