/** FANOUT_MAX_IDLE_SOCKETS: 10,000 by default, a whole number ≥ 1; and the open-file limit it is checked against at start. */
import { descriptorsAtLimits, lowOpenFileLimit, openFileLimitOf } from '../src/open-file-limit';
import { gatewayConfigFrom } from './config-env';

const { configOf, refusal } = gatewayConfigFrom({ FANOUT_AUTH: 'none', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' });
const maxIdleSocketsOf = (env: Record<string, string>) => configOf(env).maxIdleSockets;

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             96367                96367                processes
Max open files            20000                65536                files
Max locked memory         8388608              8388608              bytes
`;

describe('FANOUT_MAX_IDLE_SOCKETS', () => {
  it('is 10,000 when unset or empty', () => {
    expect(maxIdleSocketsOf({})).toBe(10_000);
    expect(maxIdleSocketsOf({ FANOUT_MAX_IDLE_SOCKETS: '' })).toBe(10_000);
  });

  it('takes a whole number ≥ 1', () => {
    expect(maxIdleSocketsOf({ FANOUT_MAX_IDLE_SOCKETS: '1' })).toBe(1);
    expect(maxIdleSocketsOf({ FANOUT_MAX_IDLE_SOCKETS: '250000' })).toBe(250_000);
  });

  it.each(['0', '-1', '2.5', 'many'])('refuses %j, naming the variable', (value) => {
    expect(refusal({ FANOUT_MAX_IDLE_SOCKETS: value }).variable).toBe('FANOUT_MAX_IDLE_SOCKETS');
  });
});

describe('the open-file limit', () => {
  it('is the soft limit of /proc/self/limits; unlimited or absent is none', () => {
    expect(openFileLimitOf(LIMITS)).toBe(20_000);
    expect(openFileLimitOf(LIMITS.replace('20000', 'unlimited'))).toBeUndefined();
    expect(openFileLimitOf('')).toBeUndefined();
  });

  it("counts a gateway's streams and idle sockets, a publisher's idle sockets, and 256 more", () => {
    expect(descriptorsAtLimits({ role: 'gateway', maxConnections: 50_000, maxIdleSockets: 10_000 })).toBe(60_256);
    expect(descriptorsAtLimits({ role: 'dev', maxConnections: 100, maxIdleSockets: 10 })).toBe(366);
    expect(descriptorsAtLimits({ role: 'publisher', maxConnections: 50_000, maxIdleSockets: 10_000 })).toBe(10_256);
  });

  it('is too low when it is under what the limits may hold', () => {
    expect(lowOpenFileLimit({ role: 'gateway', maxConnections: 50_000, maxIdleSockets: 10_000 }, LIMITS)).toEqual({ limit: 20_000, needed: 60_256 });
    expect(lowOpenFileLimit({ role: 'gateway', maxConnections: 9_744, maxIdleSockets: 10_000 }, LIMITS)).toBeUndefined();
    expect(lowOpenFileLimit({ role: 'publisher', maxConnections: 50_000, maxIdleSockets: 10_000 }, LIMITS)).toBeUndefined();
    expect(lowOpenFileLimit({ role: 'gateway', maxConnections: 50_000, maxIdleSockets: 10_000 }, '')).toBeUndefined();
  });
});
