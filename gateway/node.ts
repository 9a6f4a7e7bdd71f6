// Relay's Global Object Identification (https://relay.dev/graphql/objectidentification.htm): `node(id)` and
// `nodes(ids)` fetch the main entities again by their id alone. The ids are the ones every entity already has
// (MongoDB ObjectIds, unique across collections), so `node(id: claim.id)` is that claim: no second id format.
// The gateway adds the interface and the fields to the stitched schema; a lookup asks every entity's own query of
// its subgraph at once (`expenseClaim(id)`, `voucher(id)` …: one batched call per subgraph) under the caller's
// identity, so row scope and field rules are the subgraphs' and the shield's as for any query; the one that finds
// the id answers, and null when none does or the caller may not see it.
import { type SubschemaConfig, delegateToSchema } from '@graphql-tools/delegate';
import { type DocumentNode, GraphQLError, type GraphQLResolveInfo, concatAST, isObjectType, parse } from 'graphql';

/** The entities that implement Node, each with the query of its subgraph that reads one by id. */
export const NODE_LOOKUPS = [
  { type: 'ExpenseClaim', field: 'expenseClaim', subgraph: 'oa' },
  { type: 'Employee', field: 'employee', subgraph: 'oa' },
  { type: 'Voucher', field: 'voucher', subgraph: 'archive' },
  { type: 'ArchiveRecord', field: 'archiveRecord', subgraph: 'archive' },
  { type: 'Loan', field: 'loan', subgraph: 'archive' },
  { type: 'DestructionRegister', field: 'destructionRegister', subgraph: 'archive' },
] as const;

/** Most ids one `nodes` call takes. */
export const MAX_NODES = 100;

const NODE_SDL = `
"An object that can be fetched again by its id alone (node, nodes). Ids are unique across all types."
interface Node {
  id: ID!
}
${NODE_LOOKUPS.map((l) => `extend type ${l.type} implements Node`).join('\n')}
extend type Query {
  "The object with this id, of any type implementing Node, when the caller may read it; null otherwise."
  node(id: ID!): Node
  "The objects with these ids (at most ${MAX_NODES}), each as node(id) would give it, in the order asked."
  nodes(ids: [ID!]!): [Node]!
}
`;

interface StitchingOptions {
  subschemas: SubschemaConfig[];
  typeDefs: DocumentNode;
  resolvers?: unknown;
}

/** Which lookup found an object, for Node's type resolution. */
const foundAs = new WeakMap<object, string>();

async function lookUp(id: string, subschemas: ReadonlyMap<string, SubschemaConfig>, context: unknown, info: GraphQLResolveInfo): Promise<object | null> {
  const tries = NODE_LOOKUPS.map(async (l) => {
    const schema = subschemas.get(l.subgraph);
    const returnType = info.schema.getType(l.type);
    if (!schema || !isObjectType(returnType)) return null;
    try {
      const found: unknown = await delegateToSchema({ schema, operation: 'query' as never, fieldName: l.field, args: { id }, context: context as Record<string, unknown>, info, returnType });
      // A subgraph that refuses the id (not one of its ids, out of the caller's scope) answers null or an error.
      if (found === null || typeof found !== 'object' || found instanceof Error) return null;
      foundAs.set(found, l.type);
      return found;
    } catch {
      return null;
    }
  });
  return (await Promise.all(tries)).find((found) => found !== null) ?? null;
}

/** Adds Node, node(id) and nodes(ids) to the stitching of the supergraph (getStitchedSchemaFromSupergraphSdl's onStitchingOptions). */
export function withNodeField(options: StitchingOptions): void {
  const subschemas = new Map(options.subschemas.map((s) => [String((s as { name?: string }).name ?? '').toLowerCase(), s]));
  options.typeDefs = concatAST([options.typeDefs, parse(NODE_SDL)]);
  const own = {
    Node: { __resolveType: (obj: object) => foundAs.get(obj) ?? (obj as { __typename?: string }).__typename ?? null },
    Query: {
      node: (_: unknown, args: { id: string }, context: unknown, info: GraphQLResolveInfo) => lookUp(args.id, subschemas, context, info),
      nodes: async (_: unknown, args: { ids: string[] }, context: unknown, info: GraphQLResolveInfo) => {
        if (args.ids.length > MAX_NODES) throw new GraphQLError(`ids: at most ${MAX_NODES} at once`, { extensions: { code: 'BAD_USER_INPUT', field: 'ids' } });
        return Promise.all(args.ids.map((id) => lookUp(id, subschemas, context, info)));
      },
    },
  };
  const existing = options.resolvers;
  options.resolvers = existing === undefined ? own : Array.isArray(existing) ? [...existing, own] : [existing, own];
}
