/**
 * How fast the RESP codec runs on its own, without sockets: requests parsed
 * and replies encoded per second, for shapes like redis-benchmark's (PING as
 * multibulk and inline, 16 per chunk) and a vector insert. Multibulk parsing is
 * measured beside `redis-parser` (a reply parser, but a multibulk request is a
 * valid reply): it measured 0.73x of a hand-written scanner through
 * a real server. Contenders alternate, and medians are printed, because the
 * machines here are shared and noisy.
 *
 * Run: `npx tsc -p . && node dist/bench/protocol-parse.js`
 */
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { RequestParser } from '../protocol/parser.js';
import { ReplyEncoder } from '../protocol/encoder.js';
import { Double, PONG, ReplyMap, type Reply } from '../protocol/reply.js';

type RedisParserCtor = new (o: { returnReply: (r: unknown) => void; returnError: (e: unknown) => void; returnBuffers: boolean }) => {
  execute(b: Buffer): void;
};
const RedisParser = createRequire(import.meta.url)('redis-parser') as RedisParserCtor;

const ROUNDS = 7;
const SLICE_MS = 250;

/** Operations per second of `round` (which does `opsPerRound` operations), one timed slice. */
function rate(opsPerRound: number, round: () => void): number {
  let rounds = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < SLICE_MS) {
    for (let i = 0; i < 200; i++) round();
    rounds += 200;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  return (rounds * opsPerRound) / (elapsed / 1000);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (x: number): string => `${(x / 1e6).toFixed(2).padStart(6)} M/s`;

/** Runs the contenders alternately, ROUNDS slices each, and prints medians. */
function compare(name: string, opsPerRound: number, contenders: [string, () => void][]): void {
  for (const [, f] of contenders) for (let i = 0; i < 3000; i++) f(); // JIT warm-up
  const rates = contenders.map((): number[] => []);
  for (let r = 0; r < ROUNDS; r++) contenders.forEach(([, f], i) => rates[i].push(rate(opsPerRound, f)));
  const medians = rates.map(median);
  const line = contenders.map(([who], i) => `${who} ${fmt(medians[i])}`).join('   ');
  const ratio = medians.length > 1 ? `   ratio ${(medians[0] / medians[1]).toFixed(2)}x` : '';
  console.log(`${name.padEnd(40)} ${line}${ratio}`);
}

function chunked(command: Buffer, perChunk: number, pieces: number): Buffer[] {
  const stream = Buffer.concat(Array.from({ length: perChunk }, () => command));
  const step = Math.ceil(stream.length / pieces);
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += step) chunks.push(stream.subarray(i, i + step));
  return chunks;
}

function parseCase(name: string, command: Buffer, perChunk: number, pieces = 1): void {
  const chunks = chunked(command, perChunk, pieces);
  const parser = new RequestParser();
  let ours = 0;
  const contenders: [string, () => void][] = [
    [
      'astronaut',
      () => {
        for (const c of chunks) {
          parser.feed(c);
          while (parser.next() !== null) ours++;
        }
      },
    ],
  ];
  let theirs = 0;
  if (command[0] === 0x2a) {
    const yardstick = new RedisParser({ returnReply: () => theirs++, returnError: () => {}, returnBuffers: true });
    contenders.push(['redis-parser', () => chunks.forEach((c) => yardstick.execute(c))]);
  }
  compare(name, perChunk, contenders);
  if (ours === 0 || (contenders.length > 1 && theirs === 0)) throw new Error('parsed nothing');
}

function encodeCase(name: string, reply: Reply, perRound: number, proto: 2 | 3): void {
  const enc = new ReplyEncoder();
  let bytes = 0;
  compare(name, perRound, [
    [
      'astronaut',
      () => {
        for (let i = 0; i < perRound; i++) enc.write(reply, proto);
        bytes += enc.take().length;
      },
    ],
  ]);
  if (bytes === 0) throw new Error('encoded nothing');
}

const mbulk = (...args: (string | Buffer)[]): Buffer =>
  Buffer.concat([
    Buffer.from(`*${args.length}\r\n`),
    ...args.flatMap((a) => {
      const b = typeof a === 'string' ? Buffer.from(a) : a;
      return [Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')];
    }),
  ]);

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}; medians of ${ROUNDS} alternating ${SLICE_MS} ms slices`);
const vecAdd = mbulk('VEC.ADD', 'idx', 'id:42', 'FP32', Buffer.alloc(512, 7));
parseCase('parse PING multibulk, 16 per chunk', mbulk('PING'), 16);
parseCase('parse PING multibulk, 1 per chunk', mbulk('PING'), 1);
parseCase('parse PING inline, 16 per chunk', Buffer.from('PING\r\n'), 16);
parseCase('parse SET key value, 16 per chunk', mbulk('SET', 'key:000123', 'xxx'), 16);
parseCase('parse VEC.ADD 128-d FP32, 16 per chunk', vecAdd, 16);
parseCase('parse VEC.ADD 128-d FP32, 16 cut in 7', vecAdd, 16, 7);
encodeCase('encode +PONG, 16 per take', PONG, 16, 2);
encodeCase('encode bulk "hello world", 16 per take', 'hello world', 16, 2);
const hits = new ReplyMap(Array.from({ length: 10 }, (_, i) => [`id:${i}`, new Double(0.125 * i + 1 / 3)] as const));
encodeCase('encode 10 ids + scores, RESP3 map', hits, 1, 3);
encodeCase('encode 10 ids + scores, RESP2', hits, 1, 2);
