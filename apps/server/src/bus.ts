import { Bus, MemoryBus, RedisBus, describeRedisTarget, redisTargetOf } from '@fanout/bus';
import { Logger } from '@fanout/observability';
import { FanoutConfig } from './config';

const usesRedis = (config: FanoutConfig): boolean => Boolean(config.redisUrl || config.redisClusterNodes || config.redisSentinel);

/** The process's bus: Redis (single, Cluster or Sentinel-managed) when configured, else the embedded in-memory one. */
export function createBus(config: FanoutConfig, logger: Logger): Bus | RedisBus {
  const history = { historyMaxLen: config.historyMaxLen, historyTtlSeconds: config.historyTtlSeconds, subjectIdleTtlSeconds: config.subjectIdleTtlSeconds };
  const quota = { tenantMaxSubjects: config.tenantMaxSubjects };
  if (!usesRedis(config)) {
    logger.info('no REDIS_URL: using the embedded in-memory bus (one process, nothing persisted)');
    return new MemoryBus({ ...history, ...quota });
  }
  return new RedisBus({
    ...history,
    ...quota,
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    sentinel: config.redisSentinel,
    waitReplicas: config.redisWaitReplicas,
    waitTimeoutMs: config.redisWaitTimeoutMs,
    // A gateway's reads come one connection at a time: auto-pipelining would only cost it memory.
    autoPipelining: config.role !== 'gateway',
    // The publisher's appends mark finished subjects for the archive.
    archive: config.archive !== undefined && config.role !== 'gateway',
    logger,
  });
}

/** The bus as a log line names it, without a password. */
export function describeBus(config: FanoutConfig): string {
  return usesRedis(config) ? describeRedisTarget(redisTargetOf({ url: config.redisUrl, clusterNodes: config.redisClusterNodes, sentinel: config.redisSentinel })) : 'memory';
}
