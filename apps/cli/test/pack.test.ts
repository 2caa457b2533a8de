import { LineSplitter, splitByBytes } from '../src/pack/line-splitter';
import { PackFileError, parsePack } from '../src/pack/pack-file';
import { parseEventsText } from '../src/commands/emit';
import { resolveEndpoint, tenantOfToken } from '../src/client/endpoint';
import { startStep } from '../src/pack/step-process';

describe('LineSplitter', () => {
  it('splits across chunks, keeps multi-byte characters whole, strips \\r and flushes the last partial line', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    const bytes = Buffer.from('first\r\nsecond é€\nthird, no newline');
    for (let i = 0; i < bytes.length; i += 3) splitter.write(bytes.subarray(i, i + 3));
    splitter.end();
    expect(lines).toEqual(['first', 'second é€', 'third, no newline']);
  });

  it('keeps empty lines', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    splitter.write(Buffer.from('a\n\nb\n'));
    splitter.end();
    expect(lines).toEqual(['a', '', 'b']);
  });
});

describe('splitByBytes', () => {
  it('leaves short lines alone and cuts long ones at character boundaries', () => {
    expect(splitByBytes('short', 8)).toEqual(['short']);
    const pieces = splitByBytes('€'.repeat(5), 7); // 3 bytes each
    expect(pieces).toEqual(['€€', '€€', '€']);
    for (const piece of splitByBytes('x'.repeat(20000), 8192)) expect(Buffer.byteLength(piece)).toBeLessThanOrEqual(8192);
  });
});

describe('parsePack', () => {
  it('applies defaults, durations, env layering and working directories relative to the pack file', () => {
    const pack = parsePack(
      ['name: p', 'version: 2', 'timeout: 90s', 'env: { A: 1, B: x }', 'workingDirectory: sub', 'steps:', '  - name: one', '    run: echo 1', '  - name: two', '    run: echo 2', '    timeout: 250ms', '    env: { B: y }', '    workingDirectory: ../other'].join('\n'),
      '/packs/p.yaml',
    );
    expect(pack).toMatchObject({ name: 'p', version: '2', shell: 'sh' });
    expect(pack.steps).toEqual([
      { index: 0, name: 'one', run: 'echo 1', timeoutMs: 90_000, env: { A: '1', B: 'x' }, cwd: '/packs/sub' },
      { index: 1, name: 'two', run: 'echo 2', timeoutMs: 250, env: { A: '1', B: 'y' }, cwd: '/packs/other' },
    ]);
  });

  it('names every problem of an invalid pack', () => {
    expect(() => parsePack('name: p\nsteps: []\nbogus: 1\n', '/p.yaml')).toThrow(PackFileError);
    const invalid = () => parsePack('steps:\n  - name: x\n    timeout: soon\n', '/p.yaml');
    expect(invalid).toThrow(/ {2}name: /);
    expect(invalid).toThrow(/steps\.0\.run/);
    expect(invalid).toThrow(/steps\.0\.timeout: a duration/);
    expect(() => parsePack('name: [unclosed\n', '/p.yaml')).toThrow(/not valid YAML/);
  });
});

describe('emit input and endpoints', () => {
  it('reads one event, an array, a batch object or JSON lines', () => {
    expect(parseEventsText('{"type":"a"}', 'x')).toEqual([{ type: 'a' }]);
    expect(parseEventsText('[{"type":"a"},{"type":"b"}]', 'x')).toHaveLength(2);
    expect(parseEventsText('{"events":[{"type":"a"}]}', 'x')).toEqual([{ type: 'a' }]);
    expect(parseEventsText('{"type":"a"}\n\n{"type":"b"}\n', 'x')).toEqual([{ type: 'a' }, { type: 'b' }]);
    expect(() => parseEventsText('{"type":"a"}\nnope', 'x')).toThrow(/x line 2/);
  });

  it('takes the URL, token and tenant from flags, then the environment; the tenant defaults to the token claim', () => {
    const token = `e30.${Buffer.from(JSON.stringify({ tenant: 'acme' })).toString('base64url')}.sig`;
    expect(tenantOfToken(token)).toBe('acme');
    expect(resolveEndpoint('publisher', {}, {})).toEqual({ url: 'http://127.0.0.1:8081', tenant: 'default', token: undefined });
    expect(resolveEndpoint('gateway', {}, { FANOUT_URL: 'http://h:1/' })).toMatchObject({ url: 'http://h:1' });
    expect(resolveEndpoint('gateway', {}, { FANOUT_URL: 'http://h:1', FANOUT_GATEWAY_URL: 'http://g:2' })).toMatchObject({ url: 'http://g:2' });
    expect(resolveEndpoint('publisher', { token }, {})).toMatchObject({ tenant: 'acme', token });
    expect(resolveEndpoint('publisher', { token, tenant: 't2' }, {})).toMatchObject({ tenant: 't2' });
    expect(() => resolveEndpoint('publisher', { url: 'ftp://x' }, {})).toThrow(/http/);
  });
});

describe('startStep', () => {
  const step = { index: 0, name: 'x', run: 'echo hi', timeoutMs: 10_000, env: {} };

  it('names a missing working directory, not the shell, when the step cannot start', async () => {
    const lines: string[] = [];
    const running = startStep({ ...step, cwd: '/nonexistent/fanout-test-dir' }, { shell: 'sh', env: process.env, onLine: (_, line) => lines.push(line) });
    expect((await running.done).exitCode).toBe(127);
    expect(lines).toEqual(["the step's working directory /nonexistent/fanout-test-dir does not exist (or is not a directory)"]);
  });

  it('names the shell when it is the shell that is missing', async () => {
    const lines: string[] = [];
    const running = startStep({ ...step, cwd: '/' }, { shell: 'no-such-shell-fanout', env: process.env, onLine: (_, line) => lines.push(line) });
    expect((await running.done).exitCode).toBe(127);
    expect(lines).toEqual(['no-such-shell-fanout: spawn no-such-shell-fanout ENOENT']);
  });
});
