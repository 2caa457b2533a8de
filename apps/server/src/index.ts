export { ConfigError, FanoutConfig, ROLES, Role, loadConfig } from './config';
export { runServer } from './run-server';
export { RunningServer, startServer } from './server';
