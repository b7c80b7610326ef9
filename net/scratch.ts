/*
 * The packet path's scratch space, one per kernel (its NetStack owns it):
 * addresses a function builds and reads before it returns, on paths hot
 * enough that allocating them per packet would show. Never kept, never
 * returned. Each buffer has one user, named beside it, so no two call sites
 * share one, and no two kernels of a process share any. (Colder paths
 * allocate theirs per call; TCP's live in its Tcp, udp6's and raw6's in
 * their Udp6 and Raw6Usrreqs.)
 */
export class NetScratch {
  /** ether_output: the next hop's MAC, from the resolver into the header. */
  readonly etherDst = new Uint8Array(6);
  /** ip6_output: the source chosen for a packet sent from ::. */
  readonly ip6Src = new Uint8Array(16);
  /** icmp6: the destination of a reply or an error (the packet it answers is freed before it goes). */
  readonly icmp6Dst = new Uint8Array(16);
  /** icmp6: its source when it is the address the packet was sent to. */
  readonly icmp6ReplySrc = new Uint8Array(16);
  /** icmp6: its source when one had to be chosen (the checksum covers it). */
  readonly icmp6ChosenSrc = new Uint8Array(16);
}
