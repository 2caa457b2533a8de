import { readFileSync } from 'node:fs';
import { FanoutConfig } from './config';

/** Descriptors a process uses besides its streams and idle sockets: Redis connections, files, pipes, answers in progress. */
const OTHER_DESCRIPTORS = 256;

/** The soft limit of `Max open files` in a /proc/<pid>/limits text; undefined when absent or unlimited. */
export function openFileLimitOf(limitsText: string): number | undefined {
  const soft = /^Max open files\s+(\S+)/m.exec(limitsText)?.[1];
  return soft === undefined || !/^\d+$/.test(soft) ? undefined : Number(soft);
}

/** What a process may hold at its limits: its streams (a gateway's), its idle sockets and the rest. */
export function descriptorsAtLimits(config: Pick<FanoutConfig, 'role' | 'maxConnections' | 'maxIdleSockets'>): number {
  return (config.role === 'publisher' ? 0 : config.maxConnections) + config.maxIdleSockets + OTHER_DESCRIPTORS;
}

/**
 * Why the process's open-file limit is too low for its settings, or undefined when it is not (or
 * cannot be read: not Linux). Under it, new connections fail (EMFILE) before the limits answer 429.
 */
export function lowOpenFileLimit(config: Pick<FanoutConfig, 'role' | 'maxConnections' | 'maxIdleSockets'>, limitsText: string): { limit: number; needed: number } | undefined {
  const limit = openFileLimitOf(limitsText);
  const needed = descriptorsAtLimits(config);
  return limit !== undefined && limit < needed ? { limit, needed } : undefined;
}

export function readProcessLimits(): string {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return '';
  }
}
