import { ConfigError, ROLES, Role, loadConfig } from './config';
import { startServer } from './server';

const USAGE = `usage: fanout <gateway|publisher|dev>

  gateway     stateless SSE gateway replica (REDIS_URL required), port 8080
  publisher   publisher worker: validates, orders, stores, publishes (REDIS_URL required), port 8081
  dev         gateway + publisher + dashboard in one process on 127.0.0.1:8080;
              the embedded in-memory bus when REDIS_URL is unset

Configuration is read from environment variables; see docs/configuration.md.`;

async function main(args: string[]): Promise<void> {
  const role = args[0];
  if (role === '--help' || role === '-h' || role === 'help') {
    console.log(USAGE);
    return;
  }
  if (!ROLES.includes(role as Role)) {
    console.error(role ? `fanout: unknown command ${JSON.stringify(role)}\n\n${USAGE}` : USAGE);
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig(role as Role, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`fanout ${role}: invalid configuration: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  const running = await startServer(config);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    running.shutdown().then(
      () => process.exit(0),
      (error: Error) => {
        console.error(`fanout ${role}: shutdown after ${signal} failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main(process.argv.slice(2)).catch((error: Error) => {
  console.error(`fanout: ${error.message}`);
  process.exit(1);
});
