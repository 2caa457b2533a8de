export * from './logger';
export * from './metrics';
export * from './replica-metrics';
export * from './throttled-warning';
export * from './console-warnings';
