/**
 * The Docker engine, for the tests that use one: Testcontainers' Redis (test/support/redis-source.ts)
 * and the image and compose test (test/docker).
 *
 * FANOUT_TEST_REQUIRE_DOCKER=1 (set by .ci/run once it has started dockerd) turns "no engine" from a
 * skip or a fallback into a failure, so that CI cannot pass without having run the container paths.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

export const requireDocker = process.env.FANOUT_TEST_REQUIRE_DOCKER === '1';

export interface EngineCheck {
  ok: boolean;
  /** Why not, when !ok (the probe's error). */
  reason: string;
}

/** The socket the engine answers on: DOCKER_HOST when it is a unix:// address, else the usual one. */
export function dockerSocket(): string | undefined {
  const host = process.env.DOCKER_HOST;
  if (!host) return '/var/run/docker.sock';
  return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
}

let engine: EngineCheck | undefined;

/**
 * Whether a Docker engine answers GET /_ping, checked synchronously (tests choose `test` or `test.skip`
 * at load time) in a child node process, so no docker CLI is needed. A tcp:// DOCKER_HOST is trusted
 * as is (Testcontainers connects to it).
 */
export function dockerEngine(): EngineCheck {
  if (engine) return engine;
  const socket = dockerSocket();
  if (socket === undefined) return (engine = { ok: true, reason: `DOCKER_HOST=${process.env.DOCKER_HOST}` });
  const probe = `
    const req = require('node:http').request({ socketPath: process.argv[1], path: '/_ping', timeout: 3000 }, (res) => {
      let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => { process.stdout.write(res.statusCode + ' ' + body); process.exit(res.statusCode === 200 ? 0 : 1); });
    });
    req.on('timeout', () => { process.stdout.write('no answer within 3 s'); process.exit(1); });
    req.on('error', (e) => { process.stdout.write(e.message); process.exit(1); });
    req.end();`;
  const run = spawnSync(process.execPath, ['-e', probe, socket], { encoding: 'utf8', timeout: 10_000 });
  engine = run.status === 0 ? { ok: true, reason: '' } : { ok: false, reason: `no Docker engine answers on ${socket}: ${run.stdout || run.error?.message || `exit ${run.status}`}` };
  return engine;
}

const execFileAsync = promisify(execFile);

/** Runs the docker CLI; resolves with stdout, rejects with stderr in the message. */
export async function docker(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync('docker', args, { timeout: options.timeoutMs ?? 120_000, env: options.env ?? process.env, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`docker ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: error });
  }
}

/** Whether the image is in the engine's local store (nothing is pulled to find out). */
export async function imageExists(image: string): Promise<boolean> {
  try {
    await docker(['image', 'inspect', '--format', '{{.Id}}', image], { timeoutMs: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** The label every container the tests start carries, so .ci/run can find leftovers by it. */
export const TEST_LABEL = 'org.fanout.test';
