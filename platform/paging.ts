// Relay's PageInfo (https://relay.dev/graphql/connections.htm) as every connection of the graph answers it.
export interface PageInfoModel {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

/**
 * The PageInfo of a page read forwards (`first`/`after`): its first and last edges' cursors; a previous page exists
 * when it starts after a cursor (the cursor's own item at least), as the specification allows a server to say.
 */
export function forwardPageInfo(edges: readonly { cursor: string }[], hasNextPage: boolean, after: string | null | undefined): PageInfoModel {
  return { hasNextPage, hasPreviousPage: typeof after === 'string' && after.length > 0, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null };
}
