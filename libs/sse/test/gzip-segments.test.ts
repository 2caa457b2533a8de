import { constants, createGunzip, gunzipSync, inflateRawSync } from 'node:zlib';
import { deflatedAlone, GzipBody } from '../src/gzip-segments';
import { endFrame, heartbeatFrame, retryFrame } from '../src/frames';

const frame = (i: number): Buffer =>
  Buffer.from(`id: e-${i}\nevent: pack_run.log\ndata: {"seq":${i},"data":{"message":"line ${i} of the build output"}}\n\n`);

test('segments of any Buffers, the first behind the gzip header and the last before the trailer, gunzip to the Buffers joined', () => {
  const chunks = [retryFrame(2000), frame(1), Buffer.concat([frame(2), frame(3)]), heartbeatFrame(new Date(0)), frame(4)];
  const body = new GzipBody();
  const bytes = [...chunks.map((chunk) => body.encode(chunk)), body.finish(endFrame('completed'))];
  expect(bytes[0]!.subarray(0, 10)).toEqual(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]));
  expect(gunzipSync(Buffer.concat(bytes)).toString()).toBe(Buffer.concat([...chunks, endFrame('completed')]).toString());
});

test('a Buffer is compressed at most twice however many bodies it is written to: after the Buffer before it, and alone', () => {
  const before = frame(0);
  const shared = Buffer.concat([frame(1), frame(2)]);
  const [a, b, c] = [new GzipBody(), new GzipBody(), new GzipBody()];
  a.encode(before);
  b.encode(before);
  c.encode(frame(9));
  const following = a.encode(shared);
  expect(b.encode(shared)).toBe(following);
  const alone = c.encode(shared);
  expect(alone).toBe(deflatedAlone(shared));
  expect(alone).not.toBe(following);
  // After the Buffer before it, the frames it shares with that one are back-references: smaller.
  expect(following.length).toBeLessThan(alone.length);
  // Alone: no final block and nothing before it referenced; it inflates on its own, sync-flushed.
  expect(inflateRawSync(alone, { finishFlush: constants.Z_SYNC_FLUSH }).toString()).toBe(shared.toString());
  expect(alone.subarray(-4)).toEqual(Buffer.from([0x00, 0x00, 0xff, 0xff]));
  expect(following.subarray(-4)).toEqual(Buffer.from([0x00, 0x00, 0xff, 0xff]));
});

test('bodies written any sequence of shared Buffers (small, and past the 32 KiB window) each gunzip to exactly that sequence', () => {
  const pool = [
    frame(1),
    frame(2),
    Buffer.concat(Array.from({ length: 300 }, (_, i) => frame(100 + i))), // ~30 KiB
    Buffer.concat(Array.from({ length: 700 }, (_, i) => frame(1000 + i))), // past the window
    heartbeatFrame(new Date(1)),
    heartbeatFrame(new Date(2)),
    Buffer.alloc(0),
  ];
  let seed = 7;
  const next = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let body = 0; body < 40; body += 1) {
    const gzip = new GzipBody();
    const sent: Buffer[] = [];
    const bytes: Buffer[] = [];
    for (let i = 0, n = 1 + next(12); i < n; i += 1) {
      const chunk = pool[next(pool.length)]!;
      sent.push(chunk);
      bytes.push(gzip.encode(chunk));
    }
    bytes.push(gzip.finish(endFrame('completed')));
    expect(gunzipSync(Buffer.concat(bytes)).equals(Buffer.concat([...sent, endFrame('completed')]))).toBe(true);
  }
});

test('each body gets its own trailer: bodies written different Buffers both gunzip whole', () => {
  const a = new GzipBody();
  const b = new GzipBody();
  const bodyA = Buffer.concat([a.encode(frame(1)), a.encode(frame(2)), a.finish(endFrame('shutdown'))]);
  const bodyB = Buffer.concat([b.encode(frame(2)), b.finish(endFrame('shutdown'))]);
  expect(gunzipSync(bodyA).toString()).toBe(`${frame(1)}${frame(2)}${endFrame('shutdown')}`);
  expect(gunzipSync(bodyB).toString()).toBe(`${frame(2)}${endFrame('shutdown')}`);
});

test('a streaming gunzip gives out each segment as soon as it arrives (sync flush), before any end', async () => {
  const gunzip = createGunzip();
  let out = '';
  let arrived: (() => void) | undefined;
  gunzip.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    arrived?.();
  });
  const body = new GzipBody();
  let expected = '';
  for (const i of [1, 2, 3]) {
    expected += frame(i).toString();
    await new Promise<void>((resolve) => {
      const hangGuard = setTimeout(resolve, 5000);
      arrived = () => {
        if (out.length < expected.length) return;
        clearTimeout(hangGuard);
        resolve();
      };
      gunzip.write(body.encode(frame(i)));
    });
    expect(out).toBe(expected);
  }
  gunzip.destroy();
});

test('frames written to many connections alike are shared Buffers', () => {
  expect(retryFrame(2000)).toBe(retryFrame(2000));
  expect(heartbeatFrame(new Date(5))).toBe(heartbeatFrame(new Date(5)));
  expect(heartbeatFrame(new Date(6))).not.toBe(heartbeatFrame(new Date(5)));
  expect(endFrame('completed')).toBe(endFrame('completed'));
  expect(endFrame('completed').toString()).toBe('event: end\ndata: {"reason":"completed"}\n\n');
});
