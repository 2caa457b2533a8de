export * from './subject';
export * from './events';
export * from './state-machines';
export * from './control-frames';
export * from './problem';
export * from './http-api';
export * from './openapi';
export * from './ansi';
