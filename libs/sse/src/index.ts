export * from './frames';
export * from './sse-connection';
export * from './sweep-scheduler';
