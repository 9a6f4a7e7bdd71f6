// A subgraph in production (platform/subgraph.ts) answers a caller that reaches it with a valid internal identity
// as the gateway answers clients: validation and variable errors without graphql-js's "Did you mean …?".
import { parse } from 'graphql';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { type RunningSubgraph, Subgraph } from '../../platform/subgraph.ts';
import { signedGraphql } from '../helpers/graphql.ts';

const SECRET = 'subgraph-production-test-secret-0123456789';
const typeDefs = parse(`
  enum Colour { GREEN RED }
  type Query { departments(first: Int): [String!]! paint(colour: Colour!): String! }
`);
const resolvers = { Query: { departments: () => ['HQ'], paint: (_: unknown, a: { colour: string }) => a.colour } };
const caller = { sub: 'gateway', roles: [], departmentId: null, kind: 'service' as const };
const running: RunningSubgraph[] = [];
afterAll(async () => {
  for (const r of running) await r.close();
});

async function start(production: boolean): Promise<string> {
  const subgraph = new Subgraph({ name: 'demo', typeDefs, resolvers: resolvers as never, secret: SECRET, logger: createLogger({ level: 'silent' }), production, context: () => ({}) });
  const r = await subgraph.listen(0, '127.0.0.1');
  running.push(r);
  return r.url;
}

const PROBES = [
  { query: '{ departmnts }', says: 'Cannot query field "departmnts" here.' },
  { query: '{ departments(firts: 1) }', says: 'Unknown argument "firts" on field "departments".' },
  { query: '{ paint(colour: GREN) }', says: 'Value "GREN" is not one of the allowed values.' },
  { query: 'query($c: Colour!) { paint(colour: $c) }', variables: { c: 'GREN' }, says: 'Value "GREN" is not one of the allowed values.' },
];

describe('subgraph errors in production', () => {
  it('carry no suggestions in production, and do in development', async () => {
    const [production, development] = [await start(true), await start(false)];
    for (const probe of PROBES) {
      const prod = await signedGraphql({ url: production, audience: 'demo' }, SECRET, caller, probe.query, probe.variables);
      expect(prod.errors?.[0]?.message).toContain(probe.says);
      expect(JSON.stringify(prod.errors)).not.toMatch(/did you mean/i);
      // Nor a type name the caller did not write (the variable's own type, Colour, is the caller's).
      if (!probe.variables) expect(JSON.stringify(prod.errors)).not.toMatch(/Query|Colour/);
      const dev = await signedGraphql({ url: development, audience: 'demo' }, SECRET, caller, probe.query, probe.variables);
      expect(dev.errors?.[0]?.message).toMatch(/Did you mean/);
    }
  });
});
