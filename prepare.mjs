// npm's prepare script: compile the package into dist/ (tsconfig.build.json),
// unless dist/ was built after every source it comes from was last changed.
//
// Why not `tsc` every time: npm 11's npx runs a package's own bin by linking
// the package into its cache and running its prepare and install scripts in
// place, so the first `npx rump_server` in a checkout with a cold npx cache
// recompiled the whole package (14 s on a quiet machine, over a minute on a
// busy one) before the tool started. `npm run build` always compiles.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const stamp = join(root, 'dist/.built');
const config = join(root, 'tsconfig.build.json');

/** Newest modification time of the .ts files under `path` (a file or a folder), 0 if none. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isDirectory() ? e.name === 'node_modules' : !e.name.endsWith('.ts')) continue;
    t = Math.max(t, newest(join(path, e.name)));
  }
  return t;
}

/** Every input of the build: the tsconfigs, package.json and the roots tsconfig.build.json includes ("kern/**\/*.ts" is kern/). */
function newestInput() {
  const include = JSON.parse(readFileSync(config, 'utf8')).include;
  const roots = include.map((g) => g.replace(/\/\*\*\/\*\.ts$/, ''));
  return Math.max(...['tsconfig.json', 'tsconfig.build.json', 'package.json', ...roots].map((p) => newest(join(root, p))));
}

if (process.env.RUMPNET_REBUILD !== '1' && existsSync(stamp) && statSync(stamp).mtimeMs >= newestInput()) {
  console.log('rumpnet: dist/ is up to date (npm run build compiles anyway)');
} else {
  // The stamp takes the time the compile started: a source saved while tsc ran is newer than it.
  const started = new Date();
  const r = spawnSync('tsc', ['-p', config], { stdio: 'inherit', cwd: root, shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  writeFileSync(stamp, `${started.toISOString()}\n`);
  utimesSync(stamp, started, started);
}
