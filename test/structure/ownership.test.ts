// The ownership rules (docs/architecture.md, "Ownership rules") hold for the code under subgraphs/: no import into
// another module's folder but the assembly point → sync and operations, and no other module's collection
// name in code. The checker is shown to fail on synthetic bad input, naming file, line and rule.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkOwnership, collectionOwners, formatViolation, moduleOf, readSources } from './ownership.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('ownership of modules and collections', () => {
  const sources = readSources(ROOT);

  it('holds for every file under subgraphs/', () => {
    expect(checkOwnership(sources).map(formatViolation)).toEqual([]);
  });

  it('knows the owners of the collections from the schemas themselves', () => {
    const owners = collectionOwners(sources);
    const ownerOf = (name: string) => [...(owners.get(name) ?? [])];
    expect(ownerOf('expense_claims')).toEqual(['oa']);
    // Declared through a model(name, schema, collection) call, and through a const.
    expect(ownerOf('oa_inbound_events')).toEqual(['oa']);
    expect(ownerOf('archive_access_log')).toEqual(['archive']);
    expect(ownerOf('vouchers')).toEqual(['archive']);
    expect(ownerOf('webhook_deliveries')).toEqual(['sync']);
    expect(ownerOf('audit_log')).toEqual(['operations']);
    expect(ownerOf('domain_events')).toEqual(['platform']);
    expect(moduleOf('subgraphs/sync-service.ts')).toBe('assembly');
    expect(moduleOf('subgraphs/archive/lifecycle/borrowing.ts')).toBe('archive');
  });

  it('fails on a cross-module import and on another module collection name, naming file, line and rule', () => {
    const files = new Map<string, string>([
      ['platform/integration/events.ts', `new Schema({}, { collection: 'domain_events' });\n`],
      ['subgraphs/oa/models.ts', `new Schema({}, { collection: 'expense_claims' });\nnew Schema({}, { collection: 'employees' });\n`],
      ['subgraphs/archive/models.ts', `const VOUCHERS = 'vouchers';\nnew Schema({}, { collection: VOUCHERS });\nconnection.model('Entry', entrySchema, 'archive_access_log');\n`],
      ['subgraphs/sync/webhooks/models.ts', `new Schema({}, { collection: 'webhook_deliveries' });\nnew Schema({}, { collection: 'sync_cursors' });\n`],
      ['subgraphs/operations/audit/trail.ts', `new Schema({}, { collection: 'audit_log' });\n`],
      [
        'subgraphs/sync/reconcile.ts',
        [
          `import { oaModels } from '../oa/models.ts';`,
          `// reads 'vouchers' only through the archive's port`,
          `const claims = db.collection('expense_claims');`,
          'const records = db.collection(`vouchers`);',
          `const own = db.collection('webhook_deliveries'), log = db.collection('domain_events'), at = db.collection('sync_cursors');`,
        ].join('\n'),
      ],
      [
        'subgraphs/operations/alerts/rules.ts',
        [
          `import type { SyncModels } from '../../sync/models.ts';`,
          `import { archivePorts } from '../../archive/ports.ts';`,
          `const dead = db.collection('webhook_deliveries');`,
          `const own = db.collection('audit_log');`,
          `const lazy = await import('../../oa/ports.ts');`,
          `type Served = import('../../sync-service.ts').SyncPorts;`,
        ].join('\n'),
      ],
      ['subgraphs/archive/lifecycle/directory.ts', `export { oaDirectory } from '../../oa/organisation.ts';\n`],
      // A discriminant equal to a collection name is no collection.
      ['subgraphs/archive/lifecycle/route.ts', `const steps = [{ assignees: [{ kind: 'employees', ids }] }, { kind: 'employees' as const }];\n`],
      ['subgraphs/sync-service.ts', `import { a } from './sync/index.ts';\nimport { b } from './operations/index.ts';\nimport { oaPorts } from './oa/ports.ts';\n`],
      ['subgraphs/oa/generated/graphql.ts', `import { x } from '../../archive/models.ts';\n`],
      ['subgraphs/stray.ts', `export const stray = 1;\n`],
    ]);
    expect(checkOwnership(files).map(formatViolation)).toEqual([
      `subgraphs/archive/lifecycle/directory.ts:1: cross-module import: archive imports subgraphs/oa/organisation.ts of oa`,
      `subgraphs/operations/alerts/rules.ts:1: cross-module import: operations imports subgraphs/sync/models.ts of sync`,
      `subgraphs/operations/alerts/rules.ts:2: cross-module import: operations imports subgraphs/archive/ports.ts of archive`,
      `subgraphs/operations/alerts/rules.ts:3: foreign collection: 'webhook_deliveries' is a collection of sync`,
      `subgraphs/operations/alerts/rules.ts:5: cross-module import: operations imports subgraphs/oa/ports.ts of oa`,
      `subgraphs/operations/alerts/rules.ts:6: cross-module import: operations imports subgraphs/sync-service.ts of assembly`,
      `subgraphs/stray.ts:1: unknown module: belongs to none of oa, archive, sync, operations (nor is it subgraphs/sync-service.ts)`,
      `subgraphs/sync-service.ts:3: cross-module import: assembly imports subgraphs/oa/ports.ts of oa`,
      `subgraphs/sync/reconcile.ts:1: cross-module import: sync imports subgraphs/oa/models.ts of oa`,
      `subgraphs/sync/reconcile.ts:3: foreign collection: 'expense_claims' is a collection of oa`,
      `subgraphs/sync/reconcile.ts:4: foreign collection: 'vouchers' is a collection of archive`,
    ]);
  });
});
