/*
 * shmif_dumpbus and shmif_pcapin as a user runs them: arguments, output,
 * errors and exit codes. Most run in-process through main(); two run the
 * script itself, to check the entry point and the exit status.
 *
 * shmif_pcapin maps the bus through the node host (the native addon), like
 * the real tool; the bus files live in a temporary directory.
 */

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { main as dumpbusMain } from '../../bin/shmif_dumpbus.js';
import { main as pcapinMain } from '../../bin/shmif_pcapin.js';
import { PcapWriter } from '../../net/wire/pcap.js';
import { BUS_SIZE } from '../../shmif/bus.js';
import { FIXTURES, fixture, fixtureText, makeFrame } from './membus.js';

class Out {
  parts: Buffer[] = [];
  write(chunk: string | Uint8Array): boolean {
    this.parts.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    return true;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
  get text(): string {
    return this.bytes.toString('utf8');
  }
}

async function run(
  main: (argv: string[], io: { stdout: Out; stderr: Out }) => Promise<number>,
  argv: string[],
): Promise<{ code: number; stdout: Out; stderr: Out }> {
  const io = { stdout: new Out(), stderr: new Out() };
  const code = await main(argv, io);
  return { code, ...io };
}

const SMALL = join(FIXTURES, 'bus-small');
const WRAPPED = join(FIXTURES, 'bus-wrapped');
const DUMP_USAGE = 'usage: shmif_dumpbus [-h] [-p pcapfile] buspath\n';
const PCAPIN_USAGE = 'usage: shmif_pcapin pcap-file-path bus-path\n';

const tmp = mkdtempSync(join(tmpdir(), 'rumpnet-shmif-tools-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

test('shmif_dumpbus: bad arguments print the usage line and exit 1', async (t) => {
  for (const argv of [[], [SMALL, SMALL], ['-x', SMALL], ['-p'], ['-h'], ['-p', 'out.pcap']]) {
    const r = await run(dumpbusMain, argv);
    t.is(r.code, 1, argv.join(' '));
    t.is(r.stderr.text, DUMP_USAGE);
    t.is(r.stdout.text, '');
  }
});

test("shmif_dumpbus prints NetBSD's text for NetBSD's buses", async (t) => {
  for (const [bus, txt] of [[SMALL, 'bus-small.txt'], [WRAPPED, 'bus-wrapped.txt']] as const) {
    const r = await run(dumpbusMain, [bus]);
    t.is(r.code, 0);
    t.is(r.stdout.text, fixtureText(txt));
    t.is(r.stderr.text, '');
  }
});

test('shmif_dumpbus -h prints the header line only', async (t) => {
  const r = await run(dumpbusMain, ['-h', SMALL]);
  t.is(r.code, 0);
  t.is(r.stdout.text, 'bus version 3, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x06d8\n');
});

test('shmif_dumpbus -p FILE writes the pcap NetBSD wrote (all option spellings)', async (t) => {
  for (const [i, argv] of [
    (p: string) => ['-p', p, WRAPPED],
    (p: string) => [`-p${p}`, WRAPPED],
    (p: string) => ['-p', p, '--', WRAPPED],
  ].entries()) {
    const out = join(tmp, `dump-${i}.pcap`);
    const r = await run(dumpbusMain, argv(out));
    t.is(r.code, 0);
    t.is(r.stdout.text, fixtureText('bus-wrapped.txt'));
    t.true(readFileSync(out).equals(Buffer.from(fixture('bus-wrapped.pcap'))));
  }
});

test('shmif_dumpbus -p - : pcap on stdout, text on stderr', async (t) => {
  const r = await run(dumpbusMain, ['-p', '-', SMALL]);
  t.is(r.code, 0);
  t.true(r.stdout.bytes.equals(Buffer.from(fixture('bus-small.pcap'))));
  t.is(r.stderr.text, fixtureText('bus-small.txt'));
});

test('shmif_dumpbus -h with -p writes no pcap', async (t) => {
  const out = join(tmp, 'never.pcap');
  const r = await run(dumpbusMain, ['-hp', out, SMALL]);
  t.is(r.code, 0);
  t.throws(() => statSync(out), { code: 'ENOENT' });
});

test('shmif_dumpbus: unreadable file or not a bus: "shmif_dumpbus: PATH: reason", exit 1', async (t) => {
  const missing = join(tmp, 'no-such-bus');
  let r = await run(dumpbusMain, [missing]);
  t.is(r.code, 1);
  t.is(r.stderr.text, `shmif_dumpbus: ${missing}: No such file or directory\n`);
  t.is(r.stdout.text, '');

  r = await run(dumpbusMain, [tmp]);
  t.is(r.stderr.text, `shmif_dumpbus: ${tmp}: Is a directory\n`);

  const txt = join(FIXTURES, 'bus-small.txt');
  r = await run(dumpbusMain, [txt]);
  t.is(r.code, 1);
  t.is(r.stderr.text, `shmif_dumpbus: ${txt}: not a shmif bus\n`);

  const unwritable = join(tmp, 'no-such-dir', 'x.pcap');
  r = await run(dumpbusMain, ['-p', unwritable, SMALL]);
  t.is(r.code, 1);
  t.is(r.stderr.text, `shmif_dumpbus: ${unwritable}: No such file or directory\n`);
});

test('shmif_pcapin: bad arguments print the usage line and exit 1', async (t) => {
  for (const argv of [[], ['a.pcap'], ['a', 'b', 'c'], ['-x', 'a', 'b']]) {
    const r = await run(pcapinMain, argv);
    t.is(r.code, 1, argv.join(' '));
    t.is(r.stderr.text, PCAPIN_USAGE);
  }
});

test('shmif_pcapin: missing files, bad captures, non-buses: errors naming the file, exit 1', async (t) => {
  const bus = join(tmp, 'pcapin-errors-bus');
  writeFileSync(bus, '');
  const missing = join(tmp, 'missing');
  let r = await run(pcapinMain, [missing, bus]);
  t.deepEqual([r.code, r.stderr.text], [1, `shmif_pcapin: ${missing}: No such file or directory\n`]);

  const pcap = join(FIXTURES, 'bus-small.pcap');
  r = await run(pcapinMain, [pcap, missing]);
  t.deepEqual([r.code, r.stderr.text], [1, `shmif_pcapin: ${missing}: No such file or directory\n`]);
  t.throws(() => statSync(missing), { code: 'ENOENT' }, 'no bus file created');

  const raw = new PcapWriter({ linktype: 101 });
  raw.write(makeFrame(60, 1), 0, 60, 1, 0);
  const rawPath = join(tmp, 'raw.pcap');
  writeFileSync(rawPath, raw.bytes());
  r = await run(pcapinMain, [rawPath, bus]);
  t.deepEqual([r.code, r.stderr.text], [1, `shmif_pcapin: ${rawPath}: link type 101 is not Ethernet (1)\n`]);
  t.is(statSync(bus).size, 0, 'bus untouched');

  r = await run(pcapinMain, [join(FIXTURES, 'bus-small.txt'), bus]);
  t.is(r.code, 1);
  t.regex(r.stderr.text, /^shmif_pcapin: .*bus-small\.txt: not a pcap file \(magic 0x[0-9a-f]{8}\)\n$/);

  const notBus = join(tmp, 'not-a-bus');
  writeFileSync(notBus, Buffer.alloc(BUS_SIZE, 0x41));
  r = await run(pcapinMain, [pcap, notBus]);
  t.deepEqual([r.code, r.stderr.text], [1, `shmif_pcapin: ${notBus}: bus is not magical\n`]);
});

test("shmif_pcapin then shmif_dumpbus: NetBSD's capture comes back byte for byte", async (t) => {
  const bus = join(tmp, 'roundtrip-bus');
  writeFileSync(bus, ''); // an empty file: the first attacher makes it a bus
  const r = await run(pcapinMain, [join(FIXTURES, 'bus-small.pcap'), bus]);
  t.is(r.code, 0);
  t.is(r.stderr.text, '');
  // Like NetBSD's tool: the header line as found, before writing.
  t.is(r.stdout.text, 'bus version 0, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x0000\n');
  t.is(statSync(bus).size, BUS_SIZE);

  const out = join(tmp, 'roundtrip.pcap');
  const d = await run(dumpbusMain, ['-p', out, bus]);
  t.is(d.code, 0);
  t.is(d.stdout.text, fixtureText('bus-small.txt'));
  t.true(readFileSync(out).equals(Buffer.from(fixture('bus-small.pcap'))));
});

function script(name: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join('bin', name), ...args], {
    cwd: join(FIXTURES, '..', '..', '..'),
    encoding: 'utf8',
  });
}

test('the scripts run as commands: exit status and streams', (t) => {
  const ok = script('shmif_dumpbus.ts', ['-h', SMALL]);
  t.is(ok.status, 0);
  t.is(ok.stdout, 'bus version 3, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x06d8\n');
  const bad = script('shmif_dumpbus.ts', []);
  t.is(bad.status, 1);
  t.is(bad.stderr, DUMP_USAGE);
  const badIn = script('shmif_pcapin.ts', ['only-one']);
  t.is(badIn.status, 1);
  t.is(badIn.stderr, PCAPIN_USAGE);
});
