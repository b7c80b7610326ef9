/*
 * A short seeded run of every fuzz target (fuzz/, `npm run fuzz` for long
 * runs), so CI feeds each input path a few hundred mutated inputs: no
 * exception may escape, and at the end of each round nothing may be leaked
 * and the interface's counters must agree with what was delivered. The
 * harness itself is tested too: it must see a crash (and name the input),
 * a leaked packet buffer, and replay the same inputs from the same seed.
 */
import test from 'ava';
import { Rng, fixChecksums, mutate } from '../../fuzz/engine.js';
import { openNet } from '../../fuzz/net.js';
import { runTarget, type Target } from '../../fuzz/target.js';
import { TARGETS } from '../../fuzz/targets.js';
import { inCksum } from '../../net/wire/cksum.js';

const INPUTS = 400;

for (const t of TARGETS) {
  test(`fuzz target ${t.name}: ${INPUTS} inputs from seed 1, nothing escapes or leaks`, async (tt) => {
    const r = await runTarget(t, { seed: 1, inputs: INPUTS, round: 200 });
    tt.is(r.inputs, INPUTS);
    tt.deepEqual(r.findings.map((f) => `${f.kind}: ${f.message}${f.input ? ` input ${f.input}` : ''}`), []);
  });
}

test('the engine is deterministic per seed and mutates', (t) => {
  const corpus = [new Uint8Array(64).fill(7), new Uint8Array(20).fill(1)];
  const run = (seed: number): string[] => {
    const rng = new Rng(seed);
    return Array.from({ length: 200 }, () => Buffer.from(mutate(rng, corpus, 100)).toString('hex'));
  };
  t.deepEqual(run(5), run(5));
  t.notDeepEqual(run(5), run(6));
  const a = run(5);
  t.true(a.every((x) => x.length <= 200), 'no input longer than maxLen');
  t.true(new Set(a).size > 150, 'inputs differ from each other');
});

test('fixChecksums makes a mutated IPv4 header checksum right again', (t) => {
  const f = new Uint8Array(14 + 28);
  f[12] = 0x08;
  f[14] = 0x45;
  f[17] = 28;
  f[23] = 17;
  f[35] = 0x99; // a wrong header checksum
  fixChecksums(f);
  t.is(inCksum(f, 14, 20), 0);
});

test('a crash is found and its input named', async (t) => {
  const crashing: Target = {
    name: 'planted',
    async open() {
      return {
        corpus: [Uint8Array.of(1, 2, 3, 4)],
        maxLen: 16,
        feed(x) {
          if (x.includes(0xff)) throw new TypeError('planted crash');
        },
        batchEnd: async () => {},
        close: async () => [],
      };
    },
  };
  const r = await runTarget(crashing, { seed: 3, inputs: 2000, round: 500 });
  t.true(r.findings.length > 0);
  const f = r.findings[0]!;
  t.is(f.kind, 'crash');
  t.regex(f.message, /planted crash/);
  t.true(Buffer.from(f.input!, 'hex').includes(0xff), 'the named input is the one that crashes');
});

test('a leaked packet buffer in the kernel under test fails the round', async (t) => {
  const leaking: Target = {
    name: 'leak',
    async open(seed) {
      const s = await openNet('udp', seed);
      let leaked = false;
      return {
        ...s,
        feed(x) {
          s.feed(x);
          // What a forgotten m_freem in an input path leaves behind.
          if (!leaked) leaked = s.kernel!.mbufs.get(64) !== null;
        },
      };
    },
  };
  const r = await runTarget(leaking, { seed: 1, inputs: 50, round: 50 });
  t.true(r.findings.some((f) => f.kind === 'invariant' && /kernel B leaked/.test(f.message)), JSON.stringify(r.findings));
});
