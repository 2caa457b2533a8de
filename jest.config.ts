import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test'],
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  moduleNameMapper: {
    '^@fanout/(contracts|bus|sse|observability|http|client|producer|archive)$': '<rootDir>/libs/$1/src',
    '^@fanout/(gateway|publisher|server|cli)$': '<rootDir>/apps/$1/src',
  },
  testTimeout: 60_000,
  maxWorkers: 2,
};

export default config;
