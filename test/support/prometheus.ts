/**
 * Debian's Prometheus for the tests (package `prometheus`, which .ci/run installs with RUNLEVEL=1 so
 * no service starts): `promtool`, and a real server started on a free loopback port with a temporary
 * configuration and data directory, stopped by its PID. No fallback: when a binary is missing the
 * tests that need it fail and say so.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';
import { waitFor } from './wait';

/** The binary's path on PATH (or Debian's /usr/bin), or an error that says how to get it. */
export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  for (const candidate of [name, `/usr/bin/${name}`]) {
    if (spawnSync(candidate, ['--version'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new Error(`\`${name}\` is not installed: Debian's package prometheus brings it (RUNLEVEL=1 apt-get install -y prometheus; .ci/run does that)`);
}

export interface ScrapeJob {
  job: string;
  /** host:port of each /metrics target (loopback). */
  targets: string[];
}

export interface PrometheusServer {
  url: string;
  pid: number;
  /** GET /api/v1/<path> with the parameters; resolves with `data`, throws when the answer is not `success`. */
  api<T = any>(path: string, params?: Record<string, string>): Promise<T>;
  /** An instant query: the result vector (or scalar). Throws on a query error. */
  query(expr: string): Promise<{ resultType: string; result: any }>;
  log(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(options: { jobs: ScrapeJob[]; ruleFiles?: string[]; intervalSeconds?: number }): Promise<PrometheusServer> {
  const binary = prometheusBinary('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'fanout-prometheus-'));
  const interval = `${options.intervalSeconds ?? 1}s`;
  // JSON is YAML.
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: options.jobs.map((j) => ({ job_name: j.job, metrics_path: '/metrics', static_configs: [{ targets: j.targets }] })),
  };
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const port = await freePort();
  const output: string[] = [];
  const proc: ChildProcess = spawn(
    binary,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      process.kill(proc.pid!, 'SIGTERM');
      const timer = setTimeout(() => proc.exitCode === null && process.kill(proc.pid!, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`prometheus on ${url}`, async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}: ${output.join('')}`);
      return (await fetch(`${url}/-/ready`)).status === 200;
    }, 30_000, 100);
  } catch (error) {
    await stop();
    throw error;
  }
  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const qs = new URLSearchParams(params).toString();
    const answer = (await (await fetch(`${url}/api/v1/${path}${qs ? `?${qs}` : ''}`)).json()) as { status: string; data: T; error?: string; errorType?: string };
    if (answer.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${answer.errorType}: ${answer.error}`);
    return answer.data;
  };
  return {
    url,
    pid: proc.pid!,
    api,
    query: (expr) => api('query', { query: expr }),
    log: () => output.join(''),
    stop,
  };
}
