// The V8 settings the engine's own process runs with (`npm run db`), applied by replacing the process with
// itself: same pid, so supervisors, kill -9 and the data directory's lock see one process.
//
// V8 sizes its young generation by the machine's memory (on 24 GiB: two semi-spaces of 64 MiB) and keeps it
// committed once grown. The engine allocates a little per row it reads, so reading a large data set grew it to
// 128 MiB resident while 13 MiB of the heap were in use. Semi-spaces of 8 MiB cost nothing measurable on inserts
// and keep the engine within ENGINE_CACHE_MB + 200 MB while it reads everything (engine/README.md, "Figures").
export const ENGINE_V8_FLAGS = ['--max-semi-space-size=8'];

/** Re-executes this process with ENGINE_V8_FLAGS unless it (or NODE_OPTIONS) already sets them. */
export function relaunchWithEngineFlags(): void {
  if (typeof process.execve !== 'function' || process.platform === 'win32') return;
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const missing = ENGINE_V8_FLAGS.filter((flag) => !given.some((g) => g.split('=')[0] === flag.split('=')[0]));
  if (missing.length === 0) return;
  process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], process.env);
}
