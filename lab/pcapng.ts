/*
 * A small pcapng writer (draft-ietf-opsawg-pcapng): one Section Header
 * Block, an Interface Description Block per interface (written when the
 * interface is added, before any packet names it), and an Enhanced Packet
 * Block per frame with an optional comment and direction. Little-endian,
 * microsecond timestamps (if_tsresol's default, so no option is written for
 * it). Nothing here reads a clock: the caller gives each timestamp.
 *
 *   const w = new PcapngWriter('rumpnet lab');
 *   const id = w.addInterface('a/eth0', 'host a, interface eth0');
 *   w.packet(id, timeUs, buf, off, len, 'a/eth0', EPB_OUTBOUND);
 *   writeFileSync('lab.pcapng', w.bytes());
 */

/** LINKTYPE_ETHERNET. */
export const LINKTYPE_ETHERNET = 1;
/** epb_flags direction bits (§4.3.1): inbound 01, outbound 10. */
export const EPB_INBOUND = 1;
export const EPB_OUTBOUND = 2;

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const EPB_FLAGS = 2;

const utf8 = new TextEncoder();
const pad4 = (n: number): number => (n + 3) & ~3;
/** One option's bytes: code, length, value, padding to 32 bits. */
const optLen = (valueLen: number): number => 4 + pad4(valueLen);

/** Appends blocks to a list of chunks; `bytes()` joins them. */
export class PcapngWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  private interfaces = 0;

  constructor(userAppl = 'rumpnet') {
    const appl = utf8.encode(userAppl);
    const body = 16 + optLen(appl.length) + 4;
    const b = this.block(BT_SHB, body);
    b.view.setUint32(8, BYTE_ORDER_MAGIC, true);
    b.view.setUint16(12, 1, true); // major version
    b.view.setUint16(14, 0, true); // minor version
    // Section length unknown: -1 (64 bits).
    b.view.setInt32(16, -1, true);
    b.view.setInt32(20, -1, true);
    let at = this.option(b, 24, SHB_USERAPPL, appl);
    at = this.option(b, at, OPT_ENDOFOPT, null);
  }

  /** Frames written so far. */
  packets = 0;

  /** An Ethernet interface; returns its id for `packet`. */
  addInterface(name: string, description?: string): number {
    const n = utf8.encode(name);
    const d = description === undefined ? null : utf8.encode(description);
    const body = 8 + optLen(n.length) + (d ? optLen(d.length) : 0) + 4;
    const b = this.block(BT_IDB, body);
    b.view.setUint16(8, LINKTYPE_ETHERNET, true);
    b.view.setUint16(10, 0, true); // reserved
    b.view.setUint32(12, 0, true); // snaplen: no limit
    let at = this.option(b, 16, IF_NAME, n);
    if (d) at = this.option(b, at, IF_DESCRIPTION, d);
    this.option(b, at, OPT_ENDOFOPT, null);
    return this.interfaces++;
  }

  /**
   * One frame on interface `ifId` at `timeUs` microseconds since the epoch,
   * with a comment (or null) and a direction (EPB_INBOUND, EPB_OUTBOUND, 0).
   */
  packet(ifId: number, timeUs: number, buf: Uint8Array, off: number, len: number, comment: Uint8Array | null, dir: number): void {
    if (!(ifId >= 0 && ifId < this.interfaces)) throw new RangeError(`pcapng: no interface ${ifId}`);
    const opts = (comment ? optLen(comment.length) : 0) + (dir ? optLen(4) : 0);
    const body = 20 + pad4(len) + (opts ? opts + 4 : 0);
    const b = this.block(BT_EPB, body);
    const ts = Math.max(0, Math.round(timeUs));
    b.view.setUint32(8, ifId, true);
    b.view.setUint32(12, Math.floor(ts / 4294967296), true);
    b.view.setUint32(16, ts >>> 0, true);
    b.view.setUint32(20, len, true); // captured
    b.view.setUint32(24, len, true); // original
    b.bytes.set(buf.subarray(off, off + len), 28);
    let at = 28 + pad4(len);
    if (opts) {
      if (comment) at = this.option(b, at, OPT_COMMENT, comment);
      if (dir) {
        b.view.setUint16(at, EPB_FLAGS, true);
        b.view.setUint16(at + 2, 4, true);
        b.view.setUint32(at + 4, dir, true);
        at += 8;
      }
      this.option(b, at, OPT_ENDOFOPT, null);
    }
    this.packets++;
  }

  /** The file so far. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /** A block of `body` bytes between the type/length words and the trailing length. */
  private block(type: number, body: number): { bytes: Uint8Array; view: DataView } {
    const total = 8 + body + 4;
    const bytes = new Uint8Array(total);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, type, true);
    view.setUint32(4, total, true);
    view.setUint32(total - 4, total, true);
    this.chunks.push(bytes);
    this.size += total;
    return { bytes, view };
  }

  /** Write one option at `at` (value null: opt_endofopt); returns the offset after it. */
  private option(b: { bytes: Uint8Array; view: DataView }, at: number, code: number, value: Uint8Array | null): number {
    b.view.setUint16(at, code, true);
    if (value === null || code === OPT_ENDOFOPT) {
      b.view.setUint16(at + 2, 0, true);
      return at + 4;
    }
    b.view.setUint16(at + 2, value.length, true);
    b.bytes.set(value, at + 4);
    return at + optLen(value.length);
  }
}
