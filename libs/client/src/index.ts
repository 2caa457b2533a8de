export { subscribe } from './subscribe';
export { subscribeActivity } from './subscribe-activity';
export { HistoryError, history } from './history';
export type { HistoryOptions, HistoryPage } from './history';
export { activityUrl, MAX_SUBJECTS, normalizeSubjects, streamUrl } from './subjects';
export type { StreamQuery, SubjectRef } from './subjects';
export { ACTIVITY_FRAME_NAMES, FRAME_NAMES, InvalidFrame, parseActivityFrame, parseFrame } from './frames';
export type { ActivityFrame, ConflatedFrame, ControlFrame, StreamFrame } from './frames';
export { SeqTracker } from './seq-tracker';
export type {
  ActivityGap,
  ActivityOptions,
  ClientError,
  ClientErrorKind,
  ConflatedNotice,
  ConnectionState,
  EventMeta,
  EventSourceConstructor,
  EventSourceInitLike,
  EventSourceLike,
  GapNotice,
  StreamOptions,
  SubscribeOptions,
} from './types';
export type { StreamedEvent, Subject, SubjectUpdate } from '@fanout/contracts';
