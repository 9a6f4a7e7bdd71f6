// Protection of the gateway against expensive operations: depth, aliases and total field count (cost) are
// checked by a validation rule before anything executes.
import { GraphQLError, Kind, type ASTVisitor, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext } from 'graphql';

export interface Limits {
  maxDepth: number;
  maxAliases: number;
  /** Fields selected in the whole operation, fragments expanded; lists are not multiplied (page sizes are capped). */
  maxFields: number;
}

export const DEFAULT_LIMITS: Limits = { maxDepth: 12, maxAliases: 30, maxFields: 1500 };

const limitError = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

export function limitsRule(limits: Limits = DEFAULT_LIMITS) {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);

    const measure = (set: SelectionSetNode, depth: number, seen: Set<string>, acc: { depth: number; aliases: number; fields: number }) => {
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          acc.fields++;
          if (sel.alias) acc.aliases++;
          acc.depth = Math.max(acc.depth, depth);
          if (sel.selectionSet) measure(sel.selectionSet, depth + 1, seen, acc);
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
