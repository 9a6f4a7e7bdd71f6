// The organisation as the lifecycle reads it: for approval routes (borrowing, destruction) and to check who
// someone is.
import { oaModels } from '../../oa/models.ts';
import { oaDirectory } from '../../oa/organisation.ts';
import type { Connection } from 'mongoose';
import type { Directory } from '../../../platform/workflow/types.ts';
import type { LifecycleServices } from './services.ts';

/**
 * The organisation read from the OA's `departments` and `employees` collections. There is one organisation and
 * one database: the OA subgraph owns and writes these collections, the archive subgraph only reads them (for
 * approval routes and to check who someone is).
 */
export function archiveDirectory(connection: Connection): Directory {
  // The same read of the organisation the oa subgraph's workflow uses: one implementation, read-only here.
  return oaDirectory({ models: oaModels(connection) });
}

export const directoryOf = (svc: Pick<LifecycleServices, 'directory' | 'connection'>): Directory => svc.directory ?? archiveDirectory(svc.connection);
