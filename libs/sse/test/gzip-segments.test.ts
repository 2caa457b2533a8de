import { createGunzip, gunzipSync, inflateRawSync } from 'node:zlib';
import { GZIP_HEADER, GzipBody, gzipSegmentOf } from '../src/gzip-segments';
import { endFrame, heartbeatFrame, retryFrame } from '../src/frames';

const frame = (i: number): Buffer =>
  Buffer.from(`id: e-${i}\nevent: pack_run.log\ndata: {"seq":${i},"data":{"message":"line ${i} of the build output"}}\n\n`);

test('segments of any Buffers, behind one header and before one trailer, gunzip to the Buffers joined', () => {
  const chunks = [retryFrame(2000), frame(1), Buffer.concat([frame(2), frame(3)]), heartbeatFrame(new Date(0)), frame(4)];
  const body = new GzipBody();
  const bytes = [GZIP_HEADER, ...chunks.map((chunk) => body.encode(chunk)), body.finish(endFrame('completed'))];
  expect(gunzipSync(Buffer.concat(bytes)).toString()).toBe(Buffer.concat([...chunks, endFrame('completed')]).toString());
});

test('a Buffer is compressed once, however many bodies it is written to, and its segment stands alone', () => {
  const shared = Buffer.concat([frame(1), frame(2)]);
  const a = new GzipBody();
  const b = new GzipBody();
  a.encode(frame(0));
  const first = a.encode(shared);
  expect(b.encode(shared)).toBe(first);
  expect(gzipSegmentOf(shared).deflated).toBe(first);
  // No final block and no reference to anything before it: it inflates on its own, sync-flushed.
  expect(inflateRawSync(first, { finishFlush: 2 /* Z_SYNC_FLUSH */ }).toString()).toBe(shared.toString());
  expect(first.subarray(-4)).toEqual(Buffer.from([0x00, 0x00, 0xff, 0xff]));
});

test('each body gets its own trailer: bodies written different Buffers both gunzip whole', () => {
  const a = new GzipBody();
  const b = new GzipBody();
  const bodyA = Buffer.concat([GZIP_HEADER, a.encode(frame(1)), a.encode(frame(2)), a.finish(endFrame('shutdown'))]);
  const bodyB = Buffer.concat([GZIP_HEADER, b.encode(frame(2)), b.finish(endFrame('shutdown'))]);
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
  gunzip.write(GZIP_HEADER);
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
