export {
  createGateway,
  DASHBOARD_DIR,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_TENANT,
  defaultShutdownSpreadMs,
  DEFAULT_MAX_REVOCATIONS,
  Gateway,
  GatewayOptions,
  GatewaySettings,
} from './gateway';
export {
  DEFAULT_CLIENT_BUFFER_BYTES,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HISTORY_CACHE_BYTES,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_REPLAY_PAGE_SIZE,
  DEFAULT_RETRY_MS,
  defaultConflateThresholdBytes,
  DEFAULT_RETRY_JITTER_MS,
  StreamSettings,
} from './stream-context';
export { DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT, MIN_ANSWER_BYTES_IN_FLIGHT } from './answer-budget';
export { DEFAULT_MAX_UNSENT_BYTES, MIN_MAX_UNSENT_BYTES } from './unsent-budget';
export { REVOCATION_RELOAD_MS, RevocationList, refuseRevoked } from './revocation-list';
export { COMPRESSION_MODES, CompressionMode, DEFAULT_COMPRESSION } from './stream-compression';
