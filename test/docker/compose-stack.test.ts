/**
 * The image and the compose stack: fanout:local is built from the Dockerfile (its registry-free
 * `runtime-prebuilt` target, by scripts/docker-images.sh app, from this checkout's build), and
 * docker-compose.yml's redis, publisher, gateway-1 and gateway-2 services run from it under docker
 * compose; a stream is served through them.
 *
 * What the test changes in the compose file, and only that: redis runs fanout-test/redis:local
 * (imported from this host's redis-server; no registry here), the fanout services use the built image
 * instead of `build: .`, the publisher's and gateways' ports are published on 127.0.0.1 on free ports
 * (the tests talk to containers through loopback only), every container is labelled org.fanout.test, and nginx and Prometheus, whose images come
 * from a registry, are left out (test/e2e/nginx-proxy.test.ts and test/prometheus run them as
 * processes). Everything else — commands, environment, healthchecks, depends_on, init — is the file's.
 *
 * Needs a Docker engine and docker compose (the plugin, or Debian's docker-compose): without them it
 * is skipped, named so, unless FANOUT_TEST_REQUIRE_DOCKER=1 (.ci/run), where it fails.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { TEST_LABEL, dockerEngine, requireDocker } from '../support/docker';
import { dataOf } from '../support/frames';
import { SseStream, closeAllStreams, openStream } from '../support/sse-client';
import { mintHs256, nowS } from '../support/tokens';
import { waitFor } from '../support/wait';

const ROOT = join(__dirname, '..', '..');
const REDIS_IMAGE = process.env.FANOUT_TEST_REDIS_IMAGE ?? 'fanout-test/redis:local';
const APP_IMAGE = process.env.FANOUT_TEST_APP_IMAGE ?? 'fanout:local';
const execFileAsync = promisify(execFile);

/** `docker compose` (the plugin) when it answers, else Debian's `docker-compose`, else undefined. */
function composeCommand(): string[] | undefined {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore', timeout: 20_000 }).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore', timeout: 20_000 }).status === 0) return ['docker-compose'];
  return undefined;
}

const engine = dockerEngine();
const compose = engine.ok ? composeCommand() : undefined;
const missing = !engine.ok ? engine.reason : !compose ? 'neither `docker compose` nor `docker-compose` runs' : undefined;
const TITLE = "the image runs the compose stack's redis, publisher and two gateways, and they serve a stream";

if (missing && requireDocker) {
  test(TITLE, () => {
    throw new Error(`FANOUT_TEST_REQUIRE_DOCKER=1 but ${missing}`);
  });
} else if (missing) {
  test.skip(`${TITLE} — skipped: ${missing}`, () => undefined);
} else {
  describe('the image and docker-compose.yml', () => {
    const project = `fanout-test-${process.pid}`;
    const dir = mkdtempSync(join(tmpdir(), 'fanout-compose-'));
    const file = join(dir, 'docker-compose.yml');
    const secret = randomBytes(32).toString('hex');
    const env = { ...process.env, FANOUT_JWT_SECRET: secret };
    let up = false;

    const run = async (args: string[], timeoutMs = 180_000): Promise<string> => {
      const [command, ...rest] = compose!;
      try {
        const { stdout } = await execFileAsync(command!, [...rest, '-p', project, '-f', file, ...args], { env, cwd: dir, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
        return stdout;
      } catch (error) {
        const e = error as { stderr?: string; message: string };
        throw new Error(`${compose!.join(' ')} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: error });
      }
    };
    /** The 127.0.0.1 port compose published for the service's container port. */
    const published = async (service: string, port: number): Promise<number> => {
      const answer = (await run(['port', service, String(port)], 30_000)).trim();
      const match = /^127\.0\.0\.1:(\d+)$/.exec(answer);
      if (!match) throw new Error(`${service}:${port} is published as ${JSON.stringify(answer)}, not on 127.0.0.1`);
      return Number(match[1]);
    };

    let publisher = 0;
    let gateways: number[] = [];

    beforeAll(async () => {
      // The images: the redis image from this host's redis-server (when missing), the app image from
      // this checkout's build (npm test has just built it) through the Dockerfile's runtime-prebuilt target.
      for (const what of ['redis', 'app']) {
        await execFileAsync('bash', [join(ROOT, 'scripts/docker-images.sh'), what], { cwd: ROOT, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 }).catch((error: { stderr?: string; message: string }) => {
          throw new Error(`scripts/docker-images.sh ${what} failed: ${error.stderr?.trim() || error.message}`, { cause: error });
        });
      }

      const source = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Record<string, unknown>>; volumes?: unknown };
      const services: Record<string, Record<string, unknown>> = {};
      for (const name of ['redis', 'publisher', 'gateway-1', 'gateway-2']) {
        const service = structuredClone(source.services[name]);
        if (!service) throw new Error(`docker-compose.yml has no service ${name}`);
        services[name] = service;
      }
      services.redis!.image = REDIS_IMAGE;
      for (const [name, port] of [['publisher', 8081], ['gateway-1', 8080], ['gateway-2', 8080]] as const) {
        const service = services[name]!;
        expect(service.build).toBe('.');
        delete service.build;
        service.image = APP_IMAGE;
        service.ports = [`127.0.0.1::${port}`];
      }
      // Labelled like every container the tests start, so that .ci/run removes any a failed run leaves.
      for (const service of Object.values(services)) service.labels = { [TEST_LABEL]: 'compose' };
      // As JSON (which is YAML): no `yes` for a YAML 1.1 reader (docker-compose v1) to take for true.
      writeFileSync(file, JSON.stringify({ services, volumes: source.volumes }, null, 2));

      up = true;
      try {
        await run(['up', '-d', '--no-build'], 240_000);
        publisher = await published('publisher', 8081);
        gateways = [await published('gateway-1', 8080), await published('gateway-2', 8080)];
        for (const port of [publisher, ...gateways]) {
          await waitFor(`/readyz on 127.0.0.1:${port}`, () => fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status === 200, () => false), 60_000, 250);
        }
      } catch (error) {
        const logs = await run(['logs', '--no-color', '--tail', '40'], 60_000).catch((e: Error) => e.message);
        throw new Error(`${(error as Error).message}\n--- compose logs ---\n${logs}`, { cause: error });
      }
    }, 600_000);

    afterAll(async () => {
      closeAllStreams();
      if (up) await run(['down', '-v', '--remove-orphans', '-t', '5'], 120_000);
      rmSync(dir, { recursive: true, force: true });
    }, 180_000);

    test(TITLE, async () => {
      const token = await mintHs256(secret, { tenant: 'acme', scope: 'stream:read events:write', exp: nowS() + 3600 });
      const auth = { Authorization: `Bearer ${token}` };
      const job = `job-${randomBytes(4).toString('hex')}`;
      const publish = async (status: string): Promise<void> => {
        const response = await fetch(`http://127.0.0.1:${publisher}/api/v1/events`, {
          method: 'POST',
          signal: AbortSignal.timeout(10_000),
          headers: { ...auth, 'Content-Type': 'application/json' },
          body: JSON.stringify({ eventId: `${job}-${status}`, tenant: 'acme', subject: { kind: 'job', id: job }, type: 'job.status', occurredAt: new Date().toISOString(), data: { status } }),
        });
        expect([response.status, await response.text()]).toEqual([202, expect.any(String)]);
      };

      await publish('pending'); // a subject exists from its first event
      const streams: SseStream[] = [];
      for (const port of gateways) {
        const stream = await openStream(`http://127.0.0.1:${port}/api/v1/stream/jobs/${job}`, { headers: auth });
        expect(stream.status).toBe(200);
        streams.push(stream);
      }
      await Promise.all(streams.map((s) => s.waitForEvents(1, 15_000)));
      for (const status of ['scheduled', 'leased', 'running', 'succeeded']) await publish(status);

      for (const stream of streams) {
        const end = await stream.waitForFrame('end', 30_000);
        expect(dataOf(end)).toMatchObject({ reason: 'completed' });
        expect(stream.eventData().map((e) => [e.seq, e.data.status])).toEqual([
          [1, 'pending'],
          [2, 'scheduled'],
          [3, 'leased'],
          [4, 'running'],
          [5, 'succeeded'],
        ]);
      }
      // The processes in the containers are the image's: the compiled CLI, as the `node` user.
      const top = await run(['top', 'gateway-1'], 30_000);
      expect(top).toMatch(/apps\/cli\/dist\/main\.js gateway/);
    }, 120_000);
  });
}
