export * from './archived-subject';
export * from './archived-subjects';
export * from './archive-reading-bus';
export * from './archive-store';
export * from './archiver';
