// npm's install script: build the native addon and librumphijack.so with
// node-gyp, unless what is built is newer than every source it comes from and
// was built for this Node's ABI.
//
// Why not `node-gyp rebuild` every time: npm 11's npx runs a package's own
// bin by linking the package into its cache and running its install script
// in place, so the first `npx rump_server` in a checkout rebuilt the addon
// (17 s), and while it did the addon was missing from build/Release:
// anything loading it meanwhile (a test, a second tool) failed with EIO.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const release = join(here, 'build/Release');
const outputs = [join(release, 'rumpnet_native.node'), join(release, 'librumphijack.so')];
const stamp = join(here, 'build/node-abi');
const abi = `${process.versions.modules} ${process.platform} ${process.arch}`;

/** Every file the build reads: binding.gyp and the C/C++ sources. */
function sources() {
  const files = [join(here, 'binding.gyp')];
  for (const dir of [join(here, 'src'), join(root, 'sysproxy/native')]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (/\.(c|cc|h)$/.test(f)) files.push(join(dir, f));
  }
  return files;
}

function upToDate() {
  if (process.env.RUMPNET_REBUILD === '1') return false;
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== abi) return false;
  if (!outputs.every((f) => existsSync(f))) return false;
  const built = Math.min(...outputs.map((f) => statSync(f).mtimeMs));
  return sources().every((f) => statSync(f).mtimeMs <= built);
}

if (upToDate()) {
  console.log('rumpnet: the native addon is up to date (RUMPNET_REBUILD=1 npm install rebuilds it)');
} else {
  const r = spawnSync('node-gyp', ['rebuild', '--directory', here], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
  writeFileSync(stamp, abi);
}
