/**
 * Tokens never reach a log line: the logger blanks the credential fields wherever a request or its
 * query is logged, and redactUrl strips ?access_token= from a URL before it is logged.
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
    expect(redactUrl(`/api/v1/stream?subjects=job:a&ACCESS_TOKEN=${TOKEN}#x`)).toBe('/api/v1/stream?subjects=job:a&ACCESS_TOKEN=[redacted]#x');
    expect(redactUrl('/api/v1/subjects?kind=job')).toBe('/api/v1/subjects?kind=job');
  });
});
