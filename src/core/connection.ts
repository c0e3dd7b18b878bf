/**
 * One client connection: a read buffer (the parser), a reply buffer (the
 * encoder) and the per-client state handlers see. Every complete command in a
 * received chunk runs before the replies go out in one write; replies that
 * complete later (work off the event loop, WAL fsync) keep their order.
 *
 * Back-pressure: when a client stops reading, its replies pile up. Past a soft
 * mark (bytes unsent, or commands still running) we stop reading from it, so
 * memory stays bounded however much it pipelines; past the hard
 * `client-output-buffer-limit` it is closed, as Redis does.
 */
import type { Socket } from 'node:net';
import { writeSync } from 'node:fs';
import { RequestParser, ReplyEncoder, ProtocolError, QueryBufferLimitError } from '../../protocol/index.js';
import { ErrorReply, RawReply, type Reply } from '../../protocol/reply.js';
import type { ClientMode, ClientType, ClientView } from './types.js';
import type { Dispatcher } from './dispatcher.js';
import type { Logger } from '../log.js';

/** What the connection needs from the server that owns it. */
export interface ConnectionHost {
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  readonly stats: { netInputBytes: number; netOutputBytes: number };
  /** The `client-output-buffer-limit` of a client type. */
  outputLimit(type: ClientType): OutputLimit;
  passwordRequired(): boolean;
  /** A cross-protocol request (an HTTP verb or header as a command): log, rate-limited. */
  crossProtocolWarning(client: Connection): void;
  closed(client: Connection): void;
}

/**
 * Redis's output-buffer limit of a client class: closed past `hard` bytes
 * unsent, or past `soft` for more than `softSeconds` in a row (0: no such limit).
 */
export interface OutputLimit { hard: number; soft: number; softSeconds: number }

interface PendingReply {
  reply: Reply | undefined;
  proto: 2 | 3;
  closeAfter: boolean;
  /** Bytes of a delivered message held here behind a pending reply (see `deliver`). */
  held: number;
}

/** Encodes messages held behind a pending reply: `take()` hands out bytes it never overwrites. */
const heldEncoder = new ReplyEncoder(16 * 1024);

/** Bytes of unsent replies past which we stop reading from the client. */
const SOFT_OUTPUT_BYTES = 1 << 20;
/** Commands still running for one client past which we stop reading from it. */
const MAX_IN_FLIGHT = 1024;
/** Encoded replies from this many bytes are written at once rather than at the end of the turn (`flushLater`). */
const FLUSH_NOW_BYTES = 16 * 1024;
/** Prebuilt replies this large are written as they are, not copied into the encoder (see sendLarge). */
const LARGE_RAW_BYTES = 64 * 1024;
/** A received chunk at least this large, ending in a small partial command, is compacted away. */
const COMPACT_MIN_CHUNK = 4096;

export class Connection implements ClientView {
  readonly id: number;
  name = '';
  proto: 2 | 3 = 2;
  db = 0;
  authenticated: boolean;
  libName = '';
  libVer = '';
  readonly addr: string;
  readonly laddr: string;
  readonly createdAt = Date.now();
  lastInteraction = Date.now();
  multi: Buffer[][] | null = null;
  multiDirty = false;
  closeAfterReply = false;
  lastCommand = 'NULL';
  noEvict = false;
  noTouch = false;
  monitor = false;
  mode: ClientMode | null = null;
  readonly fd: number;

  private readonly parser: RequestParser;
  private readonly encoder = new ReplyEncoder(16 * 1024);
  /** Replies not yet encoded because an earlier one is still pending. */
  private readonly queue: PendingReply[] = [];
  private inFlight = 0;
  private flushScheduled = false;
  /** In `readyToFlush`. */
  private flushQueued = false;
  private pausedForOutput = false;
  private closing = false;
  /** Bytes of delivered messages waiting in `queue` behind a pending reply. */
  private heldBytes = 0;
  /** Since when the unsent output has stayed past the soft limit (0: it has not). */
  private softLimitSince = 0;

  constructor(readonly socket: Socket, id: number, private readonly host: ConnectionHost, parserLimits: ConstructorParameters<typeof RequestParser>[0]) {
    this.id = id;
    this.addr = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.laddr = `${socket.localAddress ?? '?'}:${socket.localPort ?? 0}`;
    this.fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    this.authenticated = !host.passwordRequired();
    this.parser = new RequestParser(parserLimits);
    this.parser.unauthenticated = !this.authenticated;
    this.parser.shareCommandNames = true;
    if (!readIntoSharedBuffer(socket, (chunk) => this.onData(chunk))) socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', () => { /* a reset by the peer: 'close' follows */ });
    socket.on('close', () => { this.closing = true; host.closed(this); });
  }

  get inputBytes(): number { return this.parser.pending; }
  get outputBytes(): number { return this.socket.writableLength + this.encoder.length + this.heldBytes; }

  kill(): void {
    this.closing = true;
    this.socket.destroy();
  }

  /** Parser limits can change at run time (CONFIG SET proto-max-bulk-len …). */
  setLimits(limits: Partial<RequestParser['limits']>): void {
    Object.assign(this.parser.limits, limits);
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.host.stats.netInputBytes += chunk.length;
    this.lastInteraction = Date.now();
    this.parser.feed(chunk);
    const ran = this.runCommands();
    // A partial command left at the end of a large chunk would pin the whole chunk
    // (up to 64 KB) while the client idles: keep only its own bytes (the
    // slow-sender case). Only then: small chunks are the parser's own business.
    const pending = this.parser.pending;
    if (pending > 0 && chunk.length >= COMPACT_MIN_CHUNK && pending * 2 <= chunk.length) this.parser.compact();
    if (ran > 1 && this.encoder.length < FLUSH_NOW_BYTES) this.flushLater();
    else this.flush();
  }

  /**
   * Write this connection's replies once the event loop has read every socket
   * that is ready (`flushReady`, in the check phase of this turn), as Redis
   * writes them before it sleeps: a client with several connections gets its
   * replies in one burst rather than being woken for each. Only pipelines
   * wait: a lone command is answered at once (the lowest latency for
   * request/response clients), and so is a large output (FLUSH_NOW_BYTES):
   * many clients' large ones held at once would all be in memory together.
   */
  private flushLater(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    readyToFlush.push(this);
    if (!flushReadyScheduled) {
      flushReadyScheduled = true;
      setImmediate(flushReady);
    }
  }

  /** For `flushReady` only. */
  flushQueuedReplies(): void {
    this.flushQueued = false;
    this.flush();
  }

  /** Run every complete command buffered, unless back-pressure or a close stops us; how many ran. */
  private runCommands(): number {
    const dispatcher = this.host.dispatcher;
    dispatcher.beginRun();
    try {
      return this.runEach(dispatcher);
    } finally {
      dispatcher.endRun();
    }
  }

  private runEach(dispatcher: Dispatcher): number {
    let ran = 0;
    while (!this.closing && !this.closeAfterReply) {
      let argv: Buffer[] | null;
      try {
        argv = this.parser.next();
      } catch (e) {
        if (e instanceof QueryBufferLimitError) {
          // Redis closes such a client without a reply, and says so in the log.
          this.host.log.warn({ client: this.addr, limit: e.limit }, 'closing client that reached max query buffer length');
          this.closeWithoutReply();
          return ran;
        }
        if (e instanceof ProtocolError) {
          this.host.log.debug({ client: this.addr, err: e.message }, 'protocol error, closing client');
          this.push(new ErrorReply(`ERR ${e.message}`.replace(/[\r\n]+/g, ' ')));
          this.closeAfterReply = true;
          this.socket.pause();
          return ran;
        }
        throw e;
      }
      if (argv === null) return ran;
      if (isCrossProtocol(argv[0])) {
        this.host.crossProtocolWarning(this);
        this.closeWithoutReply();
        return ran;
      }
      const reply = dispatcher.dispatch(this, argv);
      ran++;
      this.parser.unauthenticated = !this.authenticated;
      this.push(reply);
      if (this.closeAfterReply) { this.socket.pause(); return ran; }
      if (this.inFlight >= MAX_IN_FLIGHT) { this.pauseReading(); return ran; }
    }
    return ran;
  }

  /**
   * Encode one reply. A value the encoder refuses (a handler bug: say a
   * fractional number where an integer belongs) becomes `-ERR internal error`
   * and a log line; it must never unwind the socket handler and take the
   * process down.
   */
  private encode(reply: Reply, proto: 2 | 3): void {
    if (reply instanceof RawReply && reply.bytes.length >= LARGE_RAW_BYTES) { this.sendLarge(reply.bytes); return; }
    try {
      this.encoder.write(reply, proto);
    } catch (e) {
      this.host.log.error({ err: e, command: this.lastCommand }, 'reply could not be encoded');
      this.encoder.write(new ErrorReply('ERR internal error'), proto);
    }
  }

  /** Queue a reply in order: encode it now if nothing before it is pending. */
  push(reply: Reply | Promise<Reply>): void {
    const closeAfter = this.closeAfterReply;
    if (!(reply instanceof Promise)) {
      if (this.queue.length === 0) { this.encode(reply, this.proto); return; }
      this.queue.push({ reply, proto: this.proto, closeAfter, held: 0 });
      return;
    }
    const slot: PendingReply = { reply: undefined, proto: this.proto, closeAfter, held: 0 };
    this.queue.push(slot);
    this.inFlight++;
    reply.then((r) => {
      this.inFlight--;
      slot.reply = r;
      if (this.queue[0] === slot) this.scheduleFlush();
    });
  }

  /** Write out a pushed message (MONITOR lines) outside the request/reply order. */
  sendOutOfBand(reply: Reply): void {
    if (this.closing) return;
    this.encode(reply, this.proto);
    this.scheduleFlush();
  }

  /**
   * Send a message no request asked for (pub/sub, an invalidation). Redis
   * appends it to the client's output buffer at once, after the replies of
   * every command the client ran. Here replies may still be pending (engine
   * work, an fsync): the message then waits behind them in `queue`, already
   * encoded so that its bytes count toward the output limit, rather than
   * overtake them. A client that ran nothing slow, the usual subscriber, gets
   * it in this turn's write.
   */
  deliver(message: Reply, sent?: () => void): boolean {
    if (this.closing || this.closeAfterReply) return false;
    if (this.queue.length === 0) {
      if (sent !== undefined && message instanceof RawReply && message.bytes.length >= LARGE_RAW_BYTES) {
        this.sendLarge(message.bytes, sent);
        return true;
      }
      this.encode(message, this.proto);
      this.scheduleFlush();
      sent?.(); // copied into the encoder
      return true;
    }
    let bytes: Buffer;
    try {
      heldEncoder.write(message, this.proto);
      bytes = heldEncoder.take();
    } catch (e) {
      this.host.log.error({ err: e }, 'message could not be encoded');
      return false;
    }
    this.queue.push({ reply: new RawReply(bytes), proto: this.proto, closeAfter: false, held: bytes.length });
    this.heldBytes += bytes.length;
    sent?.(); // copied by heldEncoder
    if (this.overOutputLimit(this.socket.writableLength + this.encoder.length + this.heldBytes)) {
      this.closeForOutputLimit();
      return false;
    }
    return true;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // nextTick runs after every promise settled in this turn: one write for all of them.
    process.nextTick(() => { this.flushScheduled = false; this.flush(); });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.queue[0].reply !== undefined) {
      const slot = this.queue.shift()!;
      this.heldBytes -= slot.held;
      this.encode(slot.reply!, slot.proto);
    }
    if (this.closing) return;
    if (this.encoder.length > 0) {
      this.host.stats.netOutputBytes += this.encoder.length;
      this.send();
      if (this.checkOutput()) return;
    }
    this.maybeEnd();
    if (this.pausedForOutput && this.inFlight < MAX_IN_FLIGHT / 2 && this.socket.writableLength <= SOFT_OUTPUT_BYTES) this.resumeReading();
  }

  /** After a write: close the client past its output limit (true), or stop reading from it past the soft mark. */
  private checkOutput(): boolean {
    const queued = this.socket.writableLength + this.heldBytes;
    // Nothing unsent, the usual case after a direct write: no limit to look up.
    if ((queued > 0 || this.softLimitSince !== 0) && this.overOutputLimit(queued)) {
      this.closeForOutputLimit();
      return true;
    }
    if (queued > SOFT_OUTPUT_BYTES) this.pauseReading();
    return false;
  }

  /** Past the hard limit, or past the soft one for longer than it allows (Redis's checkClientOutputBufferLimits). */
  private overOutputLimit(queued: number): boolean {
    const { hard, soft, softSeconds } = this.host.outputLimit(this.mode ? this.mode.type : 'normal');
    if (hard > 0 && queued > hard) return true;
    if (soft > 0 && queued > soft) {
      const now = Date.now();
      if (this.softLimitSince === 0) { this.softLimitSince = now; return false; }
      return now - this.softLimitSince > softSeconds * 1000;
    }
    this.softLimitSince = 0;
    return false;
  }

  private closeForOutputLimit(): void {
    this.host.log.warn({ client: this.addr, queued: this.outputBytes, type: this.mode ? this.mode.type : 'normal' },
      'client closed for overcoming of output buffer limits');
    this.kill();
  }

  /**
   * Hand encoded replies to the socket. While nothing waits in it, they are
   * written straight to its descriptor, one write(2), as libuv itself would
   * try first; whatever the kernel does not take then (a full socket buffer,
   * an error) goes to `socket.write`, which queues it after those bytes and
   * handles errors as usual. That saves, per write, the Writable bookkeeping,
   * a WriteWrap, the after-write tick and a Buffer (the bytes go from the
   * encoder's own buffer, which is then reused). Never once the socket is
   * destroyed (its descriptor may already be reused) or ended.
   */
  private send(): void {
    const encoder = this.encoder;
    const length = encoder.length;
    const n = this.writeDirect(encoder.pendingBuffer, encoder.pendingOffset, length);
    encoder.drop(n);
    if (n < length) this.socket.write(encoder.take());
  }

  /** send()'s direct write(2): the bytes the kernel took, 0 when the socket has bytes queued (or is gone). */
  private writeDirect(buf: Buffer, offset: number, length: number): number {
    const socket = this.socket;
    if (this.fd < 0 || socket.destroyed || socket.writableEnded || socket.writableLength > 0) return 0;
    try {
      return writeSync(this.fd, buf, offset, length);
    } catch {
      return 0; // EAGAIN, EPIPE…: socket.write finds out again and deals with it
    }
  }

  /**
   * Prebuilt bytes too large to copy (a full sync's 1 MiB snapshot frames): what is
   * encoded before them goes out first, then the Buffer itself, never copied into
   * the encoder. Copying made a fresh 1 MiB buffer per frame, and that stream of
   * external memory made V8 run a full GC every ~100 ms, 5–19 ms each (--trace-gc).
   * `sent` runs once the socket no longer needs them (written, or given up on).
   */
  private sendLarge(bytes: Buffer, sent?: () => void): void {
    if (this.closing) { sent?.(); return; }
    if (this.encoder.length > 0) {
      this.host.stats.netOutputBytes += this.encoder.length;
      this.send();
    }
    this.host.stats.netOutputBytes += bytes.length;
    const n = this.writeDirect(bytes, 0, bytes.length);
    if (n < bytes.length) this.socket.write(bytes.subarray(n), sent);
    else sent?.();
    // These bytes never pass through flush(): the output limits are applied here.
    this.checkOutput();
  }

  /** Read nothing more and close once the replies already queued are out (none for this command). */
  private closeWithoutReply(): void {
    this.closeAfterReply = true;
    this.socket.pause();
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.closeAfterReply && this.queue.length === 0 && !this.closing) {
      this.closing = true;
      // Closed once the last reply is out, as Redis closes after writing it: ending alone
      // would wait for the peer's FIN, which a paused socket never reads, and the client
      // would stay listed (and subscribed) for ever.
      this.socket.end(() => this.socket.destroy());
    }
  }

  private pauseReading(): void {
    if (this.pausedForOutput) return;
    this.pausedForOutput = true;
    this.socket.pause();
  }

  private resumeReading(): void {
    this.pausedForOutput = false;
    if (this.closing || this.closeAfterReply) return;
    this.socket.resume();
    // Commands already buffered must not wait for more bytes to arrive.
    this.runCommands();
    if (this.encoder.length > 0) this.scheduleFlush();
  }

  private onDrain(): void {
    if (this.pausedForOutput && this.inFlight < MAX_IN_FLIGHT / 2) this.resumeReading();
  }
}

/** Connections that received commands in this event-loop turn, to flush at its check phase (`flushLater`). */
let readyToFlush: Connection[] = [];
let flushReadyScheduled = false;

function flushReady(): void {
  flushReadyScheduled = false;
  const list = readyToFlush;
  readyToFlush = [];
  let i = 0;
  try {
    while (i < list.length) list[i++].flushQueuedReplies();
  } finally {
    // A flush that threw must not strand the others: they go in the next turn.
    if (i < list.length) {
      for (let j = i; j < list.length; j++) readyToFlush.push(list[j]);
      if (!flushReadyScheduled) {
        flushReadyScheduled = true;
        setImmediate(flushReady);
      }
    }
  }
}

/** What libuv reads into for every connection (see `readIntoSharedBuffer`). */
const READ_BUFFER_SIZE = 64 * 1024;
let readBuffer: Buffer | null = null;
/** Received chunks up to this size are copied out byte by byte: cheaper than a native copy. */
const SHORT_COPY = 256;

/** The private slots of net.Socket behind the `onread` option of `socket.connect()`. */
interface UserBufferSlots { readonly buffer: symbol; readonly callback: symbol; readonly generator: symbol }
/** Found on the first socket: undefined until then, null when this Node has no such slots. */
let userBufferSlots: UserBufferSlots | null | undefined;

function findUserBufferSlots(socket: Socket): UserBufferSlots | null {
  let buffer: symbol | undefined, callback: symbol | undefined, generator: symbol | undefined;
  for (const s of Object.getOwnPropertySymbols(socket)) {
    if (s.description === 'kBuffer') buffer = s;
    else if (s.description === 'kBufferCb') callback = s;
    else if (s.description === 'kBufferGen') generator = s;
  }
  return buffer && callback && generator ? { buffer, callback, generator } : null;
}

interface UserBufferHandle { useUserBuffer?: (buf: Uint8Array) => void }

/**
 * Receive a socket's bytes the way `net.connect({ onread })` does, which
 * Node offers for client sockets only: libuv reads straight into one static
 * buffer shared by every connection, and each read is handed to `onChunk` as a
 * fresh copy (`Buffer.allocUnsafe`: a slice of Node's 8 KiB pool under 4 KiB,
 * as `Buffer.from` gives), so the parser's zero-copy slices stay valid. The
 * default path costs, per read, a 64 KiB allocation then a right-sized copy of
 * it into memory of its own, a Buffer, and the Readable machinery (push,
 * 'data', a maybeReadMore tick). pause()/resume(), end of stream, errors and
 * timeouts work as usual: net.Socket handles its `onread` mode in all of them.
 * No 'data' events are emitted.
 *
 * Returns false, changing nothing, where Node does not have that mode
 * (another version, a socket without a libuv handle): use 'data' then.
 */
function readIntoSharedBuffer(socket: Socket, onChunk: (chunk: Buffer) => void): boolean {
  if (userBufferSlots === undefined) userBufferSlots = findUserBufferSlots(socket);
  const slots = userBufferSlots;
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  if (slots === null || !handle || typeof handle.useUserBuffer !== 'function') return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (fields[slots.buffer] !== null || fields[slots.callback] !== null || fields[slots.generator] !== null) return false;
  readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  const source = readBuffer;
  fields[slots.buffer] = source;
  fields[slots.callback] = (nread: number): void => {
    // The next read overwrites `source`: the chunk must be a copy.
    const chunk = Buffer.allocUnsafe(nread);
    if (nread <= SHORT_COPY) for (let i = 0; i < nread; i++) chunk[i] = source[i];
    else source.copy(chunk, 0, 0, nread);
    onChunk(chunk);
  };
  handle.useUserBuffer(source);
  return true;
}

/**
 * `POST` or `Host:` as a command name: someone pointed an HTTP client at us
 * (Redis's securityWarningCommand). Compared by bytes: it runs for every command.
 */
function isCrossProtocol(name: Buffer): boolean {
  const n = name.length;
  if (n === 4) return (name[0] | 0x20) === 0x70 && (name[1] | 0x20) === 0x6f && (name[2] | 0x20) === 0x73 && (name[3] | 0x20) === 0x74; // post
  if (n === 5) return (name[0] | 0x20) === 0x68 && (name[1] | 0x20) === 0x6f && (name[2] | 0x20) === 0x73 && (name[3] | 0x20) === 0x74 && name[4] === 0x3a; // host:
  return false;
}
