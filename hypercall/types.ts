/*
 * The hypercall interface: everything a rump kernel may ask of its host.
 *
 * Like NetBSD's rumpuser(3), this is the only door out of the kernel. Two hosts
 * implement it: `node` (real clock, real files, the native addon) and `sim`
 * (a virtual clock, seeded randomness, in-memory bus files). Code above
 * hypercall/ never reads a clock, arms a host timer or draws randomness itself.
 */

/** A timer armed on the host; cancel it with `Hypercall.cancelTimer`. */
export interface HostTimer {
  readonly deadline: number;
}

/**
 * A mapping of a shmif bus file. `bytes` views the whole file (1 MiB); stores
 * through it are visible to every other mapping of the same file, in this
 * process or another one.
 */
export interface BusMapping {
  /** Path the caller gave (for messages and `ifconfig` output). */
  readonly path: string;
  /** The mapped file, shared. */
  readonly bytes: Uint8Array;
  /** Atomic compare-and-swap of the u32 at byte offset `off` (4-aligned). Returns the old value. */
  cas32(off: number, expect: number, value: number): number;
  /** Atomic store of the u32 at `off`, with a full barrier before it. */
  store32(off: number, value: number): void;
  /**
   * Wake every reader of this bus: in one process, call their wake-up hooks
   * directly (deferred, never re-entrantly); across processes, the 4-byte
   * file write at offset 4 that inotify reports.
   */
  wakeup(): void;
  /** Register `fn` to run (deferred) whenever another writer wakes the bus. Returns an unsubscribe function. */
  watch(fn: () => void): () => void;
  /** Unmap. Idempotent. */
  close(): void;
}

/**
 * One batch of frames read from a TAP device, packed back to back: frame i
 * is `bytes[off, off + lengths[i])` where `off` is the sum of the lengths
 * before it. The object and its buffers are the device's own and are reused
 * for the next batch: valid only during the `onFrames` call, so copy what
 * you keep (the driver copies each frame into a packet buffer).
 */
export interface TapBatch {
  readonly bytes: Uint8Array;
  readonly lengths: Uint32Array;
  /** Frames in this batch (at least 1). */
  count: number;
  /**
   * Bare SYNs the host read and dropped since the last batch, over its
   * per-wake-up SYN budget (the node host's reader; 0 or absent elsewhere).
   */
  shed?: number;
}

export interface TapOpenOptions {
  /**
   * Runs on the host's event loop with every batch of frames the host sent
   * into the device, once per batch (the node host drains the fd on each
   * poll wake-up into one batch). Must not throw.
   */
  onFrames(batch: TapBatch): void;
  /**
   * The device failed under the reader (it was deleted, its namespace went
   * away): `code` is the errno name (`EBADF` when it was deleted, `EIO`). Reading has stopped;
   * the device is still to be closed.
   */
  onError(code: string): void;
  /**
   * Open with the 12-byte virtio-net header (Linux IFF_VNET_HDR, struct
   * virtio_net_hdr_v1, little-endian) in front of every frame both ways,
   * for checksum and segmentation offload. The device's `vnetHdrLen` says
   * whether the host gave it (0: plain frames).
   */
  vnetHdr?: boolean;
}

/** TUNSETOFFLOAD bits (linux/if_tun.h): offloaded frames the reader accepts. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;

/**
 * An open host TAP device (Linux: /dev/net/tun with IFF_TAP | IFF_NO_PI):
 * bare Ethernet frames in both directions, no packet-information header.
 *
 * Reading starts with `readStart` and stops with `readStop` (frames the host
 * sends meanwhile wait in its queue, which drops the oldest ones when full).
 * While reading, the device keeps a node process alive, as an open socket
 * does. Writes are batched: `write` queues a copy of a frame, `flush` hands
 * the queued frames to the host in one call (one write(2) per frame there:
 * a TAP fd takes exactly one frame per write).
 */
export interface TapDevice {
  /** The host's name for the device (what `ip link` shows). */
  readonly name: string;
  /**
   * True when this open created the device: it is removed again at `close`.
   * False when it existed before (a persistent device made with
   * `ip tuntap add`): `close` leaves it in place.
   */
  readonly created: boolean;
  /**
   * Bytes of virtio-net header in front of every frame read and written
   * (12), or 0 when the device was opened without one.
   */
  readonly vnetHdrLen: number;
  /** Which offloaded frames the host may hand us (TUN_F_* bits; TUNSETOFFLOAD). Throws a host error. */
  setOffload(flags: number): void;
  /**
   * Queue a copy of the frame `buf[off, off + len)`; when the queue is full
   * it is flushed first. False when the frame was not queued: the device is
   * closed, or the frame is longer than a TAP frame can be (65535 + 14).
   */
  write(buf: Uint8Array, off: number, len: number): boolean;
  /**
   * Hand the queued frames to the host now. Returns how many of them the
   * host refused (its queue was full, the device went away); they are gone.
   */
  flush(): number;
  /** Frames queued and not yet flushed. */
  readonly queued: number;
  /** Start delivering received frames to `onFrames`. Idempotent. */
  readStart(): void;
  /** Stop delivering. Idempotent. */
  readStop(): void;
  /** Stop reading, drop unflushed frames and close the device. Idempotent. */
  close(): void;
}

/** Bootstrap parameters after validation (rumpkernel(7)). */
export interface BootParams {
  /** hw.ncpu */
  readonly ncpu: number;
  readonly verbose: boolean;
  /** Bytes, or `Infinity` for no limit. */
  readonly memlimit: number;
}

export interface Hypercall {
  /** `node` or `sim`. */
  readonly kind: 'node' | 'sim';

  /** Monotonic milliseconds (fractional) since the host was created. */
  now(): number;

  /** Run `fn` at host time `deadline` (ms, same clock as `now`). */
  armTimer(deadline: number, fn: () => void): HostTimer;
  cancelTimer(t: HostTimer): void;
  /**
   * Run `fn(arg)` soon, after the current call stack, in order with other
   * deferred work (a softint). No closure needed on the hot path.
   */
  defer<T>(fn: (arg: T) => void, arg: T): void;

  /**
   * A byte array of `n` bytes that the caller overwrites in full before
   * anyone reads it: the node host skips zeroing it (Node's
   * Buffer.allocUnsafe), which for a 256 KiB read costs as much as copying
   * the data in. Never hand out such an array before it is overwritten.
   */
  allocUninit(n: number): Uint8Array;

  /** A uniformly distributed unsigned 32-bit integer. */
  random32(): number;
  /** Fill `buf` with random bytes. */
  randomFill(buf: Uint8Array): void;

  /** A bootstrap parameter (RUMP_NCPU, RUMP_VERBOSE, RUMP_MEMLIMIT, ...), or undefined. */
  getparam(name: string): string | undefined;
  /** The host's available parallelism, for `RUMP_NCPU=host`. */
  hostNcpu(): number;
  /** The host's name, for `kern.hostname` (`rump-PID.HOST`). */
  hostName(): string;
  /** The host process id. */
  pid(): number;

  /**
   * Keep the host process running until the returned function is called
   * (idempotent). Kernel timers and bus watches do not keep a Node process
   * alive by themselves, so that an idle kernel lets its process exit; a
   * listening server or an open socket holds the host, the way Node's own
   * handles do until `unref()`. The sim host only counts holds (leak checks).
   */
  hold(): () => void;

  /** Print a kernel message (RUMP_VERBOSE, panics, diagnostics). */
  log(msg: string): void;

  /**
   * Map the bus file at `path` (created if missing, sized to `size`).
   * Throws an `Error` with a `code` (`ENOENT`, `EACCES`, ...) when it cannot.
   */
  mapBus(path: string, size: number): BusMapping;

  /**
   * Open the host TAP device `name` (1 to 15 characters), creating it when
   * it does not exist. Throws an `Error` with a `code` and `syscall`:
   * `EPERM` (creating a device needs CAP_NET_ADMIN), `EACCES` (the user may
   * not open /dev/net/tun), `EBUSY` (another process has the device open),
   * `EINVAL` (a bad name, or a device of that name that is not a TAP),
   * `ENOENT` (no /dev/net/tun: the tun driver is missing), `ENOTSUP` (not
   * Linux).
   */
  openTap(name: string, opts: TapOpenOptions): TapDevice;
}
