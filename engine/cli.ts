// `npm run db -- --port P --dbpath DIR`: the embedded engine alone, for tools that speak the MongoDB protocol.
// This entry only sets the process's V8 flags (re-executing itself once) before the command is loaded.
import { relaunchWithEngineFlags } from './process-flags.ts';

relaunchWithEngineFlags();
await import('./serve-cli.ts');
