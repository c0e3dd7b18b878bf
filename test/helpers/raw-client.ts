/**
 * A long-lived raw connection for the hardening tests: send exact bytes, read
 * replies through the strict checker (resp-check.ts), know whether the server
 * closed. Unlike helpers/raw.ts's one-shot `exchange`, it waits for a number of
 * replies rather than for silence, so a table of hundreds of rows stays fast.
 */
import net from 'node:net';
import { encodeCommand } from './raw.js';
import { ReplyReader, type RespValue } from './resp-check.js';

export class RawClient {
  readonly socket: net.Socket;
  readonly reader: ReplyReader;
  /** Every byte received, for "no raw CR/LF inside an error line" checks. */
  readonly received: Buffer[] = [];
  closed = false;
  /** Set once the server replied to HELLO 3: RESP3 types become legal. */
  resp3 = false;
  private replies: RespValue[] = [];
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.reader = new ReplyReader({ resp3: () => this.resp3 });
    socket.on('data', (d: Buffer) => {
      this.received.push(d);
      try {
        this.reader.feed(d);
        for (const v of this.reader.drain()) this.replies.push(v);
      } catch (e) {
        this.failure = e as Error;
      }
      this.wake();
    });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => { /* 'close' follows */ });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  write(bytes: Buffer): void { this.socket.write(bytes); }

  /** Wait for `n` replies (or a close, or `timeoutMs`); returns what arrived. Throws on a malformed reply. */
  async read(n: number, timeoutMs = 10_000): Promise<RespValue[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length < n && !this.closed && !this.failure) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.waiter = null; resolve(); }, left);
        this.waiter = () => { clearTimeout(t); resolve(); };
      });
    }
    if (this.failure) throw this.failure;
    return this.replies.splice(0, n);
  }

  /** Send one command, return its reply (undefined if the connection closed first). */
  async call(args: Array<string | Buffer | number>, timeoutMs?: number): Promise<RespValue | undefined> {
    this.write(encodeCommand(args));
    return (await this.read(1, timeoutMs))[0];
  }

  /** Send several commands in one write, return their replies in order. */
  async pipeline(commands: Array<Array<string | Buffer | number>>, timeoutMs?: number): Promise<RespValue[]> {
    this.write(Buffer.concat(commands.map(encodeCommand)));
    return this.read(commands.length, timeoutMs);
  }

  /** Switch to RESP3. */
  async hello3(): Promise<void> {
    this.resp3 = true;
    const r = await this.call(['HELLO', '3']);
    if (r?.type !== 'map') throw new Error(`HELLO 3 answered ${r?.type}`);
  }

  close(): void { this.socket.destroy(); }
}
