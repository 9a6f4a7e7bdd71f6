// Container health checks for deploy/compose.yaml. Plain ESM (no tsx), so a check starts in tens of
// milliseconds. Exit code 0 = healthy, 1 = not; one line of reason on stderr.
//
//   node deploy/healthcheck.mjs http://127.0.0.1:4000/healthz
//       GET; healthy on HTTP 200. For the gateway, whose /healthz and /readyz are unauthenticated.
//
//   node deploy/healthcheck.mjs --signed oa http://127.0.0.1:4001/graphql
//       For a subgraph process (oa, archive, sync: the subgraph's name, the audience of the identity). Subgraph
//       processes have NO unauthenticated health route: every request to /graphql must carry an identity signed
//       with INTERNAL_SECRET for that subgraph and that body, and any other path is 404. So this does what the
//       gateway's own readiness check does (gateway/directory.ts, subgraphReachable): POST `{ __typename }` with
//       an `x-internal-identity` minted by platform/identity.ts (the one module that makes identities; Node 24
//       loads it without tsx, by type stripping), and healthy on HTTP 200 with data.__typename. A subgraph process listens only after its database start-up
//       (connection, indexes, workflow definitions) finished, so an answer also means that start-up succeeded.
//       INTERNAL_SECRET comes from the container's own environment and is never printed.
const TIMEOUT_MS = 3000;
const args = process.argv.slice(2);
const signed = args[0] === '--signed';
const audience = signed ? args[1] : undefined;
const url = signed ? args[2] : args[0];

function fail(reason) {
  process.stderr.write(`unhealthy: ${reason}\n`);
  process.exit(1);
}

if (!url) fail('usage: node deploy/healthcheck.mjs URL | --signed oa|archive|sync URL');

try {
  let res;
  if (signed) {
    const secret = process.env.INTERNAL_SECRET;
    if (!secret) fail('INTERNAL_SECRET is not set in this container');
    const { identityHeaders, servicePrincipal } = await import('../platform/identity.ts');
    const body = '{"query":"{ __typename }"}';
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await identityHeaders(servicePrincipal('healthcheck'), secret, { audience, method: 'POST', body })) },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (res.status !== 200) fail(`${url} answered HTTP ${res.status}`);
    const json = await res.json();
    if (typeof json?.data?.__typename !== 'string') fail(`${url} answered without data.__typename`);
  } else {
    res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (res.status !== 200) fail(`${url} answered HTTP ${res.status}`);
    await res.body?.cancel();
  }
  process.exit(0);
} catch (err) {
  fail(`${url}: ${err instanceof Error ? err.message : String(err)}`);
}
