import { ConfigError, FanoutConfig, loadConfig } from '../src/config';

/** A gateway's configuration from `base` plus a test's variables, and the ConfigError a refused one throws. */
export function gatewayConfigFrom(base: Record<string, string>) {
  const configOf = (env: Record<string, string>): FanoutConfig => loadConfig('gateway', { ...base, ...env });
  const refusal = (env: Record<string, string>): ConfigError => {
    try {
      configOf(env);
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error(`${JSON.stringify(env)} was accepted`);
  };
  return { configOf, refusal };
}
