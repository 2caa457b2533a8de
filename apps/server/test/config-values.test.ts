/**
 * Numbers and origins in the configuration are read strictly: what JavaScript's Number() would
 * also take is refused, timers are bounded by what a Node timer takes, and FANOUT_CORS_ORIGINS holds
 * origins as browsers send them. Each refusal is one line naming the variable.
 */
import { gatewayConfigFrom } from './config-env';

const { configOf, refusal } = gatewayConfigFrom({ FANOUT_AUTH: 'none', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' });

describe('numbers', () => {
  it.each([
    ['PORT', '0x10'],
    ['PORT', '1e3'],
    ['PORT', ' '],
    ['PORT', '80.0'],
    ['PORT', '+80'],
    ['FANOUT_RETRY_MS', ' '],
    ['FANOUT_HEARTBEAT_MS', '0x10'],
    ['FANOUT_HEARTBEAT_MS', '0'],
    ['FANOUT_IDLE_TIMEOUT_MS', '1e9'],
    ['FANOUT_MAX_CONNECTIONS', '-1'],
    ['FANOUT_HISTORY_MAXLEN', 'Infinity'],
    ['FANOUT_SHUTDOWN_GRACE_MS', '3000000000'],
    ['FANOUT_HEARTBEAT_MS', String(2 ** 31)],
    ['FANOUT_CLIENT_BUFFER_BYTES', '99999999999999999999'],
  ])('refuses %s=%j, naming it', (variable, value) => {
    const error = refusal({ [variable]: value });
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(new RegExp(`^${variable}: must be a whole number from \\d+ to \\d+ \\(got ${JSON.stringify(value).replace(/[+.*()]/g, '\\$&')}\\)$`));
  });

  it('takes whole numbers in decimal digits, up to the longest timer for delays', () => {
    expect(configOf({ PORT: '8090', FANOUT_HEARTBEAT_MS: String(2 ** 31 - 1), FANOUT_RETRY_MS: '0', FANOUT_HISTORY_MAXLEN: '007' })).toMatchObject({
      port: 8090,
      heartbeatMs: 2 ** 31 - 1,
      retryMs: 0,
      historyMaxLen: 7,
    });
  });
});

describe('FANOUT_CORS_ORIGINS', () => {
  it('holds each origin as a browser sends it', () => {
    expect(configOf({ FANOUT_CORS_ORIGINS: 'https://App.Example:443/, http://localhost:3000,http://a.example:80,,' }).corsOrigins).toEqual([
      'https://app.example',
      'http://localhost:3000',
      'http://a.example',
    ]);
    expect(configOf({ FANOUT_CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
    expect(configOf({}).corsOrigins).toEqual([]);
    expect(configOf({ FANOUT_CORS_ORIGINS: '' }).corsOrigins).toEqual([]);
  });

  it.each([
    ['notanorigin', /not a URL/],
    ['null', /not a URL/],
    ['ftp://a.example', /only http and https/],
    ['http://a.example/path', /no path/],
    ['http://a.example/?q=1', /no path, query/],
    ['http://a.example:99999', /not a URL/],
    ['http://*.example.com', /wildcard/],
    ['https://good.example,bad', /"bad" is not an origin/],
    [',', /lists no origin.*unset for none/],
    [' , ,', /lists no origin/],
  ])('refuses %j, naming it', (value, why) => {
    const error = refusal({ FANOUT_CORS_ORIGINS: value });
    expect(error.variable).toBe('FANOUT_CORS_ORIGINS');
    expect(error.message).toMatch(why);
    expect(error.message).not.toContain('\n');
  });

  it('never repeats credentials written into an origin', () => {
    expect(refusal({ FANOUT_CORS_ORIGINS: 'https://user:hunter2@a.example' }).message).not.toContain('hunter2');
  });
});

describe('FANOUT_AUTH=none and HOST', () => {
  it.each(['127.0.0.1', '127.8.9.10', 'localhost', 'LocalHost', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%s is loopback: none is taken', (host) => {
    expect(configOf({ HOST: host }).host).toBe(host);
  });

  it.each(['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', 'example.com'])('%s is not loopback: none is refused naming FANOUT_AUTH', (host) => {
    const error = refusal({ HOST: host });
    expect(error.variable).toBe('FANOUT_AUTH');
    expect(error.message).toContain(`HOST is ${host}`);
  });
});
