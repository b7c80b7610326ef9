/*
 * The packetdrill script parser: tokens → Script (ast.ts).
 *
 *   script  := option* [command] event* [command]
 *   event   := time action
 *   time    := '*' | ['+'] NUM [ '~' ['+'] NUM | '...' NUM ]
 *   action  := packet | syscall | `command` | %{ code }%
 *   packet  := ('<'|'>') [ip-info] [NUM '>' NUM]
 *              ( flags seq [ack N] [win N] [urg N] ['<' options '>'] ['/' udp '(' NUM '>' NUM ')']
 *              | udp '(' NUM ')'
 *              | icmp TYPE [CODE] [mtu N] [id N] ['[' quote ']'] )
 *   seq     := NUM ':' NUM '(' NUM ')' ['!'] | '...' '(' NUM ')'
 *   syscall := NAME '(' [expr {',' expr}] ')' '=' expr [ERRNO] ['(' note ')']
 *
 * This is the language as the packetdrill forks (Google's and nplab's)
 * write it, not a reading of one suite: a construct it does not know is a
 * syntax error with its line, never skipped.
 */
import {
  ScriptSyntaxError,
  type Action, type EventTime, type Expr, type IcmpPacket, type IcmpQuote, type IpInfo, type PacketSpec,
  type Script, type ScriptEvent, type ScriptOption, type SeqRange, type SyscallSpec, type TcpOption, type TcpPacket,
} from './ast.js';
import { ICMP6_TYPES, ICMP_TYPES, icmp6ByName, icmpCodeByName } from './icmp_names.js';
import { tokenize, type LexOptions, type Token } from './lexer.js';

export type ParseOptions = LexOptions;

/** Parse a whole script. Throws ScriptSyntaxError with the line and a reason. */
export function parseScript(src: string, path: string, opts: ParseOptions = {}): Script {
  return new Parser(src, path, tokenize(src, path, opts)).script();
}

/** Seconds as written ("0.10", "65", ".5") → microseconds, exactly. */
export function secondsToUs(text: string): number {
  const m = /^(\d*)(?:\.(\d+))?$/.exec(text);
  if (!m || (m[1] === '' && m[2] === undefined)) return NaN;
  const whole = m[1] === '' ? 0 : Number(m[1]);
  const frac = (m[2] ?? '').padEnd(7, '0');
  // Seven digits read, the seventh rounds: packetdrill keeps microseconds.
  return whole * 1_000_000 + Math.round(Number(frac.slice(0, 7)) / 10);
}

const FLAG_BITS: Readonly<Record<string, number>> = {
  F: 0x01, S: 0x02, R: 0x04, P: 0x08, '.': 0x10, U: 0x20, E: 0x40, W: 0x80, A: 0x100,
};

const IP_INFO_WORDS = new Set(['tos', 'ttl', 'flowlabel', 'ect0', 'ect1', 'ect01', 'ce', 'noecn']);

const U32_MAX = 0xffffffff;

class Parser {
  private i = 0;

  constructor(
    private readonly src: string,
    private readonly path: string,
    private readonly toks: Token[],
  ) {}

  private peek(k = 0): Token {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private fail(reason: string, t: Token = this.peek()): never {
    throw new ScriptSyntaxError(this.path, t.line, t.col, reason);
  }

  private describe(t: Token): string {
    switch (t.kind) {
      case 'eof':
        return 'the end of the script';
      case 'command':
        return `\`${t.text}\``;
      case 'code':
        return 'a %{ }% code snippet';
      case 'string':
        return `"${t.text}"`;
      case 'option':
        return `--${t.text}`;
      default:
        return `'${t.text}'`;
    }
  }

  private isPunct(t: Token, p: string): boolean {
    return t.kind === 'punct' && t.text === p;
  }

  private isWord(t: Token, w?: string): boolean {
    return t.kind === 'word' && (w === undefined || t.text === w);
  }

  private expectPunct(p: string, what: string): Token {
    const t = this.peek();
    if (!this.isPunct(t, p)) this.fail(`expected '${p}' ${what}, found ${this.describe(t)}`);
    return this.next();
  }

  private expectWord(w: string, what: string): Token {
    const t = this.peek();
    if (!this.isWord(t, w)) this.fail(`expected '${w}' ${what}, found ${this.describe(t)}`);
    return this.next();
  }

  /** An unsigned integer (decimal or hex) no larger than `max`. */
  private uint(what: string, max = U32_MAX): number {
    const t = this.peek();
    if (t.kind !== 'num') this.fail(`expected ${what} (a number), found ${this.describe(t)}`);
    const v = intValue(t.text);
    if (v === null) this.fail(`${what} must be an integer, not ${t.text}`);
    if (v > max) this.fail(`${what} ${t.text} is larger than ${max}`);
    this.next();
    return v;
  }

  /* ---------------------------------------------------------------------- */

  script(): Script {
    const options: ScriptOption[] = [];
    while (this.peek().kind === 'option') {
      const t = this.next();
      options.push({ name: t.text, value: t.value, line: t.line });
    }
    let initCommand: Script['initCommand'] = null;
    if (this.peek().kind === 'command') {
      const t = this.next();
      initCommand = { command: t.text, line: t.line };
    }
    const events: ScriptEvent[] = [];
    let cleanupCommand: Script['cleanupCommand'] = null;
    for (;;) {
      const t = this.peek();
      if (t.kind === 'eof') break;
      if (t.kind === 'option') this.fail(`option --${t.text} after the first event: options go at the top of the script`);
      if (t.kind === 'command' && this.peek(1).kind === 'eof' && events.length > 0) {
        this.next();
        cleanupCommand = { command: t.text, line: t.line };
        break;
      }
      events.push(this.event());
    }
    return { path: this.path, options, initCommand, events, cleanupCommand };
  }

  private event(): ScriptEvent {
    const first = this.peek();
    const time = this.time();
    const action = this.action(time);
    const last = this.toks[this.i - 1]!;
    const text = this.src.slice(first.pos, last.end).replace(/\s*\n\s*/g, ' ');
    return { line: first.line, text, time, action };
  }

  private time(): EventTime {
    const t = this.peek();
    if (this.isPunct(t, '*')) {
      this.next();
      return { kind: 'any', us: 0, end: null, blocking: false };
    }
    let relative = false;
    if (this.isPunct(t, '+')) {
      this.next();
      relative = true;
    }
    const us = this.seconds(relative ? 'a time after +' : 'a time (0.1, +0.1 or *) at the start of the event');
    let end: number | null = null;
    let blocking = false;
    const sep = this.peek();
    if (this.isPunct(sep, '~')) {
      this.next();
      const plus = this.isPunct(this.peek(), '+');
      if (plus) this.next();
      if (plus !== relative) this.fail(relative ? 'a relative range is written +a~+b' : 'an absolute range is written a~b');
      end = this.seconds('the end of the time range');
    } else if (this.isPunct(sep, '...')) {
      this.next();
      if (this.isPunct(this.peek(), '+')) this.next();
      end = this.seconds('the time a blocking call returns (after ...)');
      blocking = true;
    }
    if (end !== null && end < us) this.fail('the end of a time range comes before its start', sep);
    return { kind: relative ? 'relative' : 'absolute', us, end, blocking };
  }

  private seconds(what: string): number {
    const t = this.peek();
    if (t.kind !== 'num') this.fail(`expected ${what}, found ${this.describe(t)}`);
    const us = secondsToUs(t.text);
    if (!Number.isFinite(us)) this.fail(`bad time ${t.text}`);
    this.next();
    return us;
  }

  private action(time: EventTime): Action {
    const t = this.peek();
    if (this.isPunct(t, '<') || this.isPunct(t, '>')) {
      if (time.blocking) this.fail('only system calls can block (start...end)', t);
      return { type: 'packet', packet: this.packet() };
    }
    if (time.blocking && !(t.kind === 'word' && this.isPunct(this.peek(1), '('))) {
      this.fail('only system calls can block (start...end)', t);
    }
    if (t.kind === 'command') {
      this.next();
      return { type: 'command', command: t.text };
    }
    if (t.kind === 'code') {
      this.next();
      return { type: 'code', code: t.text };
    }
    if (t.kind === 'word' && this.isPunct(this.peek(1), '(')) return { type: 'syscall', call: this.syscall() };
    this.fail(`expected a packet (< or >), a system call, a \`command\` or %{ code }% after the time, found ${this.describe(t)}`);
  }

  /* ---------------------------------------------------------------------- */
  /* Packets */

  private packet(): PacketSpec {
    const dir = this.next();
    const direction = dir.text === '<' ? 'inbound' : 'outbound';
    const ip: IpInfo = { ecn: null, tos: null, ttl: null, flowlabel: null };
    let quote: IcmpQuote | null = null;
    for (;;) {
      const t = this.peek();
      if ((this.isPunct(t, '(') || this.isPunct(t, '[')) && this.isWord(this.peek(1)) && IP_INFO_WORDS.has(this.peek(1).text)) {
        this.ipInfo(ip);
        continue;
      }
      // packetdrill's older ICMP syntax puts the quoted packet first: `< [1:1(0)] icmp …`.
      if (this.isPunct(t, '[') && (this.peek(1).kind === 'num' || this.isWord(this.peek(1), 'udp'))) {
        quote = this.icmpQuote();
        continue;
      }
      break;
    }
    let ports: PacketSpec['ports'] = null;
    if (this.peek().kind === 'num' && this.isPunct(this.peek(1), '>') && this.peek(2).kind === 'num') {
      const src = this.uint('source port', 0xffff);
      this.next();
      const dst = this.uint('destination port', 0xffff);
      ports = { src, dst };
    }
    const t = this.peek();
    if (quote && !this.isWord(t, 'icmp')) this.fail(`a [quoted packet] belongs to an icmp line, found ${this.describe(t)}`);
    if (this.isWord(t, 'icmp')) return { direction, ip, ports, body: this.icmp(quote) };
    if (this.isWord(t, 'udp')) {
      this.next();
      this.expectPunct('(', 'after udp');
      const len = this.uint('the UDP payload length', 0xffff - 8);
      this.expectPunct(')', 'after the UDP payload length');
      return { direction, ip, ports, body: { proto: 'udp', len } };
    }
    return { direction, ip, ports, body: this.tcp(direction) };
  }

  /** `(tos 0x10, flowlabel 0x1, ttl 64)` or `[ect0]`, into `ip`. */
  private ipInfo(ip: IpInfo): void {
    const open = this.next();
    const close = open.text === '(' ? ')' : ']';
    for (;;) {
      const w = this.peek();
      if (!this.isWord(w)) this.fail(`expected tos, ttl, flowlabel or an ECN codepoint, found ${this.describe(w)}`);
      this.next();
      switch (w.text) {
        case 'tos':
          ip.tos = this.uint('the TOS byte', 0xff);
          break;
        case 'ttl':
          ip.ttl = this.uint('the TTL', 0xff);
          break;
        case 'flowlabel':
          ip.flowlabel = this.uint('the flow label', 0xfffff);
          break;
        case 'noecn':
        case 'ect0':
        case 'ect1':
        case 'ect01':
        case 'ce':
          ip.ecn = w.text;
          break;
        default:
          this.fail(`unknown IP field '${w.text}'`, w);
      }
      if (this.isPunct(this.peek(), ',')) {
        this.next();
        continue;
      }
      this.expectPunct(close, 'after the IP fields');
      return;
    }
  }

  private seqRange(): SeqRange {
    // `...(len)`: any sequence number (nplab's ignore).
    if (this.isPunct(this.peek(), '...')) {
      this.next();
      this.expectPunct('(', 'after ... (a sequence number left open is written ...(len))');
      const len = this.uint('the payload length', 0xffff);
      this.expectPunct(')', 'after the length');
      return { start: 0, end: len, len, ignored: true };
    }
    const start = this.uint('the first sequence number');
    this.expectPunct(':', 'between the sequence numbers (start:end(len))');
    const end = this.uint('the end sequence number');
    this.expectPunct('(', 'before the length (start:end(len))');
    const lenTok = this.peek();
    const len = this.uint('the payload length', 0xffff);
    this.expectPunct(')', 'after the length');
    if (((end - start) >>> 0) !== len) this.fail(`inconsistent ${start}:${end}(${len}): the end minus the start must be the length`, lenTok);
    // `!` right after the range: absolute numbers (nplab).
    const bang = this.peek();
    if (this.isPunct(bang, '!')) {
      this.next();
      return { start, end, len, absolute: true };
    }
    return { start, end, len };
  }

  private tcp(direction: 'inbound' | 'outbound'): TcpPacket {
    const first = this.peek();
    let flags = 0;
    let flagText = '';
    if (this.isPunct(first, '-')) {
      this.next();
      flagText = '-';
    } else {
      let prevEnd = -1;
      for (;;) {
        const t = this.peek();
        if (prevEnd >= 0 && t.pos !== prevEnd) break;
        if (this.isPunct(t, '.') || (this.isWord(t) && /^[FSRPUEWA]+$/.test(t.text))) {
          for (const ch of t.text) {
            const bit = FLAG_BITS[ch]!;
            if (flags & bit) this.fail(`flag ${ch} given twice in ${flagText}${t.text}`, t);
            flags |= bit;
          }
          flagText += t.text;
          prevEnd = t.end;
          this.next();
          continue;
        }
        if (prevEnd < 0) {
          this.fail(`expected TCP flags (letters FSRPUEWA, . for ACK, - for none), udp or icmp after '${direction === 'inbound' ? '<' : '>'}', found ${this.describe(t)}`);
        }
        if (this.isWord(t)) this.fail(`unknown TCP flag letters in '${flagText}${t.text}' (FSRPUEWA, . for ACK)`, t);
        break;
      }
    }
    const seqTok = this.peek();
    const seq = this.seqRange();
    if (seq.ignored && direction === 'inbound') this.fail('...(len) leaves the sequence number open, which only an outbound packet can do', seqTok);
    const pkt: TcpPacket = { proto: 'tcp', flags, flagText, seq, ack: null, win: null, urg: null, options: null, udp: null };
    for (const [field, what] of [['ack', 'the acknowledgment number'], ['win', 'the window'], ['urg', 'the urgent pointer']] as const) {
      if (this.isWord(this.peek(), field)) {
        this.next();
        pkt[field] = this.uint(what, field === 'ack' ? U32_MAX : 0xffff);
      }
    }
    if (this.isPunct(this.peek(), '<')) pkt.options = this.tcpOptions();
    if (this.isPunct(this.peek(), '/') && this.isWord(this.peek(1), 'udp')) pkt.udp = this.udpEncaps();
    const extra = this.peek();
    if (this.isWord(extra) && ['ack', 'win', 'urg'].includes(extra.text)) {
      this.fail(`'${extra.text}' out of order: a TCP line reads flags seq [ack N] [win N] [urg N] [<options>]`, extra);
    }
    return pkt;
  }

  /** `/udp(sport > dport)`: the ports of the UDP datagram around a TCP segment. */
  private udpEncaps(): { src: number; dst: number } {
    this.next();
    this.next();
    this.expectPunct('(', 'after /udp');
    const src = this.uint('the UDP source port', 0xffff);
    this.expectPunct('>', 'between the UDP ports (/udp(sport > dport))');
    const dst = this.uint('the UDP destination port', 0xffff);
    this.expectPunct(')', 'after the UDP ports');
    return { src, dst };
  }

  private tcpOptions(): TcpOption[] | 'any' {
    this.next();
    if (this.isPunct(this.peek(), '...')) {
      this.next();
      this.expectPunct('>', 'after <...');
      return 'any';
    }
    const out: TcpOption[] = [];
    for (;;) {
      const t = this.peek();
      if (!this.isWord(t)) this.fail(`expected a TCP option (mss, wscale, sackOK, sack, TS, nop, eol), found ${this.describe(t)}`);
      this.next();
      switch (t.text) {
        case 'nop':
        case 'eol':
        case 'sackOK':
          out.push({ kind: t.text });
          break;
        case 'mss':
          out.push({ kind: 'mss', value: this.uint('the MSS', 0xffff) });
          break;
        case 'wscale':
          out.push({ kind: 'wscale', value: this.uint('the window scale', 0xff) });
          break;
        case 'sack': {
          const blocks: Array<[number, number]> = [];
          while (this.peek().kind === 'num') {
            const a = this.uint('a SACK block start');
            this.expectPunct(':', 'in a SACK block (start:end)');
            blocks.push([a, this.uint('a SACK block end')]);
          }
          if (blocks.length === 0) this.fail('sack needs at least one block (start:end)');
          out.push({ kind: 'sack', blocks });
          break;
        }
        case 'TS': {
          this.expectWord('val', 'after TS');
          // `val ...`: never compared (nplab's ignore_integer); `ecr N!`: sent as written.
          const valIgnored = this.isPunct(this.peek(), '...');
          if (valIgnored) this.next();
          const val = valIgnored ? 0 : this.uint('the TS value');
          this.expectWord('ecr', 'after the TS value');
          const ecr = this.uint('the TS echo reply');
          const bang = this.peek();
          const ecrAbsolute = this.isPunct(bang, '!');
          if (ecrAbsolute) this.next();
          const ts: TcpOption = { kind: 'TS', val, ecr };
          if (valIgnored) ts.valIgnored = true;
          if (ecrAbsolute) ts.ecrAbsolute = true;
          out.push(ts);
          break;
        }
        case 'FO': {
          // The cookie is hex digits, which lex as adjacent numbers and words ("1a2b" is 1, a2b).
          let hex = '';
          let at = -1;
          for (let a = this.peek(); (a.kind === 'word' || a.kind === 'num') && (at < 0 ? a.line === t.line : a.pos === at); a = this.peek()) {
            hex += a.text;
            at = a.end;
            this.next();
          }
          if (!/^([0-9a-fA-F]{2})*$/.test(hex) || hex.length > 32) this.fail(`FO takes a cookie of up to 16 bytes in hex digit pairs, not '${hex}'`, t);
          out.push({ kind: 'FO', cookie: Uint8Array.from(hex.match(/../g) ?? [], (x) => parseInt(x, 16)) });
          break;
        }
        case 'md5':
        case 'FOEXP':
        case 'exp': {
          // Parsed so the runner can say what it cannot do, not skipped: a cookie or key may follow.
          const arg = this.peek();
          if ((arg.kind === 'word' || arg.kind === 'num') && !this.isPunct(arg, ',')) this.next();
          out.push({ kind: 'unsupported', name: t.text });
          break;
        }
        default:
          this.fail(`unknown TCP option '${t.text}'`, t);
      }
      const sep = this.peek();
      if (this.isPunct(sep, ',')) {
        this.next();
        continue;
      }
      this.expectPunct('>', 'after the TCP options (or a , between them)');
      return out;
    }
  }

  private icmpQuote(): IcmpQuote {
    this.expectPunct('[', 'before the quoted packet');
    let quote: IcmpQuote;
    if (this.isWord(this.peek(), 'udp')) {
      this.next();
      this.expectPunct('(', 'after udp');
      const len = this.uint('the quoted UDP payload length', 0xffff);
      this.expectPunct(')', 'after the quoted UDP payload length');
      quote = { proto: 'udp', len };
    } else {
      if (this.isWord(this.peek(), 'tcp')) this.next();
      quote = { proto: 'tcp', seq: this.seqRange() };
    }
    this.expectPunct(']', 'after the quoted packet');
    return quote;
  }

  private icmp(quoted: IcmpQuote | null): IcmpPacket {
    this.next();
    const typeTok = this.peek();
    if (!this.isWord(typeTok)) this.fail(`expected an ICMP type (unreachable, time_exceeded, …), found ${this.describe(typeTok)}`);
    this.next();
    // The numbers are ICMP's; an IPv6 run maps the names again (icmp6ByName),
    // so a name only ICMPv6 has is accepted here too.
    const type4 = ICMP_TYPES.get(typeTok.text);
    const type6 = ICMP6_TYPES.get(typeTok.text);
    if (type4 === undefined && type6 === undefined) this.fail(`unknown ICMP type '${typeTok.text}'`, typeTok);
    const type = type4 ?? -1;
    let codeName: string | null = null;
    let code = 0;
    const codeTok = this.peek();
    if (this.isWord(codeTok) && codeTok.text !== 'mtu' && codeTok.text !== 'id') {
      const c4 = type4 !== undefined ? icmpCodeByName(type4, codeTok.text) : null;
      const c6 = icmp6ByName(typeTok.text, codeTok.text);
      const c = c4 ?? (c6 !== null ? -1 : null);
      if (c === null) this.fail(`unknown code '${codeTok.text}' for ICMP ${typeTok.text}`, codeTok);
      this.next();
      codeName = codeTok.text;
      code = c;
    }
    let mtu: number | null = null;
    if (this.isWord(this.peek(), 'mtu')) {
      this.next();
      mtu = this.uint('the MTU', 0xffff);
    }
    if (this.isWord(this.peek(), 'id')) this.fail('ICMP echo id is not supported by the runner');
    let quote = quoted;
    if (this.isPunct(this.peek(), '[')) {
      if (quote) this.fail('the quoted packet is given twice');
      quote = this.icmpQuote();
    }
    return { proto: 'icmp', typeName: typeTok.text, codeName, type, code, mtu, quote };
  }

  /* ---------------------------------------------------------------------- */
  /* System calls */

  private syscall(): SyscallSpec {
    const name = this.next().text;
    this.expectPunct('(', `after ${name}`);
    const args: Expr[] = [];
    if (!this.isPunct(this.peek(), ')')) {
      for (;;) {
        args.push(this.expr());
        if (this.isPunct(this.peek(), ',')) {
          this.next();
          continue;
        }
        break;
      }
    }
    this.expectPunct(')', `to close the arguments of ${name}`);
    const eq = this.peek();
    if (!this.isPunct(eq, '=')) this.fail(`expected '= result' after ${name}(…), found ${this.describe(eq)}`);
    this.next();
    const resultTok = this.peek();
    const result = this.expr();
    let errno: string | null = null;
    let note: string | null = null;
    const e = this.peek();
    if (this.isWord(e) && e.line === resultTok.line) {
      if (!/^E[A-Z0-9]+$/.test(e.text)) this.fail(`expected an errno name (EAGAIN, …) after the result, found '${e.text}'`, e);
      errno = e.text;
      this.next();
    }
    const open = this.peek();
    if (this.isPunct(open, '(') && open.line === resultTok.line) note = this.note();
    return { name, args, result, errno, note };
  }

  /** `(…)` after a result: free text up to the matching parenthesis. */
  private note(): string {
    const open = this.next();
    let depth = 1;
    for (;;) {
      const t = this.peek();
      if (t.kind === 'eof') this.fail('unterminated ( note after the result', open);
      this.next();
      if (this.isPunct(t, '(')) depth++;
      else if (this.isPunct(t, ')') && --depth === 0) return this.src.slice(open.end, t.pos).trim();
    }
  }

  private expr(): Expr {
    const first = this.primary();
    if (!this.isPunct(this.peek(), '|')) return first;
    const items = [first];
    while (this.isPunct(this.peek(), '|')) {
      this.next();
      items.push(this.primary());
    }
    return { kind: 'or', items };
  }

  private primary(): Expr {
    const t = this.peek();
    if (this.isPunct(t, '...')) {
      this.next();
      return { kind: 'ellipsis' };
    }
    if (t.kind === 'num' || (this.isPunct(t, '-') && this.peek(1).kind === 'num' && this.peek(1).pos === t.end)) {
      const neg = this.isPunct(t, '-');
      if (neg) this.next();
      const n = this.next();
      const v = intValue(n.text);
      if (v === null) this.fail(`expected an integer, found ${n.text}`, n);
      return { kind: 'int', value: neg ? -v : v, text: (neg ? '-' : '') + n.text };
    }
    if (t.kind === 'string') {
      this.next();
      const ellipsis = this.isPunct(this.peek(), '...');
      if (ellipsis) this.next();
      return { kind: 'string', value: t.text, ellipsis };
    }
    if (t.kind === 'word') {
      this.next();
      if (this.isPunct(this.peek(), '(')) {
        this.next();
        const args: Expr[] = [];
        if (!this.isPunct(this.peek(), ')')) {
          for (;;) {
            args.push(this.expr());
            if (!this.isPunct(this.peek(), ',')) break;
            this.next();
          }
        }
        this.expectPunct(')', `to close ${t.text}(…)`);
        return { kind: 'call', name: t.text, args };
      }
      return { kind: 'word', name: t.text };
    }
    if (this.isPunct(t, '[')) {
      this.next();
      const items: Expr[] = [];
      if (!this.isPunct(this.peek(), ']')) {
        for (;;) {
          items.push(this.expr());
          if (!this.isPunct(this.peek(), ',')) break;
          this.next();
        }
      }
      this.expectPunct(']', 'to close the array');
      return { kind: 'array', items };
    }
    if (this.isPunct(t, '{')) {
      this.next();
      const fields: Array<{ name: string | null; value: Expr }> = [];
      if (!this.isPunct(this.peek(), '}')) {
        for (;;) {
          let name: string | null = null;
          if (this.isPunct(this.peek(), '.') && this.isWord(this.peek(1))) this.next();
          if (this.isWord(this.peek()) && this.isPunct(this.peek(1), '=')) {
            name = this.next().text;
            this.next();
          }
          fields.push({ name, value: this.expr() });
          if (!this.isPunct(this.peek(), ',')) break;
          this.next();
        }
      }
      this.expectPunct('}', 'to close the struct');
      return { kind: 'struct', fields };
    }
    this.fail(`expected an argument (a number, a name, "string", [..], {..} or ...), found ${this.describe(t)}`);
  }
}

/** Decimal or 0x hex integer text → number, null when it is not an integer. */
export function intValue(text: string): number | null {
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) return parseInt(text.slice(2), 16);
  if (/^\d+$/.test(text)) {
    const v = Number(text);
    return Number.isSafeInteger(v) ? v : null;
  }
  return null;
}

export { ScriptSyntaxError };
