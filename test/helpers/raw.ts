/** Raw RESP over a socket, for framing cases no client library will send. */
import net from 'node:net';

export function encodeCommand(args: Array<string | Buffer | number>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export interface Exchange { text: string; bytes: Buffer; closed: boolean }

/**
 * Send bytes (optionally as several writes), collect everything until the
 * server closes, or stays quiet for `idleMs` after its first byte (before it,
 * up to `totalMs`: a loaded machine may take a while to answer at all).
 */
export function exchange(port: number, data: Buffer | Buffer[], { idleMs = 150, totalMs = 5000, expectSilence = false } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    let idle: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(idle); clearTimeout(total);
      s.destroy();
      const bytes = Buffer.concat(chunks);
      resolve({ text: bytes.toString('latin1'), bytes, closed });
    };
    const arm = () => { clearTimeout(idle); idle = setTimeout(finish, idleMs); };
    const total = setTimeout(finish, totalMs);
    s.on('connect', () => {
      for (const part of Array.isArray(data) ? data : [data]) s.write(part);
      if (expectSilence) arm();
    });
    s.on('data', (d) => { chunks.push(d); arm(); });
    s.on('close', () => { closed = true; finish(); });
    s.on('error', () => { closed = true; });
  });
}
