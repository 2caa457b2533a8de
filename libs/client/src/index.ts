export { subscribe } from './subscribe';
export { MAX_SUBJECTS, normalizeSubjects, streamUrl } from './subjects';
export type { SubjectRef } from './subjects';
export { FRAME_NAMES, InvalidFrame, parseFrame } from './frames';
export type { StreamFrame } from './frames';
export { SeqTracker } from './seq-tracker';
export type {
  ClientError,
  ClientErrorKind,
  ConnectionState,
  EventMeta,
  EventSourceConstructor,
  EventSourceInitLike,
  EventSourceLike,
  GapNotice,
  SubscribeOptions,
} from './types';
export type { StreamedEvent, Subject } from '@fanout/contracts';
