/*
 * Capture middleware: a tap that records every frame an interface sends or
 * receives into a pcap (what tcpdump -w would write), stamped with the
 * kernel's uptime. Attach it to any interface; detach to stop.
 *
 *   const cap = pcapCapture(ifp);  ...  writeFileSync('x.pcap', cap.bytes()); cap.detach();
 */
import { PcapWriter, PCAP_LINKTYPE_ETHERNET, type PcapWriterOptions } from '../wire/pcap.js';
import type { Ifnet, IfTap } from '../interface.js';

export interface PcapCapture {
  readonly writer: PcapWriter;
  /** The pcap so far (when no sink was given). */
  bytes(): Uint8Array;
  detach(): void;
}

export function pcapCapture(ifp: Ifnet, opts: PcapWriterOptions = {}): PcapCapture {
  const writer = new PcapWriter({ linktype: PCAP_LINKTYPE_ETHERNET, ...opts });
  const k = ifp.kernel;
  const tap: IfTap = (_ifp, _dir, buf, off, len) => {
    const up = k.uptime();
    const sec = Math.floor(up / 1000);
    writer.write(buf, off, len, sec, Math.floor((up - sec * 1000) * 1000));
  };
  ifp.taps.push(tap);
  return {
    writer,
    bytes: () => writer.bytes(),
    detach: () => {
      const i = ifp.taps.indexOf(tap);
      if (i >= 0) ifp.taps.splice(i, 1);
    },
  };
}
