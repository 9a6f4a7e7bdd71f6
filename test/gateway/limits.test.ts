// Depth, alias and cost limits refuse expensive operations before anything runs.
import { getIntrospectionQuery, parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { limitsRule } from '../../gateway/limits.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../../gateway/supergraph.ts';

const schema = buildSupergraphSchema({ supergraphSdl: loadSupergraphSdl(), urls: {}, internalSecret: 'x'.repeat(40), timeoutMs: 1000 });
const errorsOf = (source: string, limits = { maxDepth: 6, maxAliases: 3, maxFields: 40 }) =>
  validate(schema, parse(source), [...specifiedRules, limitsRule(limits)]).map((e) => [e.message, e.extensions.code]);

describe('operation limits', () => {
  it('accepts an ordinary query', () => {
    expect(errorsOf('{ expenseClaims(first: 5) { edges { node { claimNo applicant { name } } } } }')).toEqual([]);
  });

  it('refuses a query deeper than allowed, also through fragments', () => {
    const deep = '{ expenseClaims { edges { node { applicant { department { manager { department { manager { id } } } } } } } } }';
    expect(errorsOf(deep)).toEqual([['The operation is 9 levels deep; at most 6 are allowed', 'BAD_USER_INPUT']]);
    const viaFragment = 'query { me { ...D } } fragment D on Employee { department { manager { department { manager { department { id } } } } } }';
    expect(errorsOf(viaFragment)).toEqual([['The operation is 7 levels deep; at most 6 are allowed', 'BAD_USER_INPUT']]);
  });

  it('does not count depth inside introspection, whose list nesting graphql bounds itself; its fields still count', () => {
    const standard = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true });
    expect(errorsOf(standard, { maxDepth: 12, maxAliases: 30, maxFields: 1500 })).toEqual([]);
    expect(errorsOf(standard, { maxDepth: 12, maxAliases: 30, maxFields: 40 })).toEqual([['The operation selects more than 40 fields', 'BAD_USER_INPUT']]);
    const typeRef = '{ __type(name: "Money") { name ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }';
    expect(errorsOf(typeRef)).toEqual([]);
    // Beside introspection, the operation's own fields are measured as always.
    expect(errorsOf(`{ __schema { queryType { name } } me { department { manager { department { manager { department { id } } } } } } }`)).toEqual([['The operation is 7 levels deep; at most 6 are allowed', 'BAD_USER_INPUT']]);
    expect(errorsOf('{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }').map(([m]) => m)).toEqual(['Maximum introspection depth exceeded']);
  });

  it('refuses too many aliases and too many fields', () => {
    expect(errorsOf('{ a: me { id } b: me { id } c: me { id } d: me { id } }')).toEqual([['The operation uses 4 aliases; at most 3 are allowed', 'BAD_USER_INPUT']]);
    const wide = `{ me { ${Array.from({ length: 45 }, () => 'id').join(' ')} } }`;
    expect(errorsOf(wide)).toEqual([['The operation selects more than 40 fields', 'BAD_USER_INPUT']]);
  });
});
