/** A single Redis's REDIS_URL is checked at start: one line naming the variable, never the password. */
import { ConfigError, loadConfig } from '../src/config';

const base = { FANOUT_AUTH: 'none', HOST: '127.0.0.1' };

function messageFor(url: string): string {
  try {
    loadConfig('gateway', { ...base, REDIS_URL: url });
  } catch (error) {
    if (error instanceof ConfigError) {
      expect(error.variable).toBe('REDIS_URL');
      return error.message;
    }
    throw error;
  }
  throw new Error(`no ConfigError for ${url}`);
}

describe('REDIS_URL', () => {
  it.each(['redis://127.0.0.1:6379/0', 'redis://127.0.0.1', 'redis://redis:6379', 'redis://:secret@h:1/2', 'rediss://user:secret@h:6380/15'])('takes %s', (url) => {
    expect(loadConfig('gateway', { ...base, REDIS_URL: url }).redisUrl).toBe(url);
  });

  it.each([
    ['redis://127.0.0.1:16391/abc', /database must be a number/],
    ['redis://127.0.0.1:99999', /not a valid URL/],
    ['redis://127.0.0.1:0/0', /port must be from 1 to 65535/],
    ['redis:///0', /has no host/],
    ['http://127.0.0.1:6379', /must be a redis:\/\/host:port\/db/],
  ])('refuses %s', (url, why) => {
    const message = messageFor(url);
    expect(message).toMatch(/^REDIS_URL: /);
    expect(message).toMatch(why);
    expect(message).not.toContain('\n');
  });

  it('never repeats a password in its message', () => {
    expect(messageFor('redis://user:hunter2@127.0.0.1:99999/0')).not.toContain('hunter2');
    expect(messageFor('redis://:hunter2@127.0.0.1:6379/x')).not.toContain('hunter2');
  });
});
