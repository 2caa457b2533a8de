import { IncomingMessage } from 'node:http';
import { GzipBody, acceptsGzip } from '@fanout/sse';

export const COMPRESSION_MODES = ['gzip', 'off'] as const;
/** `gzip`: streams answer `Content-Encoding: gzip` to clients that ask for it; `off`: never. */
export type CompressionMode = (typeof COMPRESSION_MODES)[number];
export const DEFAULT_COMPRESSION: CompressionMode = 'gzip';

/** How one stream response is encoded: its headers, and its gzip body when the client asked for one. */
export interface StreamEncoding {
  headers: Readonly<Record<string, string>>;
  gzip: GzipBody | undefined;
}

/** Each base header set with `Accept-Encoding` added to its `Vary`, made once per set (they are made once per origin). */
const varying = new WeakMap<Readonly<Record<string, string>>, Readonly<Record<string, string>>>();

function withVary(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  let result = varying.get(headers);
  if (!result) {
    const vary = headers.Vary ? `${headers.Vary}, Accept-Encoding` : 'Accept-Encoding';
    result = { ...headers, Vary: vary };
    varying.set(headers, result);
  }
  return result;
}

/**
 * The encoding of a stream for `req`. With compression on, every stream answer says
 * `Vary: Accept-Encoding` (a cache must not give a gzip body to a client that did not ask), and a
 * client whose `Accept-Encoding` takes gzip gets a gzip body.
 */
export function streamEncodingFor(mode: CompressionMode, req: IncomingMessage, headers: Readonly<Record<string, string>>): StreamEncoding {
  if (mode === 'off') return { headers, gzip: undefined };
  return { headers: withVary(headers), gzip: acceptsGzip(req.headers['accept-encoding']) ? new GzipBody() : undefined };
}
