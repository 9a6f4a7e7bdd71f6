// The headless Chromium the browser tests drive (playwright-core). In order: CHROMIUM_PATH when set, the system's
// /usr/bin/chromium (Debian's package), else the chrome-headless-shell that ships inside the npm package
// @sparticuz/chromium (a devDependency), so that `npm test` passes on a machine with only Node and the npm registry.
//
// The package's own executablePath() is written for AWS Lambda (it unpacks into the shared os.tmpdir() and its
// launch flags turn off web security, which the console's CSP tests need on); here the binary is unpacked once into
// node_modules/.cache, atomically (two test files may start at once), and launched with this project's flags.
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import { type Browser, chromium } from 'playwright-core';
import { extract } from 'tar-fs';

const SYSTEM_CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

interface Unpacked {
  executablePath: string;
  /** Extra environment: the package's own shared libraries when the system lacks one the binary needs. */
  env?: Record<string, string>;
}

/** Where @sparticuz/chromium keeps its brotli files, and its version (the cache key). */
function packageBin(): { bin: string; version: string } {
  const require = createRequire(import.meta.url);
  // The package exports only its entry (build/index.js), not its package.json.
  const root = dirname(dirname(require.resolve('@sparticuz/chromium')));
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  return { bin: join(root, 'bin'), version };
}

async function unbrotli(source: string, target: string, mode: number): Promise<void> {
  await pipeline(createReadStream(source), createBrotliDecompress(), createWriteStream(target, { mode }));
}

async function untarBrotli(source: string, targetDir: string): Promise<void> {
  await pipeline(createReadStream(source), createBrotliDecompress(), extract(targetDir));
}

/** Shared libraries the binary would not find on this system (`ldd` says "not found"). */
function missingLibraries(executable: string): string[] {
  try {
    return execFileSync('ldd', [executable], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('not found'))
      .map((line) => line.trim().split(/\s+/)[0]!);
  } catch {
    return [];
  }
}

/** Unpacks the npm package's browser into node_modules/.cache once per version; later calls reuse it. */
export async function npmChromium(): Promise<Unpacked> {
  const { bin, version } = packageBin();
  const cache = join(process.cwd(), 'node_modules', '.cache', `sparticuz-chromium-${version}`);
  if (!existsSync(join(cache, 'chromium'))) {
    const staging = `${cache}.${process.pid}.${Date.now()}`;
    mkdirSync(join(staging, 'lib'), { recursive: true });
    await unbrotli(join(bin, 'chromium.br'), join(staging, 'chromium'), 0o700);
    // Built for Amazon Linux 2023: its NSS libraries, used only where the system has none (see below).
    await untarBrotli(join(bin, 'al2023.tar.br'), join(staging, 'al2023'));
    try {
      renameSync(staging, cache);
    } catch (err) {
      // Another test file unpacked it first: use theirs.
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(join(cache, 'chromium'))) throw err;
    }
  }
  const executablePath = join(cache, 'chromium');
  if (missingLibraries(executablePath).length === 0) return { executablePath };
  const libs = join(cache, 'al2023', 'lib');
  return { executablePath, env: { LD_LIBRARY_PATH: [libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } };
}

/** Which browser the tests use and how it was found: for the error message when it does not start. */
export async function findChromium(): Promise<Unpacked & { source: string }> {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH names ${configured}, which does not exist`);
    return { executablePath: configured, source: 'CHROMIUM_PATH' };
  }
  if (existsSync(SYSTEM_CHROMIUM)) return { executablePath: SYSTEM_CHROMIUM, source: 'system' };
  return { ...(await npmChromium()), source: '@sparticuz/chromium' };
}

export async function launchBrowser(): Promise<Browser> {
  const found = await findChromium();
  try {
    return await chromium.launch({ executablePath: found.executablePath, headless: true, args: ARGS, ...(found.env ? { env: { ...process.env, ...found.env } as Record<string, string> } : {}) });
  } catch (err) {
    throw new Error(`Chromium (${found.source}, ${found.executablePath}) did not start: ${(err as Error).message}`, { cause: err });
  }
}
