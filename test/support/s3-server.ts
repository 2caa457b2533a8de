import { mkdtempSync, rmSync } from 'node:fs';
import { IncomingMessage, Server, ServerResponse, createServer, request } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
// s3rver ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => { run(): Promise<{ port: number }>; close(): Promise<void> };

const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';

export interface S3Server {
  /** The proxy in front of s3rver: what fanout is pointed at. */
  url: string;
  bucket: string;
  /** The FANOUT_ARCHIVE_* and AWS_* settings of a fanout process that archives to this server. */
  env(): Record<string, string>;
  /**
   * While on, every PUT of an object is taken (its body read) and then held without an answer: an
   * archive write under way for as long as the test wants. Off, new PUTs go through.
   */
  holdPuts(on: boolean): void;
  /** While on, every PUT of an object is answered 500 InternalError (after the SDK's own retries, a failed write). */
  failPuts(on: boolean): void;
  /** While on, every GET of an object is answered 500 InternalError (an archive that cannot be read). */
  failGets(on: boolean): void;
  /** Sends the held PUTs on to s3rver. */
  releaseHeld(): void;
  /** Ends the held PUTs' connections: those writes never happened. */
  dropHeld(): void;
  /** Resolves once a PUT is being held (at once if one is). */
  untilPutHeld(): Promise<string>;
  /** PUT requests that reached s3rver, by object key. */
  putsStored(): Map<string, number>;
  /** The object's bytes, or undefined. */
  object(key: string): Promise<Buffer | undefined>;
  exists(key: string): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * A real S3-compatible server (s3rver, files in a temporary directory) on a loopback port, behind a
 * small HTTP proxy on another, which can hold PUTs (a slow object store, to stop a writer half way).
 */
export async function startS3(bucket = 'fanout-archive'): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'fanout-s3-'));
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory });
  const { port: s3Port } = await s3rver.run();

  let holding = false;
  let failing = false;
  let failingGets = false;
  const held: { key: string; forward: () => void; drop: () => void }[] = [];
  const heldWaiters: ((key: string) => void)[] = [];
  const stored = new Map<string, number>();
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const upstream = request({ host: '127.0.0.1', port: s3Port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    upstream.end(body);
  };
  const proxy: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      const key = decodeURIComponent((req.url ?? '').split('?')[0]!.replace(`/${bucket}/`, ''));
      const isPut = req.method === 'PUT' && key !== '' && !key.startsWith('/');
      const send = (): void => {
        if (isPut) stored.set(key, (stored.get(key) ?? 0) + 1);
        forward(req, res, body);
      };
      const isGet = req.method === 'GET' && key !== '' && !key.startsWith('/');
      if ((isPut && failing) || (isGet && failingGets)) {
        res.writeHead(500, { 'Content-Type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>failing on purpose</Message></Error>');
        return;
      }
      if (isPut && holding) {
        held.push({ key, forward: send, drop: () => res.destroy() });
        for (const waiter of heldWaiters.splice(0)) waiter(key);
        return;
      }
      send();
    });
  });
  proxy.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  const client = new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));

  return {
    url,
    bucket,
    env: () => ({
      FANOUT_ARCHIVE_S3_BUCKET: bucket,
      FANOUT_ARCHIVE_S3_ENDPOINT: url,
      FANOUT_ARCHIVE_S3_FORCE_PATH_STYLE: 'true',
      FANOUT_ARCHIVE_S3_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    }),
    holdPuts(on) {
      holding = on;
    },
    failPuts(on) {
      failing = on;
    },
    failGets(on) {
      failingGets = on;
    },
    releaseHeld() {
      for (const put of held.splice(0)) put.forward();
    },
    dropHeld() {
      for (const put of held.splice(0)) put.drop();
    },
    untilPutHeld() {
      if (held.length > 0) return Promise.resolve(held[0]!.key);
      return new Promise((resolve) => heldWaiters.push(resolve));
    },
    putsStored: () => new Map(stored),
    async object(key) {
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(await answer.Body!.transformToByteArray());
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
    async exists(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (error) {
        if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
        throw error;
      }
    },
    async stop() {
      held.splice(0);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      client.destroy();
      await s3rver.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
