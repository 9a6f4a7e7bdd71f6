// A webhook's GraphQL selection (docs/api.md#webhooks): a selection set on SyncEvent, e.g.
// `{ seq type claim { claimNo total } }`, whose answer each delivery carries as `data`, so a receiver need not call
// back. It runs through the gateway under the webhook's API key (an integration principal: the INTEGRATION role of
// schema/permissions.ts), with the same shield, masking and row scope as a subscriber holding that key. It is checked
// when set: against the public schema, and every field against the key's scopes, so a delivery never carries less
// than was asked without the admin having been told.
import { readFileSync } from 'node:fs';
import { type DocumentNode, type GraphQLSchema, TypeInfo, buildSchema, isObjectType, parse, validate, visit, visitWithTypeInfo } from 'graphql';
import { badInput } from '../../../platform/graphql.ts';
import { withoutSchemaDetails } from '../../../platform/apollo-http.ts';
import type { ApiScope, Principal } from '../../../platform/identity.ts';
import { callerMayUse, scopesGranting } from '../../../schema/permissions.ts';

export const MAX_SELECTION_CHARS = 4_000;
const MAX_SELECTION_TOKENS = 1_000;

let api: GraphQLSchema | undefined;
/** The public client schema (schema/api.graphql), what the selection's fields are checked against. */
const apiSchema = (): GraphQLSchema => (api ??= buildSchema(readFileSync(new URL('../../../schema/api.graphql', import.meta.url), 'utf8')));

/** The query a delivery's data comes from: the one event of seq `after` + 1 (checked by the caller), as selected. */
export const selectionQuery = (selection: string): string =>
  `query WebhookSelection($after: String!, $types: [SyncEventType!]) { syncEvents(after: $after, first: 1, types: $types) ${selection} }`;

/** The principal a selection runs as: the API key `apiKeyId` with its scopes. */
export const integrationPrincipal = (apiKeyId: string, scopes: readonly ApiScope[]): Principal => ({ sub: `apikey:${apiKeyId}`, roles: [], departmentId: null, kind: 'integration', scopes: [...scopes] });

/**
 * The selection as stored, or BAD_USER_INPUT (field `selection`) saying what is wrong: not one selection set on
 * SyncEvent, invalid against the schema, or reading a field the key's scopes do not grant.
 */
export function checkSelection(selection: unknown, scopes: readonly ApiScope[]): string {
  if (typeof selection !== 'string') throw badInput('selection must be text', 'selection');
  // events:read for the events of claims, feedback:read for feedback's: any scope that reads syncEvents.
  const readers = scopesGranting('Query', 'syncEvents');
  if (!scopes.some((s) => readers.includes(s))) throw badInput(`a selection runs under the webhook's API key, which needs the scope ${readers.join(' or ')}`, 'apiKeyId');
  const text = selection.trim();
  if (!text.startsWith('{') || !text.endsWith('}') || text.length > MAX_SELECTION_CHARS) {
    throw badInput(`selection must be one selection set on SyncEvent, like { seq type claim { claimNo total } }, of at most ${MAX_SELECTION_CHARS.toLocaleString('en')} characters`, 'selection');
  }
  let document: DocumentNode;
  try {
    document = parse(selectionQuery(text), { maxTokens: MAX_SELECTION_TOKENS });
  } catch (err) {
    throw badInput(`selection: ${(err as Error).message}`, 'selection');
  }
  // `{ seq } } query Other { … }` would close the query and start another.
  if (document.definitions.length !== 1) throw badInput('selection must be one selection set on SyncEvent', 'selection');
  const schema = apiSchema();
  const errors = validate(schema, document);
  if (errors.length) throw badInput(`selection: ${withoutSchemaDetails(errors[0].message)}`, 'selection');
  const principal = integrationPrincipal('0'.repeat(24), scopes);
  const typeInfo = new TypeInfo(schema);
  let refused: string | null = null;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const parent = typeInfo.getParentType();
        if (refused || node.name.value === '__typename' || !parent) return;
        const where = `${parent.name}.${node.name.value}`;
        if (!isObjectType(parent) || !callerMayUse(principal, parent.name, node.name.value)) refused = where;
      },
    }),
  );
  if (refused) throw badInput(`selection reads ${refused}, which the webhook's API key scopes do not grant`, 'selection');
  return text;
}
