// The permission rules that depend only on the caller (authenticated, roles, services: schema/permissions.ts),
// decided once per operation instead of once per field of every row. graphql-shield wraps every field resolver in
// an async middleware: a 100-claim answer cost thousands of promises and a fifth of the gateway's CPU in garbage
// collection (issue 18). When every field an operation selects is allowed to the caller, it runs on the supergraph
// with only the masking of sensitive fields (still decided per record, gateway/permissions.ts); when any field would
// be refused, it runs through the shield as before, so partial results and their FORBIDDEN errors are unchanged.
import {
  type DocumentNode,
  type GraphQLSchema,
  TypeInfo,
  isAbstractType,
  isIntrospectionType,
  isObjectType,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import type { Principal } from '../platform/identity.ts';
import { callerMayUse } from '../schema/permissions.ts';
import { isPublicObjectType } from './permissions.ts';

/**
 * Whether every field of the document (every operation and fragment in it: never fewer than the one executed) is
 * allowed to the caller by the rules that depend on the caller only. Cached per parsed document and role set.
 */
export function allowsWholeOperation(schema: GraphQLSchema, document: DocumentNode, principal: Principal | null): boolean {
  const key = principal ? `${principal.kind}:${[...principal.roles].sort().join(',')}:${[...(principal.scopes ?? [])].sort().join(',')}` : 'anonymous';
  let byCaller = decided.get(document);
  if (!byCaller) decided.set(document, (byCaller = new Map()));
  const known = byCaller.get(key);
  if (known !== undefined) return known;
  let allowed = true;
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        if (!allowed) return false;
        const parent = typeInfo.getParentType();
        // Introspection (and __typename) is not the shield's: the intake and Apollo decide on it.
        if (node.name.value.startsWith('__') || (parent && isIntrospectionType(parent))) return false;
        const types = !parent ? [] : isObjectType(parent) ? [parent] : isAbstractType(parent) ? schema.getPossibleTypes(parent) : [];
        // Types the shield has no rules for (federation's plumbing) take the shielded path.
        if (!types.length || types.some((t) => !isPublicObjectType(t) || !callerMayUse(principal, t.name, node.name.value))) allowed = false;
        return undefined;
      },
    }),
  );
  byCaller.set(key, allowed);
  return allowed;
}

/** Parsed documents are reused by Apollo's document cache, so decisions are kept with them (and go with them). */
const decided = new WeakMap<DocumentNode, Map<string, boolean>>();
