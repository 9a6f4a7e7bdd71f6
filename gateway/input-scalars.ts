// The gateway checks Money, Date and DateTime input values as the subgraphs do, before anything is called. Its
// stitched schema otherwise takes any value for them and the subgraph refuses it after the call was planned, in
// words that name the variables of the stitched subgraph request (`$input`), not the client's. The checks are the
// subgraphs' own (platform/graphql.ts); the value goes on as the client wrote it, for the subgraph to parse.
import { type GraphQLScalarType, type GraphQLSchema, type ValueNode, isScalarType } from 'graphql';
import { DateScalar, DateTimeScalar, MoneyScalar } from '../platform/graphql.ts';

const CHECKED: readonly GraphQLScalarType[] = [MoneyScalar, DateScalar, DateTimeScalar];

/**
 * Gives the schema's scalars of those names the subgraphs' input checks, in place: the stitched schema's resolvers
 * and the schemas derived from it (shield, masking) hold these very type objects.
 */
export function checkInputScalars(schema: GraphQLSchema): GraphQLSchema {
  for (const own of CHECKED) {
    const type = schema.getType(own.name);
    if (!isScalarType(type)) continue;
    const mutable = type as { parseValue: (v: unknown) => unknown; parseLiteral: (ast: ValueNode, variables?: unknown) => unknown };
    mutable.parseValue = (value: unknown) => {
      own.parseValue(value);
      return value;
    };
    mutable.parseLiteral = (ast: ValueNode) => {
      own.parseLiteral(ast, undefined);
      return 'value' in ast ? ast.value : undefined;
    };
  }
  return schema;
}
