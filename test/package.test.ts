/*
 * The tools work from a clone without delay. npm does not link a package's
 * own bins into its own node_modules/.bin, so `npx rump_server` in a clone
 * would fetch the package into npm's cache first (and an interrupted fetch
 * breaks every later npx). A self-dependency (`"rumpnet": "file:."`) makes
 * `npm install` link the checkout as node_modules/rumpnet and its bins into
 * node_modules/.bin, so npx finds them locally; the lock records it, so a
 * clean install leaves the lock as it is.
 */
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { bin?: Record<string, string>; devDependencies?: Record<string, string>; link?: boolean; resolved?: string }>;
};

test('the package depends on itself (file:.) and the lock records the link and every bin', (t) => {
  t.is(pkg.devDependencies[pkg.name], 'file:.');
  const self = lock.packages[''];
  t.is(self?.devDependencies?.[pkg.name], 'file:.');
  // npm writes the paths without the leading ./
  const bins = Object.fromEntries(Object.entries(pkg.bin).map(([k, v]) => [k, v.replace(/^\.\//, '')]));
  t.deepEqual(self?.bin, bins, 'the lock lists the bins package.json has');
  t.deepEqual(lock.packages[`node_modules/${pkg.name}`], { resolved: '', link: true });
});

// What `npm install` made of that: only where node_modules is this checkout's own.
const linked = join(root, 'node_modules', pkg.name);
const installed = existsSync(linked) && lstatSync(linked).isSymbolicLink() && realpathSync(linked) === realpathSync(root);
const installedTest = installed ? test : test.skip;
if (!installed) {
  console.log(`package.test: skipping the npx check: ${linked} is not a link to this checkout (node_modules installed before the self-dependency, or shared); run npm install`);
}

installedTest('npx --no-install finds the tools in the checkout (node_modules/.bin), without the registry', async (t) => {
  for (const name of Object.keys(pkg.bin)) t.true(existsSync(join(root, 'node_modules/.bin', name)), `${name} linked`);
  // npm 11's npx runs a package's own bin by linking the package into its npx cache
  // (libnpmexec); an empty cache of the test's own keeps this run from meeting an entry
  // another run left half made, and shows that nothing comes from the registry (--offline).
  // npx runs the package's prepare script in place too: with dist/ built (a no-op
  // after npm install), it must not compile again (it took 14 s to over a minute).
  execFileSync('node', [join(root, 'prepare.mjs')], { cwd: root, stdio: 'ignore' });
  const built = statSync(join(root, 'dist/index.js')).mtimeMs;
  const cache = mkdtempSync(join(tmpdir(), 'rumpnet-npx-cache-'));
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const env = { ...process.env, npm_config_cache: cache };
    const child = execFile('npx', ['--no-install', '--offline', 'rump_server'], { cwd: root, env, timeout: 120_000 }, (err, _out, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr });
    });
    child.stdin?.end();
  });
  rmSync(cache, { recursive: true, force: true });
  t.is(r.code, 1);
  t.regex(r.stderr, /^usage: rump_server /m);
  t.is(statSync(join(root, 'dist/index.js')).mtimeMs, built, 'dist/ was not compiled again');
});
