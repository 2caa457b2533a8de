import { Role, loadConfig } from './config';
import { startServer } from './server';
import { isPrimaryOfWorkers, isWorkerProcess, runWorkers, workerConfig } from './workers';

/**
 * Runs this process as a fanout server of `role`, configured by `env`: the workers' primary when
 * FANOUT_WORKERS > 1, else one server that drains and exits on SIGTERM or SIGINT. Throws a
 * ConfigError, before anything starts, when the configuration is invalid.
 */
export async function runServer(role: Role, env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadConfig(role, env);
  if (isPrimaryOfWorkers(config)) {
    runWorkers(config);
    return;
  }
  const running = await startServer(workerConfig(config));
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
  // A worker whose primary is gone drains and exits rather than linger.
  if (isWorkerProcess()) process.on('disconnect', () => stop('the primary exited'));
}
