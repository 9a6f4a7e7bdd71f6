// Run once by the `mongo-init` service of deploy/compose.yaml (mongosh --file), connected directly to mongo1.
// Idempotent: initiates the replica set rs0 only if it is not initiated yet, then waits until a primary is
// elected, so that the services depending on mongo-init find a writable database. Exit code 0 = ready.
const REPLICA_SET = 'rs0';
const MEMBERS = [
  // mongo1 is preferred as primary; any member can take over.
  { _id: 0, host: 'mongo1:27017', priority: 2 },
  { _id: 1, host: 'mongo2:27017', priority: 1 },
  { _id: 2, host: 'mongo3:27017', priority: 1 },
];
const PRIMARY_TIMEOUT_MS = 120000;

let initiated = true;
try {
  rs.status();
} catch (err) {
  if (err.codeName === 'NotYetInitialized' || err.code === 94) initiated = false;
  else throw err;
}

if (initiated) {
  print(`replica set ${REPLICA_SET} already initiated; nothing to do`);
} else {
  try {
    rs.initiate({ _id: REPLICA_SET, members: MEMBERS });
    print(`replica set ${REPLICA_SET} initiated with ${MEMBERS.map((m) => m.host).join(', ')}`);
  } catch (err) {
    // Another run got there first.
    if (err.codeName !== 'AlreadyInitialized' && err.code !== 23) throw err;
    print(`replica set ${REPLICA_SET} already initiated; nothing to do`);
  }
}

const deadline = Date.now() + PRIMARY_TIMEOUT_MS;
for (;;) {
  const hello = db.adminCommand({ hello: 1 });
  if (hello.setName === REPLICA_SET && hello.primary) {
    print(`primary: ${hello.primary}`);
    break;
  }
  if (Date.now() > deadline) {
    print(`no primary for ${REPLICA_SET} after ${PRIMARY_TIMEOUT_MS / 1000} s`);
    quit(1);
  }
  sleep(1000);
}
