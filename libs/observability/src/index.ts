export * from './logger';
export * from './metrics';
export * from './replica-metrics';
