export * from './archive-queue';
export * from './bus';
export * from './deadline';
export * from './keys';
export * from './logger';
export * from './options';
export {
  EventPosition,
  activityFrame,
  closeEventJson,
  dataJsonBytesOf,
  dataJsonOf,
  decodeBatchMessage,
  encodeBatchMessage,
  epochOfFrame,
  formatEventId,
  framesAfter,
  framesWithoutIds,
  eventTypeOf,
  seqOfFrame,
  splitFrames,
  idLine,
  lastPublishedAtMs,
  newEpoch,
  parseEventId,
  storedFrame,
} from './stored-frame';
export { MemoryBus } from './memory-bus';
export { RedisBus, RedisBusOptions } from './redis-bus';
export { WATCHER_KEY_TTL_MS, WATCHER_REWRITE_MS } from './redis-watchers';
export { DEFAULT_WAIT_REPLICAS, DEFAULT_WAIT_TIMEOUT_MS, ReplicationTimeoutError } from './redis-store';
export { RedisSentinelTarget, RedisTarget, describeRedisTarget, isClusterUrl, parseClusterNodes, parseClusterUrl, redisTargetOf } from './redis-connections';
export { ClusterSubscriber } from './cluster-subscriber';
export { keySlot } from './key-slot';
export { storeFailureKind } from './store-failure';
export { latestStateEntriesOf } from './state-entries';
