export * from './problem';
export * from './error-handler';
export * from './auth';
export * from './web-security';
export * from './json-body';
export * from './json-text';
