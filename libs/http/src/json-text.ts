import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { HttpProblem } from './problem';

/**
 * A body as UTF-8 bytes, refused (400) when its bytes are not text in its charset. Decoded
 * leniently, each bad byte would become U+FFFD, so two different eventIds could be stored as one.
 * A charset that is not known is a 415.
 */
export function utf8TextOf(body: Buffer, charset: string): Buffer {
  if (charset === 'utf-8') {
    if (!isUtf8(body)) throw new HttpProblem(400, 'the body is not valid UTF-8');
    return body;
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset, { fatal: true });
  } catch {
    throw new HttpProblem(415, `unsupported charset "${charset}"`);
  }
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    throw new HttpProblem(400, `the body is not valid ${charset}`);
  }
  return Buffer.from(text, 'utf8');
}

const UTF8_WITHOUT_HYPHEN = /(;\s*charset\s*=\s*"?)utf8("?\s*(?:;|$))/i;

/** `charset=utf8`, a common spelling of UTF-8 that the JSON parser does not know, as `utf-8`. */
export function withUtf8Spelled(contentType: string): string {
  return contentType.replace(UTF8_WITHOUT_HYPHEN, '$1utf-8$2');
}
