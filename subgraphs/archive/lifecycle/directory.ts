// The organisation as the lifecycle reads it: for approval routes (borrowing, destruction) and to check who
// someone is. It is oa's directory port (subgraphs/oa/ports.ts), handed to the archive subgraph where its process
// is assembled (scripts/archive-options.ts); the archive never reads oa's collections itself.
import type { Directory } from '../../../platform/workflow/types.ts';
import type { LifecycleServices } from './services.ts';

export const directoryOf = (svc: Pick<LifecycleServices, 'directory'>): Directory => svc.directory;
