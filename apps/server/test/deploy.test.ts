/**
 * docker-compose.yml, deploy/nginx.conf, deploy/prometheus.yml and the Dockerfile, checked without a
 * Docker engine: the compose file is parsed, and every fanout service's environment must be accepted
 * by the server's own config schema (loadConfig) for its role, on the port the rest of the stack uses.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, ROLES, Role } from '../src/config';

type Json = Record<string, any>;
const ROOT = resolve(__dirname, '..', '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const compose = parse(read('docker-compose.yml'), { merge: true }) as Json;
const services = compose.services as Record<string, Json>;

/** Compose interpolation of `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `${VAR:?error}` (which refuses to start) from `env`. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_all, name: string, op: string | undefined, fallback: string | undefined) => {
    const set = env[name];
    if (op === ':-') return set ? set : (fallback ?? '');
    if (op === '-') return set !== undefined ? set : (fallback ?? '');
    if (op === ':?' && !set) throw new Error(`required variable ${name} is missing a value: ${fallback ?? ''}`);
    return set ?? '';
  });
}

/** What the operator's shell gives `docker compose up`: the secret the file requires. */
const HOST_ENV = { FANOUT_JWT_SECRET: 'x'.repeat(64) };

function environmentOf(service: Json, env: Record<string, string> = HOST_ENV): Record<string, string> {
  const raw = service.environment ?? {};
  const entries: [string, unknown][] = Array.isArray(raw) ? raw.map((line: string) => line.split(/=(.*)/s).slice(0, 2) as [string, string]) : Object.entries(raw);
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(String(value), env)]));
}

/** The variables loadConfig reads, from its source. */
const CONFIG_VARIABLES = new Set(
  ['config.ts', 'archive-config.ts'].flatMap((file) => [...read(`apps/server/src/${file}`).matchAll(/read(?:<[^(]*>)?\(\s*env,\s*'([A-Z0-9_]+)'/g)].map((m) => m[1]!)),
);

const fanoutServices = Object.entries(services).filter(([, s]) => s.build !== undefined);
const roleOf = (service: Json): Role => service.command[0] as Role;
const portsOf = (service: Json): string[] => [...(service.ports ?? []), ...(service.expose ?? [])].map(String);

describe('docker-compose.yml', () => {
  it('has redis, a publisher, two gateways, nginx and prometheus', () => {
    expect(Object.keys(services).sort()).toEqual(['gateway-1', 'gateway-2', 'nginx', 'prometheus', 'publisher', 'redis']);
    expect(fanoutServices.map(([name, s]) => `${name}:${roleOf(s)}`).sort()).toEqual(['gateway-1:gateway', 'gateway-2:gateway', 'publisher:publisher']);
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(Array.isArray(service.depends_on) ? Object.fromEntries(service.depends_on.map((d: string) => [d, 1])) : (service.depends_on ?? {}))) {
        expect(`${name} → ${dependency}: ${dependency in services}`).toBe(`${name} → ${dependency}: true`);
      }
    }
  });

  it('with FANOUT_JWT_SECRET unset, compose refuses to start every fanout service, naming it (no publicly known secret)', () => {
    for (const [, service] of fanoutServices) expect(() => environmentOf(service, {})).toThrow(/FANOUT_JWT_SECRET/);
    expect(fanoutServices.length).toBe(3);
  });

  it("every fanout service's environment passes loadConfig for its role", () => {
    expect(CONFIG_VARIABLES.size).toBeGreaterThan(10);
    for (const [name, service] of fanoutServices) {
      const role = roleOf(service);
      expect(ROLES).toContain(role);
      const env = environmentOf(service);
      const unknown = Object.keys(env).filter((key) => !CONFIG_VARIABLES.has(key));
      expect(`${name}: ${unknown.join(', ')}`).toBe(`${name}: `);
      const config = loadConfig(role, env);
      expect(config.auth.mode).toBe('jwt');
      expect(config.host).toBe('0.0.0.0');
      // The port the process listens on is the one compose exposes and the healthcheck probes.
      expect(portsOf(service).some((p) => p === String(config.port) || p.endsWith(`:${config.port}`))).toBe(true);
      expect(JSON.stringify(service.healthcheck.test)).toContain(`127.0.0.1:${config.port}/readyz`);
      // REDIS_URL names the redis service on its port.
      const redis = new URL(config.redisUrl!);
      expect(`${redis.hostname}:${redis.port}`).toBe('redis:6379');
    }
  });

  it('nginx fronts both gateways for SSE (no buffering, long reads, HTTP/1.1, Last-Event-ID) and the publisher', () => {
    const nginx = services.nginx!;
    const mount = (nginx.volumes as string[]).find((v) => v.endsWith(':/etc/nginx/nginx.conf:ro'))!;
    expect(mount).toBeDefined();
    const conf = read(mount.split(':')[0]!);
    const gatewayPorts = ['gateway-1', 'gateway-2'].map((name) => `${name}:${loadConfig('gateway', environmentOf(services[name]!)).port}`);
    const upstream = /upstream fanout_gateways \{([^}]*)\}/.exec(conf)![1]!;
    expect([...upstream.matchAll(/server (\S+?)[\s;]/g)].map((m) => m[1])).toEqual(gatewayPorts);
    expect(conf).toContain(`server publisher:${loadConfig('publisher', environmentOf(services.publisher!)).port};`);

    const streams = /location \/api\/v1\/stream \{([^}]*)\}/.exec(conf)![1]!;
    expect(streams).toMatch(/proxy_pass http:\/\/fanout_gateways;/);
    expect(streams).toMatch(/proxy_buffering off;/);
    expect(streams).toMatch(/proxy_set_header Last-Event-ID \$http_last_event_id;/);
    const readTimeout = /proxy_read_timeout (\d+)(s|m|h);/.exec(streams)!;
    const seconds = Number(readTimeout[1]) * { s: 1, m: 60, h: 3600 }[readTimeout[2] as 's' | 'm' | 'h'];
    const heartbeatS = loadConfig('gateway', environmentOf(services['gateway-1']!)).heartbeatMs / 1000;
    expect(seconds).toBeGreaterThanOrEqual(heartbeatS * 10);
    expect(conf).toMatch(/proxy_http_version 1\.1;/);
    expect(conf).toMatch(/proxy_set_header Connection "";/);
    expect(/location = \/api\/v1\/events \{([^}]*)\}/.exec(conf)![1]).toMatch(/proxy_pass http:\/\/fanout_publisher;/);
    expect(portsOf(nginx)).toContain('8080:80');
    expect(conf).toMatch(/listen 80;/);
  });

  it('prometheus scrapes both gateways and the publisher on their ports', () => {
    const mount = (services.prometheus!.volumes as string[]).find((v) => v.includes('/etc/prometheus/prometheus.yml'))!;
    const prometheus = parse(read(mount.split(':')[0]!)) as Json;
    const targets = (prometheus.scrape_configs as Json[]).flatMap((job) => {
      expect(job.metrics_path ?? '/metrics').toBe('/metrics');
      return (job.static_configs as Json[]).flatMap((c) => c.targets as string[]);
    });
    const expected = fanoutServices.map(([name, service]) => `${name}:${loadConfig(roleOf(service), environmentOf(service)).port}`);
    expect(targets.sort()).toEqual(expected.sort());
  });

  it("prometheus loads the project's alert rules (deploy/prometheus/fanout-rules.yml, mounted where rule_files says)", () => {
    const volumes = services.prometheus!.volumes as string[];
    const config = parse(read(volumes.find((v) => v.includes('/etc/prometheus/prometheus.yml'))!.split(':')[0]!)) as Json;
    const mounted = new Map(volumes.map((v) => [v.split(':')[1]!, v.split(':')[0]!.replace(/^\.\//, '')]));
    expect(config.rule_files).toEqual(['/etc/prometheus/fanout-rules.yml']);
    expect(mounted.get('/etc/prometheus/fanout-rules.yml')).toBe('deploy/prometheus/fanout-rules.yml');
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  /** The stage named `name` (its FROM line ends with `AS name`). */
  const stage = (name: string): string => stages.find((s) => new RegExp(`^\\S+ AS ${name}\\s*$`, 'm').test(s.split('\n')[0]!))!;

  it('is multi-stage; the runtime stage runs the compiled CLI as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = stages.at(-1)!;
    const user = /^USER (\S+)/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(runtime).toMatch(/^ENTRYPOINT \["node", "apps\/cli\/dist\/main\.js"\]/m);
    expect(runtime).not.toMatch(/npm (ci|install)/);
    // The registry-free target (scripts/docker-images.sh app) runs the same way.
    const prebuilt = stage('runtime-prebuilt');
    for (const line of [/^USER (\S+)$/m, /^ENTRYPOINT .*$/m, /^CMD .*$/m, /^EXPOSE .*$/m, /^ENV NODE_ENV=.*$/m]) expect(line.exec(prebuilt)?.[0]).toBe(line.exec(runtime)?.[0]);
    expect(prebuilt).not.toMatch(/^RUN /m);
    // What the entrypoint runs is what `tsc -b` builds.
    expect(JSON.parse(read('apps/cli/tsconfig.json')).compilerOptions.outDir).toBe('dist');
    expect(existsSync(join(ROOT, 'apps/cli/src/main.ts'))).toBe(true);
  });

  it('bundles the dashboard in the build stage, before the dev dependencies (esbuild) are pruned, and the runtime stage has it', () => {
    const build = stage('build');
    expect(build).toBeDefined();
    expect(build).toContain('COPY scripts/build-dashboard.js scripts/');
    const bundled = build.indexOf('node scripts/build-dashboard.js');
    expect(bundled).toBeGreaterThan(build.indexOf('npx tsc -b'));
    expect(bundled).toBeLessThan(build.indexOf('npm prune'));
    // scripts/build-dashboard.js writes into apps/gateway/dist/public, inside what the runtime copies.
    expect(stages.at(-1)!).toMatch(/^COPY --from=build .*\/app\/apps \.\/apps$/m);
  });

  it('copies every workspace manifest before npm ci (the dependency layer), and compose runs the roles it knows', () => {
    const workspaces = JSON.parse(read('package.json')).workspaces as string[];
    for (const workspace of workspaces) expect(dockerfile).toContain(`COPY ${workspace}/package.json ${workspace}/`);
    for (const [, service] of fanoutServices) expect(ROLES).toContain(roleOf(service));
  });
});
