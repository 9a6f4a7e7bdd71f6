// Where a person or a client enters the system once it listens: the lines `npm start` and `npm run start:single`
// log as "listening". The paths are the gateway's routes (gateway/http-front.ts); the IDE only in development.
export function entryUrls(port: number, production: boolean): Record<string, string> {
  const http = `http://localhost:${port}`;
  return {
    url: http,
    api: `${http}/graphql`,
    wsUrl: `ws://localhost:${port}/graphql`,
    stream: `${http}/graphql/stream`,
    console: `${http}/console`,
    ...(production ? {} : { ide: `${http}/graphiql` }),
  };
}
