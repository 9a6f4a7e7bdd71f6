// GraphiQL in development, served from the npm packages (react, react-dom, graphiql), never from a CDN. It is
// not mounted in production (NODE_ENV=production), where introspection is off too. Queries and mutations go over
// HTTP, subscriptions over graphql-ws (GraphiQL's bundled client, its headers as the connection's parameters). The
// headers, the token with them, are kept only when the user turns on "Persist headers" in GraphiQL's settings, and
// then in the tab's sessionStorage: closing the tab forgets them. A browser's GET /graphql (a page, no query) is sent
// here rather than answered 401.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

const ASSETS: Record<string, [module: string, type: string]> = {
  '/graphiql/react.js': ['react/umd/react.production.min.js', 'text/javascript'],
  '/graphiql/react-dom.js': ['react-dom/umd/react-dom.production.min.js', 'text/javascript'],
  '/graphiql/graphiql.js': ['graphiql/graphiql.min.js', 'text/javascript'],
  '/graphiql/graphiql.css': ['graphiql/graphiql.min.css', 'text/css'],
};

/** A file inside a package, found through its package.json (react does not export its umd/ builds). */
function fileOf(module: string): string {
  const [pkg, ...rest] = module.split('/');
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), ...rest);
}

const INIT = `const subscriptionUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
const fetcher = GraphiQL.createFetcher({ url: '/graphql', subscriptionUrl });
// GraphiQL 3 resets a stored "Persist headers" choice to its prop at every start: the prop is that choice.
const shouldPersistHeaders = sessionStorage.getItem('graphiql:shouldPersistHeaders') === 'true';
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    storage: window.sessionStorage,
    shouldPersistHeaders,
    showPersistHeadersSettings: true,
    defaultHeaders: JSON.stringify({ authorization: 'Bearer <a token from: npm run token -- --sub ID --roles ROLE>' }, null, 2),
    defaultQuery: '{ me { name roles department { name } } }',
  }),
);
`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OA ⇄ archive GraphQL</title>
<link rel="stylesheet" href="/graphiql/graphiql.css"><style>body{margin:0;height:100vh}#graphiql{height:100vh}</style></head>
<body><div id="graphiql"></div>
<script src="/graphiql/react.js"></script><script src="/graphiql/react-dom.js"></script>
<script src="/graphiql/graphiql.js"></script><script src="/graphiql/init.js"></script></body></html>`;

/** The IDE's routes, or null when the packages are not installed (production installs omit them). */
export function ideRoutes(): ((req: IncomingMessage, res: ServerResponse) => boolean) | null {
  let files: Map<string, [Buffer, string]>;
  try {
    files = new Map(Object.entries(ASSETS).map(([route, [module, type]]) => [route, [readFileSync(fileOf(module)), type]]));
  } catch {
    return null;
  }
  files.set('/graphiql/init.js', [Buffer.from(INIT), 'text/javascript']);
  files.set('/graphiql', [Buffer.from(PAGE), 'text/html; charset=utf-8']);
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (req.url === '/graphql' && /\btext\/html\b/.test(req.headers.accept ?? '')) {
      res.writeHead(302, { location: '/graphiql', 'content-length': 0 }).end();
      return true;
    }
    const file = files.get((req.url ?? '').split('?', 1)[0]);
    if (!file) return false;
    res.writeHead(200, { 'content-type': file[1], 'content-length': file[0].length, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : file[0]);
    return true;
  };
}
