import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, ROLES, Role, runServer } from '@fanout/server';
import { UsageError } from './client/endpoint';
import { emitCommand } from './commands/emit';
import { stopWhenNpxEnds } from './launcher-watch';
import { runPackCommand } from './commands/run-pack';
import { tailCommand } from './commands/tail';

const USAGE = `usage: fanout <command> [options]

servers
  gateway     stateless SSE gateway replica (REDIS_URL required), port 8080
  publisher   publisher worker: validates, orders, stores, publishes (REDIS_URL required), port 8081
  dev         gateway + publisher + dashboard in one process on 127.0.0.1:8080;
              the embedded in-memory bus when REDIS_URL is unset

clients (\`fanout <command> --help\` for each one's options; \`fanout --version\`)
  emit        publish events from the command line, a JSON file or stdin
  tail        follow a subject's stream (job, pack-run, run) to its end, resuming by itself
  run-pack    execute a task pack (YAML) on this machine and publish it as a pack run

Servers read their configuration from environment variables; see docs/configuration.md.
Clients read FANOUT_URL (or FANOUT_PUBLISHER_URL / FANOUT_GATEWAY_URL), FANOUT_TOKEN, FANOUT_TENANT.`;

const SERVER_SETTINGS = `Configured by environment variables only (no flags); every one is in docs/configuration.md.`;

/** `fanout <server> --help`: what the server runs and the settings it needs first. */
const SERVER_USAGE: Record<Role, string> = {
  gateway: `usage: fanout gateway

A stateless SSE gateway replica: streams, history, the dashboard at /, /healthz, /readyz, /metrics.
${SERVER_SETTINGS}
  PORT, HOST              8080, 0.0.0.0
  REDIS_URL               redis://host:port/db (required; or REDIS_CLUSTER_NODES, or REDIS_SENTINELS)
  FANOUT_AUTH             jwt (FANOUT_JWT_SECRET or FANOUT_JWKS_URL), or none bound to loopback`,
  publisher: `usage: fanout publisher

The publisher worker: POST /api/v1/events validates, orders, stores and publishes; /healthz, /readyz, /metrics.
${SERVER_SETTINGS}
  PORT, HOST              8081, 0.0.0.0
  REDIS_URL               redis://host:port/db (required; or REDIS_CLUSTER_NODES, or REDIS_SENTINELS)
  FANOUT_AUTH             jwt (FANOUT_JWT_SECRET or FANOUT_JWKS_URL), or none bound to loopback`,
  dev: `usage: fanout dev

Gateway, publisher and dashboard in one process on one port (npm start runs it).
${SERVER_SETTINGS}
  PORT, HOST              8080, 127.0.0.1
  REDIS_URL               unset: the embedded in-memory bus (nothing survives a restart)
  FANOUT_AUTH             none (the tenant is X-Tenant, else default), or jwt`,
};

/** The client commands: each resolves with its exit status. */
const CLIENT_COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  emit: emitCommand,
  tail: tailCommand,
  'run-pack': runPackCommand,
};

async function runClient(name: string, command: (args: string[]) => Promise<number>, args: string[]): Promise<void> {
  let code: number;
  try {
    code = await command(args);
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    console.error(`fanout ${name}: ${(error as Error).message}${usage ? `\n(fanout ${name} --help for usage)` : ''}`);
    code = usage ? 2 : 1;
  }
  process.exitCode = code;
  // Streams and timers of a finished command must not keep the process alive, but what it wrote
  // to a pipe must all get out first (a pipe's writes are queued once the reader falls behind).
  const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

/** The version of this package (apps/cli/package.json, beside dist/ and src/ alike). */
function version(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(args: string[]): Promise<void> {
  const role = args[0];
  if (role === '--help' || role === '-h' || role === 'help') {
    console.log(USAGE);
    return;
  }
  if (role === '--version' || role === '-V' || role === 'version') {
    console.log(`fanout ${version()}`);
    return;
  }
  const client = role === undefined ? undefined : CLIENT_COMMANDS[role];
  if (client) {
    // A reader that went away (`fanout tail … | head`) ends the command quietly.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => process.exit(error.code === 'EPIPE' ? 0 : 1));
    await runClient(role!, client, args.slice(1));
    return;
  }
  if (!ROLES.includes(role as Role)) {
    console.error(role ? `fanout: unknown command ${JSON.stringify(role)}\n\n${USAGE}` : USAGE);
    process.exit(2);
  }
  const extra = args.slice(1);
  if (extra.includes('--help') || extra.includes('-h')) {
    console.log(SERVER_USAGE[role as Role]);
    return;
  }
  if (extra.length > 0) {
    // Servers are configured by environment variables only: a flag that did nothing would mislead.
    console.error(`fanout ${role}: unexpected argument ${JSON.stringify(extra[0])}: servers read their configuration from environment variables (PORT, HOST, REDIS_URL, …; see docs/configuration.md)`);
    process.exit(2);
  }
  // From the start: an npx stopped while the server starts would otherwise leave it running.
  stopWhenNpxEnds(process.env, (why) => {
    console.error(`fanout ${role}: ${why}: stopping as on SIGTERM`);
    process.kill(process.pid, 'SIGTERM');
  });
  try {
    await runServer(role as Role, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`fanout ${role}: invalid configuration: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}

main(process.argv.slice(2)).catch((error: Error) => {
  console.error(`fanout: ${error.message}`);
  process.exit(1);
});
