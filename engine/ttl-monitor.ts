// The TTL monitor: documents whose TTL-indexed date is past the index's expireAfterSeconds are removed, as
// MongoDB's TTL monitor does (the engine runs it every ttlIntervalMs).
import { Access } from './access.ts';
import type { Catalog } from './catalog.ts';
import { entryFromRow } from './collection.ts';
import type { EngineLogger } from './engine-options.ts';
import { typeStart, valueKey } from './keys.ts';
import type { Store } from './store.ts';
import { toNumber } from './values.ts';

/** Removes documents whose TTL-indexed date is older than the index's expireAfterSeconds. */
export function expireTtl(store: Store, catalog: Catalog, logger: EngineLogger, now = Date.now()): number {
  let removed = 0;
  store.begin();
  try {
    const access = new Access(catalog);
    for (const coll of catalog.all()) {
      for (const index of coll.secondary()) {
        if (index.spec.expireAfterSeconds === undefined || coll.cid === undefined) continue;
        const cutoff = new Date(now - toNumber(index.spec.expireAfterSeconds) * 1000);
        // Dates sort together; an array of dates expires with its earliest, which is among its keys.
        const keys = store.reader.keys(index.iid, { lo: typeStart(cutoff), hi: valueKey(cutoff) }, undefined, 10_000);
        for (const rid of new Set(keys.map((k) => Number(k.rid)))) {
          const row = store.reader.byRowId(rid);
          if (!row) continue;
          access.delete(coll, entryFromRow(row));
          removed++;
        }
      }
    }
    store.commit();
  } catch (err) {
    store.rollback();
    catalog.reload();
    logger.warn({ err: (err as Error).message }, 'TTL monitor failed; it tries again at its next run');
    return 0;
  }
  if (removed) logger.debug({ removed }, 'TTL monitor removed expired documents');
  return removed;
}
