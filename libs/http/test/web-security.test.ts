import express from 'express';
import request from 'supertest';
import { corsFor, streamHeadersFor } from '../src/web-security';

const LISTED = 'https://dash.example.test';
const OTHER = 'https://elsewhere.example.test';

function appWith(origins: string[]) {
  const app = express();
  app.use(corsFor(origins));
  app.get('/x', (_req, res) => void res.json({}));
  return app;
}

const preflight = (origins: string[], origin: string) =>
  request(appWith(origins)).options('/x').set('Origin', origin).set('Access-Control-Request-Method', 'GET').set('Access-Control-Request-Headers', 'last-event-id');

test('an origin listed by name may send credentials, on the JSON routes, their preflight and the streams', async () => {
  for (const answer of [await request(appWith([LISTED])).get('/x').set('Origin', LISTED), await preflight([LISTED], LISTED)]) {
    expect([answer.headers['access-control-allow-origin'], answer.headers['access-control-allow-credentials']]).toEqual([LISTED, 'true']);
  }
  expect(streamHeadersFor([LISTED])(LISTED)).toMatchObject({ 'Access-Control-Allow-Origin': LISTED, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' });
});

test('`*` allows any origin without credentials, also beside listed ones', async () => {
  for (const origins of [['*'], ['*', LISTED]]) {
    for (const answer of [await request(appWith(origins)).get('/x').set('Origin', OTHER), await preflight(origins, OTHER)]) {
      expect([answer.headers['access-control-allow-origin'], answer.headers['access-control-allow-credentials']]).toEqual([OTHER, undefined]);
    }
    expect(streamHeadersFor(origins)(OTHER)).toEqual(expect.objectContaining({ 'Access-Control-Allow-Origin': OTHER }));
    expect(streamHeadersFor(origins)(OTHER)['Access-Control-Allow-Credentials']).toBeUndefined();
  }
  expect(streamHeadersFor(['*', LISTED])(LISTED)['Access-Control-Allow-Credentials']).toBe('true');
});

test('once any origin is allowed every answer varies by Origin, with no Origin or another too; with none allowed, none does', async () => {
  for (const origin of [undefined, OTHER]) {
    const answer = origin === undefined ? await request(appWith([LISTED])).get('/x') : await request(appWith([LISTED])).get('/x').set('Origin', origin);
    expect([answer.headers['vary'], answer.headers['access-control-allow-origin']]).toEqual(['Origin', undefined]);
    expect(streamHeadersFor([LISTED])(origin)).toEqual({ 'X-Content-Type-Options': 'nosniff', Vary: 'Origin' });
  }
  expect((await request(appWith([])).get('/x')).headers['vary']).toBeUndefined();
  expect(streamHeadersFor([])(undefined)).toEqual({ 'X-Content-Type-Options': 'nosniff' });
  expect(streamHeadersFor([])(OTHER)).toEqual({ 'X-Content-Type-Options': 'nosniff' });
});
