import { Buffer } from 'node:buffer';
import type { Lab, LabHost } from '../../lab/index.js';

/** Does a UDP datagram from `from` reach `to` within `ms` of virtual time? */
export async function reaches(lab: Lab, from: LabHost, to: LabHost, ms = 1000): Promise<boolean> {
  const srv = to.dgram.createSocket('udp4');
  const cli = from.dgram.createSocket('udp4');
  let got = false;
  srv.on('message', () => { got = true; });
  srv.bind(7, () => cli.send(Buffer.from('x'), 7, to.address));
  await lab.run(ms);
  srv.close();
  cli.close();
  await lab.run(1);
  return got;
}
