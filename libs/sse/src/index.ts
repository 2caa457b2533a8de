export * from './accept-encoding';
export * from './frames';
export * from './gzip-segments';
export * from './sse-connection';
export * from './sweep-scheduler';
