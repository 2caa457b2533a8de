/**
 * Tokens never reach a log line: the logger blanks the credential fields wherever a request or its
 * query is logged, and redactUrl strips ?access_token= (however it is spelled) from a URL before it
 * is logged. test/e2e/token-redaction.test.ts checks the same on real processes.
 */
import { Writable } from 'node:stream';
import { createLogger, redactUrl } from '@fanout/observability';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJhY21lIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

function capture(): { lines: string[]; destination: Writable } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  return { lines, destination };
}

describe('log redaction', () => {
  test('authorization headers, access_token and token fields are censored', async () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'debug', name: 'redaction-test', destination });
    logger.info({ req: { headers: { authorization: `Bearer ${TOKEN}` }, query: { access_token: TOKEN } } }, 'a request');
    logger.info({ headers: { authorization: `Bearer ${TOKEN}` }, query: { access_token: TOKEN } }, 'headers and query');
    logger.debug({ authorization: `Bearer ${TOKEN}`, access_token: TOKEN, token: TOKEN }, 'top level');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).not.toContain(TOKEN);
      expect(line).toContain('[redacted]');
    }
  });

  test('redactUrl removes the access_token value and keeps the rest of the URL', () => {
    expect(redactUrl(`/api/v1/stream/jobs/j1?access_token=${TOKEN}&lastEventId=5`)).toBe('/api/v1/stream/jobs/j1?access_token=[redacted]&lastEventId=5');
    // The auth code reads a `#` in the request target as part of the value: it is blanked with it.
    expect(redactUrl(`/api/v1/stream?subjects=job:a&ACCESS_TOKEN=${TOKEN}#x`)).toBe('/api/v1/stream?subjects=job:a&ACCESS_TOKEN=[redacted]');
    expect(redactUrl(`/api/v1/stream?subjects=job:a&access_token=#${TOKEN}`)).toBe('/api/v1/stream?subjects=job:a&access_token=[redacted]');
    expect(redactUrl('/api/v1/subjects?kind=job')).toBe('/api/v1/subjects?kind=job');
    expect(redactUrl('/api/v1/stream/jobs/j1')).toBe('/api/v1/stream/jobs/j1');
  });

  test('redactUrl blanks a token a client put in the path', () => {
    const encoded = [...TOKEN].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    expect(redactUrl(`/api/v1/stream/jobs/${TOKEN}`)).toBe('/api/v1/stream/jobs/[redacted]');
    expect(redactUrl(`/api/v1/stream/jobs/${encoded}?kind=job`)).toBe('/api/v1/stream/jobs/[redacted]?kind=job');
    expect(redactUrl(`/api/v1/stream/jobs/j3;access_token=${TOKEN}`)).toBe('/api/v1/stream/jobs/[redacted]');
    expect(redactUrl('/api/v1/stream/jobs/j3;access%5Ftoken=abc')).toBe('/api/v1/stream/jobs/[redacted]');
    // Ids and percent-escapes that carry no token stay as they are.
    expect(redactUrl('/api/v1/stream/jobs/auth-job:1;v=2')).toBe('/api/v1/stream/jobs/auth-job:1;v=2');
    expect(redactUrl('/api/v1/stream/jobs/a%20b')).toBe('/api/v1/stream/jobs/a%20b');
  });

  test('redactUrl judges each parameter by its name as decoded, as the auth code reads it, and blanks every repeat', () => {
    const encodedValue = [...TOKEN].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    const cases: [string, string][] = [
      [`?access%5Ftoken=${TOKEN}`, '?access%5Ftoken=[redacted]'],
      [`?access%5ftoken=${TOKEN}`, '?access%5ftoken=[redacted]'],
      [`?%61ccess_token=${TOKEN}`, '?%61ccess_token=[redacted]'],
      [`?%61%63%63%65%73%73%5F%74%6F%6B%65%6E=${TOKEN}&kind=job`, '?%61%63%63%65%73%73%5F%74%6F%6B%65%6E=[redacted]&kind=job'],
      [`?access_token=${encodedValue}`, '?access_token=[redacted]'],
      [`?access%5Ftoken=${TOKEN}&access_token=${TOKEN}`, '?access%5Ftoken=[redacted]&access_token=[redacted]'],
      [`?access_token=&access%5Ftoken=${TOKEN}`, '?access_token=[redacted]&access%5Ftoken=[redacted]'],
      [`??access_token=${TOKEN}`, '??access_token=[redacted]'],
      // Names the auth code does not read, but that a client carrying a token may have used.
      [`?access+token=${TOKEN}`, '?access+token=[redacted]'],
      [`?token=${TOKEN}&jwt=${TOKEN}&Authorization=Bearer+${TOKEN}`, '?token=[redacted]&jwt=[redacted]&Authorization=[redacted]'],
      // A JWT in any parameter, or as a bare parameter.
      [`?lastEventId=${TOKEN}&limit=5`, '?lastEventId=[redacted]&limit=5'],
      [`?kind=job&${TOKEN}`, '?kind=job&[redacted]'],
    ];
    for (const [query, expected] of cases) {
      expect({ query, redacted: redactUrl(`/api/v1/jobs/j1/events${query}`) }).toEqual({ query, redacted: `/api/v1/jobs/j1/events${expected}` });
    }
    expect(redactUrl('/api/v1/stream?subjects=job:a,run:b&lastEventId=AAAB.5&types=job.status')).toBe('/api/v1/stream?subjects=job:a,run:b&lastEventId=AAAB.5&types=job.status');
  });

  test('any url field of a log line is redacted, whoever logged it', async () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'debug', name: 'redaction-test', destination });
    logger.debug({ url: `/api/v1/stream/jobs/j1?access%5Ftoken=${TOKEN}` }, 'a string');
    logger.debug({ url: new URL(`http://127.0.0.1/api/v1/stream/jobs/j1?access_token=${TOKEN}`) }, 'a URL object');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).not.toContain(TOKEN.split('.')[2]);
      expect(line).toContain('[redacted]');
    }
  });
});
