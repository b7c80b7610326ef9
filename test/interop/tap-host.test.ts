/*
 * The node host's TAP hypercalls against the real Linux kernel, in a
 * network namespace of the test's own (scripts/tap-host.ts runs inside it
 * and reports what it saw):
 *
 *   network namespace rumpnet-test-<pid>-<n>
 *   ┌─────────────────────────────────────────────────────────────┐
 *   │ Linux: rnt0 10.199.0.1/24, UDP :5555 ══ TAP ══ openTap('rnt0') │
 *   └─────────────────────────────────────────────────────────────┘
 *
 * A burst from Linux arrives as one batch (one JS call per poll wake-up);
 * a batch of writes goes out in one flush; readStop holds frames in the
 * kernel's queue; the device we created goes at close, one that existed
 * stays; a device deleted under the reader is reported, not spun on; a
 * worker thread terminated while reading closes its device cleanly.
 */
import test from 'ava';

import { Netns, interopGate } from './helpers.js';

const runnable = interopGate();

test('openTap on Linux: batched reads and writes, readStop, created vs existing, busy, deleted under the reader', async (t) => {
  if (!runnable(t)) return;
  t.timeout(60_000);
  const ns = await Netns.create();
  try {
    const r = await ns.node('test/interop/scripts/tap-host.ts');
    t.is(r.status, 0, `exit ${r.status}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    t.like(out, {
      name: 'rnt0',
      created: true,
      existsWhileOpen: true,
      // 200 datagrams sent in one tick: drained in one wake-up, one JS call.
      burstFrames: 200,
      burstBatches: 1,
      burstLargestBatch: 200,
      batchesWhileStopped: 0,
      afterRestartBatches: 1,
      queuedBeforeFlush: 100,
      refused: 0,
      accepted: 100,
      received: 100,
      receivedInOrder: true,
      tooBig: false,
      // A SYN flood's share of a wake-up is bounded; what follows it still goes through.
      synDelivered: 1024,
      synShed: 476,
      udpBehindSyns: 10,
      secondOpen: 'EBUSY',
      longName: 'EINVAL',
      writeAfterClose: false,
      existsAfterClose: false,
      persistentCreated: false,
      persistentExistsAfterClose: true,
      workerDeviceGone: true,
      perFrameLengths: [43, 44, 45],
    });
    t.deepEqual(out['errors'], ['EBADF'], 'the deleted device reported once, then reading stopped');
  } finally {
    await ns.destroy();
  }
});
