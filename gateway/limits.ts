// Protection of the gateway against expensive operations: depth, aliases and total field count (cost) are
// checked by a validation rule before anything executes. Depth is not counted inside `__schema` and `__type`: the
// standard introspection query (graphql's getIntrospectionQuery, what GraphiQL and codegen send) is 13 to 15 levels
// deep through its `ofType` chain, and introspection's own danger, lists nested through `fields`, `interfaces`,
// `possibleTypes` and `inputFields`, is bounded by graphql's MaxIntrospectionDepthRule (in specifiedRules, which
// every transport runs). Its fields and aliases still count. Production refuses introspection altogether.
import { GraphQLError, Kind, type ASTVisitor, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext } from 'graphql';

export interface Limits {
  maxDepth: number;
  maxAliases: number;
  /** Fields selected in the whole operation, fragments expanded; lists are not multiplied (page sizes are capped). */
  maxFields: number;
}

export const DEFAULT_LIMITS: Limits = { maxDepth: 12, maxAliases: 30, maxFields: 1500 };

/** The fields that enter introspection (graphql's __schema and __type meta-fields, on the query root only). */
const INTROSPECTION_ROOTS = new Set(['__schema', '__type']);

/**
 * Production refuses introspection with one error per operation (graphql's NoSchemaIntrospectionCustomRule reports
 * every introspection field, hundreds for the standard query), in the same words on every transport.
 */
export function noIntrospectionRule(context: ValidationContext): ASTVisitor {
  let reported = false;
  return {
    Field(node) {
      if (reported || !INTROSPECTION_ROOTS.has(node.name.value)) return;
      reported = true;
      context.reportError(new GraphQLError('Introspection is off in production', { nodes: node, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }));
    },
  };
}

const limitError = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

export function limitsRule(limits: Limits = DEFAULT_LIMITS) {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);

    /** `depth` is null inside introspection, where it is not counted. */
    const measure = (set: SelectionSetNode, depth: number | null, seen: Set<string>, acc: { depth: number; aliases: number; fields: number }) => {
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          acc.fields++;
          if (sel.alias) acc.aliases++;
          const introspection = depth === null || INTROSPECTION_ROOTS.has(sel.name.value);
          if (!introspection) acc.depth = Math.max(acc.depth, depth);
          if (sel.selectionSet) measure(sel.selectionSet, introspection ? null : depth + 1, seen, acc);
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          measure(sel.selectionSet, depth, seen, acc);
        } else {
          const frag = fragments.get(sel.name.value);
          // A fragment spread inside itself is reported by graphql's own rules; don't loop on it here.
          if (frag && !seen.has(frag.name.value)) measure(frag.selectionSet, depth, new Set([...seen, frag.name.value]), acc);
        }
        if (acc.fields > limits.maxFields) return;
      }
    };

    return {
      OperationDefinition(node) {
        const acc = { depth: 0, aliases: 0, fields: 0 };
        measure(node.selectionSet, 1, new Set(), acc);
        if (acc.depth > limits.maxDepth) context.reportError(limitError(`The operation is ${acc.depth} levels deep; at most ${limits.maxDepth} are allowed`));
        if (acc.aliases > limits.maxAliases) context.reportError(limitError(`The operation uses ${acc.aliases} aliases; at most ${limits.maxAliases} are allowed`));
        if (acc.fields > limits.maxFields) context.reportError(limitError(`The operation selects more than ${limits.maxFields} fields`));
      },
    };
  };
}
