// The subgraphs the gateway federates: their SDL files in this folder and their default URLs.
export interface SubgraphDefinition {
  name: 'oa' | 'archive' | 'sync';
  sdl: string[];
  /** Where `npm start` serves it by default; the gateway reads OA_URL, ARCHIVE_URL … at run time. */
  defaultUrl: string;
}

export const SUBGRAPHS: readonly SubgraphDefinition[] = [
  { name: 'oa', sdl: ['oa.graphql'], defaultUrl: 'http://127.0.0.1:4001/graphql' },
  { name: 'archive', sdl: ['archive.graphql', 'archive-lifecycle.graphql'], defaultUrl: 'http://127.0.0.1:4002/graphql' },
  { name: 'sync', sdl: ['sync.graphql', 'operations.graphql'], defaultUrl: 'http://127.0.0.1:4003/graphql' },
];
