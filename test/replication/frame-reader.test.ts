import test from 'ava';
import { FRAME, FrameReader, StreamError, frame } from '../../src/replication/stream.js';

function stream(): { bytes: Buffer; frames: Array<{ type: number; payload: Buffer }> } {
  const frames = [
    { type: FRAME.RECORD, payload: Buffer.from('*1\r\n$4\r\nPING\r\n') },
    { type: FRAME.SECTION_DATA, payload: Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 255)) },
    { type: FRAME.PING, payload: Buffer.alloc(0) },
    { type: FRAME.SECTION_DATA, payload: Buffer.from('x') },
  ];
  return { bytes: Buffer.concat(frames.map((f) => frame(f.type, f.payload))), frames };
}

test('frames read back whole however the bytes were cut, payload as views of what was received', (t) => {
  const { bytes, frames } = stream();
  for (const step of [1, 2, 8, 9, 10, 333, 4096, bytes.length]) {
    const reader = new FrameReader();
    const got: Array<{ type: number; payload: Buffer; raw: Buffer; parts: number }> = [];
    const received: Buffer[] = [];
    for (let o = 0; o < bytes.length; o += step) {
      const chunk = Buffer.from(bytes.subarray(o, o + step)); // a buffer of its own, as a socket read is
      received.push(chunk);
      reader.feed(chunk);
      for (let f = reader.next(); f; f = reader.next()) {
        for (const p of f.parts) t.true(received.some((c) => c.buffer === p.buffer), 'a part is a view of a received chunk');
        got.push({ type: f.type, payload: Buffer.from(f.payload), raw: f.raw, parts: f.parts.length });
      }
    }
    t.is(reader.buffered, 0);
    t.deepEqual(got.map((f) => [f.type, f.payload]), frames.map((f) => [f.type, f.payload]), `cut every ${step} bytes`);
    t.deepEqual(Buffer.concat(got.map((f) => f.raw)), bytes);
    if (step === 1) t.is(got[1].parts, 5000);
  }
});

test('a frame whose payload does not match its checksum is refused, wherever it was cut', (t) => {
  const { bytes } = stream();
  const bad = Buffer.from(bytes);
  bad[9 + 14 + 9 + 2500] ^= 1; // inside the second frame's payload
  for (const step of [1, 700, bad.length]) {
    const reader = new FrameReader();
    t.throws(() => {
      for (let o = 0; o < bad.length; o += step) {
        reader.feed(bad.subarray(o, o + step));
        while (reader.next());
      }
    }, { instanceOf: StreamError, message: /checksum/ });
  }
});

test('a frame header is read before its payload arrives; an unknown type or a huge length is refused at once', (t) => {
  const reader = new FrameReader();
  const f = frame(FRAME.RECORD, Buffer.alloc(100, 1));
  reader.feed(f.subarray(0, 50));
  t.is(reader.next(), null);
  reader.feed(f.subarray(50));
  t.is(reader.next()!.payload.length, 100);
  const unknown = Buffer.from(f); unknown[0] = 99;
  t.throws(() => { const r = new FrameReader(); r.feed(unknown.subarray(0, 9)); r.next(); }, { instanceOf: StreamError, message: /unknown frame type/ });
  const huge = Buffer.from(f.subarray(0, 9)); huge.writeUInt32LE(0xFFFFFFFF, 1);
  t.throws(() => { const r = new FrameReader(); r.feed(huge); r.next(); }, { instanceOf: StreamError, message: /frame of/ });
});
