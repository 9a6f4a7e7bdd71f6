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

/**
 * Keyset paging of a list sorted by `sort` (whose last key is `_id`, so the order is total): the filter of the
 * documents that come after `last` in that order. The sort keys must not be null in stored documents.
 */
export function keysetAfter(sort: Readonly<Record<string, 1 | -1>>, last: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const keys = Object.entries(sort);
  if (keys.at(-1)?.[0] !== '_id') throw new Error('keyset paging needs a sort that ends with _id');
  // (k1 beyond) or (k1 equal and k2 beyond) or …
  return {
    $or: keys.map(([key, direction], i) => ({
      ...Object.fromEntries(keys.slice(0, i).map(([k]) => [k, last[k]])),
      [key]: { [direction === 1 ? '$gt' : '$lt']: last[key] },
    })),
  };
}
