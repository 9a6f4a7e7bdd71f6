// The public client schema (schema/api.graphql): up to date with the subgraphs, free of federation internals and of
// service-only fields, compatible with the last release unless schema/CHANGELOG.md records the break, and usable by
// client codegen (the example in examples/client/, run here).
import { readFileSync } from 'node:fs';
import { generate } from '@graphql-codegen/cli';
import { MapperKind, mapSchema } from '@graphql-tools/utils';
import { GraphQLString, buildSchema, isObjectType, printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import config, { SCALARS } from '../../examples/client/codegen.ts';
import { lastRelease, readSchemaFile, recordedPaths, unrecordedBreakingChanges } from '../../scripts/api-compat.ts';
import { printApiSchema } from '../../scripts/api-schema.ts';
import { API_SCHEMA_PATH, composeSupergraph } from '../../scripts/compose.ts';
import { ruleFor } from '../../schema/permissions.ts';

const current = () => readFileSync(API_SCHEMA_PATH, 'utf8');

describe('schema/api.graphql', () => {
  it('is up to date with the subgraphs (run `npm run compose` after changing their SDL or the permission model)', () => {
    expect(current()).toBe(printApiSchema(composeSupergraph()));
  });

  it('holds what clients may call and nothing of federation or of the services', () => {
    const schema = buildSchema(current());
    const types = Object.keys(schema.getTypeMap()).filter((t) => !t.startsWith('__'));
    expect(types.filter((t) => /^(join__|link__)|^_(Service|Entity|Any)$/.test(t))).toEqual([]);
    for (const type of Object.values(schema.getTypeMap()).filter(isObjectType)) {
      for (const field of Object.keys(type.getFields())) expect(ruleFor(type.name, field)?.kind, `${type.name}.${field}`).not.toBe('services');
    }
    const mutations = Object.keys(schema.getMutationType()!.getFields());
    expect(mutations).toEqual(expect.arrayContaining(['createExpenseClaim', 'decideApproval', 'fileVoucher']));
    expect(mutations.filter((m) => ['recordAudit', 'generateVoucher', 'generateVouchers', 'fileVouchers', 'reportGateway'].includes(m))).toEqual([]);
    // Their inputs went with them.
    expect(types).not.toContain('ApprovedClaimInput');
    expect(Object.keys(schema.getSubscriptionType()!.getFields()).sort()).toEqual(['alerts', 'syncEvents']);
  });
});

describe('compatibility with the last release', () => {
  const changelog = readSchemaFile('CHANGELOG.md');
  const release = () => readSchemaFile(`releases/${lastRelease()}`);

  it('has no breaking change that schema/CHANGELOG.md does not record', async () => {
    expect(await unrecordedBreakingChanges(current(), release(), changelog)).toEqual([]);
  });

  it('fails a removed or retyped public field until the changelog names it under Unreleased', async () => {
    // Today's schema with ExpenseClaim.claimNo removed and ExpenseClaim.total made a plain String.
    const changed = printSchema(
      mapSchema(buildSchema(current()), {
        [MapperKind.OBJECT_FIELD]: (field, name, type) => (type !== 'ExpenseClaim' ? field : name === 'claimNo' ? null : name === 'total' ? { ...field, type: GraphQLString } : field),
      }),
    );
    const found = await unrecordedBreakingChanges(changed, release(), changelog);
    expect(found.map((c) => c.path).sort()).toEqual(['ExpenseClaim.claimNo', 'ExpenseClaim.total']);
    expect(found.find((c) => c.path === 'ExpenseClaim.claimNo')?.message).toMatch(/removed/i);

    const recorded = changelog.replace('## Unreleased\n', '## Unreleased\n\n- `ExpenseClaim.claimNo` removed: use `ExpenseClaim.id`.\n');
    expect((await unrecordedBreakingChanges(changed, release(), recorded)).map((c) => c.path)).toEqual(['ExpenseClaim.total']);
    // Named only under an older release, it is not recorded for this one.
    const old = changelog.replace('## 0.1.0\n', '## 0.1.0\n\n- `ExpenseClaim.total` retyped.\n');
    expect(recordedPaths(old).has('ExpenseClaim.total')).toBe(false);
    // Additions break nobody.
    const added = `${current()}\nextend type Query { newThing: String }\n`;
    expect(await unrecordedBreakingChanges(added, release(), changelog)).toEqual([]);
  });

  it('reads the newest release by version, not by name', () => {
    expect(lastRelease(['api-0.9.0.graphql', 'api-0.10.0.graphql', 'api-0.2.1.graphql', 'notes.md'])).toBe('api-0.10.0.graphql');
    expect(() => lastRelease(['notes.md'])).toThrow(/no api-X\.Y\.Z\.graphql/);
  });
});

describe('client codegen (examples/client/codegen.ts)', () => {
  it('generates typed documents from schema/api.graphql, Money, Date and DateTime as strings', async () => {
    const files = await generate({ ...config, silent: true, cwd: process.cwd() }, false);
    const graphqlTs = files.find((f: { filename: string }) => f.filename.endsWith('generated/graphql.ts'))!.content as string;
    expect(SCALARS).toEqual({ Money: 'string', Date: 'string', DateTime: 'string' });
    // The example's operations, typed: Money (total, amount), Date (occurredOn) and DateTime (submittedAt,
    // occurredAt) as strings, never any.
    const page = /^export type ClaimsPageQuery = (.*);$/m.exec(graphqlTs)![1];
    expect(page).toContain('total: string');
    expect(page).toContain('submittedAt: string | null');
    expect(page).toContain('items: Array<{ amount: string, occurredOn: string }>');
    expect(/^export type ClaimEventsSubscription = (.*);$/m.exec(graphqlTs)![1]).toContain('occurredAt: string');
    expect(graphqlTs).not.toMatch(/: any\b/);
    expect(graphqlTs).toContain('export const ClaimsPageDocument');
    expect(graphqlTs).toContain('export const ClaimEventsDocument');
    expect(graphqlTs).not.toMatch(/recordAudit|join__/);
  }, 60_000);
});
