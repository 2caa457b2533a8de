import { IncomingMessage } from 'node:http';
import { MAX_REQUEST_BYTES } from '@fanout/contracts';
import { isDirectPublishRequest, parseJsonBody, refuseEmptyBody } from '../src/direct-request';

function requestOf(method: string, url: string, headers: Record<string, string>): IncomingMessage {
  return { method, url, headers } as unknown as IncomingMessage;
}

const PLAIN = { 'content-type': 'application/json', 'content-length': '120' };

test.each([
  ['POST', '/api/v1/events', PLAIN, true],
  ['POST', '/api/v1/events?access_token=abc', PLAIN, true],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-type': 'application/json; charset=utf-8' }, true],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-type': 'APPLICATION/JSON;charset="UTF-8"' }, true],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-type': 'application/json; charset=utf8' }, true],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-encoding': 'identity' }, true],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-length': String(MAX_REQUEST_BYTES) }, true],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-length': '0' }, true],
  // Everything else is the Express route's.
  ['GET', '/api/v1/events', PLAIN, false],
  ['POST', '/api/v1/events/', PLAIN, false],
  ['POST', '/api/v1/eventsX', PLAIN, false],
  ['POST', '/api/v1/EVENTS', PLAIN, false],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-length': String(MAX_REQUEST_BYTES + 1) }, false],
  ['POST', '/api/v1/events', { 'content-type': 'application/json' }, false],
  ['POST', '/api/v1/events', { ...PLAIN, 'transfer-encoding': 'chunked' }, false],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-encoding': 'gzip' }, false],
  ['POST', '/api/v1/events', { 'content-length': '120' }, false],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-type': 'application/json; charset=utf-16' }, false],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-type': 'application/vnd.api+json' }, false],
  ['POST', '/api/v1/events', { ...PLAIN, 'content-type': 'text/plain' }, false],
])('%s %s %j: direct %s', (method, url, headers, direct) => {
  expect(isDirectPublishRequest(requestOf(method, url, headers))).toBe(direct);
});

test('a body is read as body-parser reads UTF-8 JSON', () => {
  expect(parseJsonBody(Buffer.from('{"a":1}'))).toEqual({ a: 1 });
  expect(parseJsonBody(Buffer.from('\ufeff{"a":1}'))).toEqual({ a: 1 });
  expect(() => refuseEmptyBody(Buffer.alloc(0))).toThrow(expect.objectContaining({ status: 400, detail: expect.stringMatching(/the body is empty/) }));
  expect(() => refuseEmptyBody(Buffer.from(' '))).not.toThrow();
  expect(parseJsonBody(Buffer.from('null'))).toBeNull();
  expect(() => parseJsonBody(Buffer.from(' '))).toThrow(SyntaxError);
  expect(() => parseJsonBody(Buffer.from('\ufeff\ufeff{}'))).toThrow(SyntaxError);
});
