// `npm start`: the database (embedded unless MONGODB_URI), the oa, archive and sync subgraphs (on SUBGRAPH_HOST,
// loopback by default: only the gateway calls them) and the gateway on PORT, each in a process of its own, started
// in that order and stopped in the reverse order by this supervisor (platform/supervisor.ts). It logs `listening`
// with every address once all are ready. `npm run start:single` runs the same in one process.
import { supervise, supervisorShutdownBudget } from '../platform/supervisor.ts';
import { runProcess } from './process.ts';

await runProcess(undefined, supervise, { shutdownTimeoutMs: supervisorShutdownBudget });
