import { IncomingHttpHeaders, IncomingMessage, request } from 'node:http';
import { createGunzip } from 'node:zlib';

/** A raw stream asked for with `Accept-Encoding: gzip`: its bytes as they came, and their streaming gunzip. */
export interface GzipSseStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** Every byte of the body as it arrived (compressed when the answer is gzip). */
  readonly bytes: Buffer;
  /** The body decoded so far by a streaming gunzip (or as it came, when the answer is not gzip). */
  readonly text: string;
  /** Resolves once `predicate(text)` holds; rejects on the hang guard or when the body ended first without it. */
  waitForText(predicate: (text: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** Resolves with the decoded body once the response and the gunzip ended cleanly (trailer checked); rejects otherwise. */
  ended: Promise<string>;
  close(): void;
}

const open = new Set<GzipSseStream>();

export function closeAllGzipStreams(): void {
  for (const stream of open) stream.close();
}

export function openGzipStream(url: string, headers: Record<string, string> = {}): Promise<GzipSseStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Accept: 'text/event-stream', 'Accept-Encoding': 'gzip', ...headers }, agent: false });
    const guard = setTimeout(() => {
      req.destroy();
      reject(new Error(`no response headers from ${url} within 10 s`));
    }, 10_000);
    req.once('error', (error) => {
      clearTimeout(guard);
      reject(new Error(`GET ${url} failed: ${error.message}`));
    });
    req.once('response', (res) => {
      clearTimeout(guard);
      resolve(wrap(url, req, res));
    });
    req.end();
  });
}

function wrap(url: string, req: ReturnType<typeof request>, res: IncomingMessage): GzipSseStream {
  const chunks: Buffer[] = [];
  let text = '';
  let finished: Error | true | undefined;
  const waiters = new Set<() => void>();
  const notify = (): void => waiters.forEach((waiter) => waiter());
  const decoded = (chunk: Buffer): void => {
    text += chunk.toString();
    notify();
  };
  const finish = (outcome: Error | true): void => {
    if (finished !== undefined) return;
    finished = outcome;
    open.delete(stream);
    notify();
  };
  const gzip = res.headers['content-encoding'] === 'gzip';
  const gunzip = createGunzip();
  gunzip.on('data', decoded);
  gunzip.once('end', () => finish(true));
  gunzip.once('error', (error) => finish(new Error(`gunzip of ${url} failed: ${error.message}`)));
  res.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    if (gzip) gunzip.write(chunk);
    else decoded(chunk);
  });
  res.once('end', () => (gzip ? gunzip.end() : finish(true)));
  res.once('close', () => {
    if (!res.complete) finish(new Error(`response from ${url} closed before a clean end`));
  });
  req.on('error', () => undefined);

  const ended = new Promise<string>((resolve, reject) => {
    const check = (): void => {
      if (finished === undefined) return;
      waiters.delete(check);
      if (finished === true) resolve(text);
      else reject(finished);
    };
    waiters.add(check);
  });
  ended.catch(() => undefined);

  const stream: GzipSseStream = {
    status: res.statusCode ?? 0,
    headers: res.headers,
    get bytes() {
      return Buffer.concat(chunks);
    },
    get text() {
      return text;
    },
    waitForText(predicate, what, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${url}; decoded so far: ${text.slice(-1500)}`)), timeoutMs);
        const check = (): void => {
          if (predicate(text)) done();
          else if (finished !== undefined) done(new Error(`${url} ended before ${what}; decoded: ${text.slice(-1500)}`));
        };
        const done = (error?: Error): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve(text);
        };
        waiters.add(check);
        check();
      });
    },
    ended,
    close() {
      req.destroy();
      res.destroy();
      gunzip.destroy();
      open.delete(stream);
    },
  };
  open.add(stream);
  return stream;
}
