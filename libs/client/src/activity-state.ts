import { ActivityFrame, ControlFrame } from './frames';
import { safely, StreamState } from './stream-state';
import { ActivityOptions } from './types';

/** The tenant's activity as one subscription sees it: the last event id, the connection state, the application's callbacks. */
export class ActivityState extends StreamState {
  private last: string | undefined;

  constructor(private readonly options: ActivityOptions) {
    super(options);
  }

  get lastEventId(): string | undefined {
    return this.last;
  }

  /** The activity stream never completes. */
  allEnded(): boolean {
    return false;
  }

  apply(frame: Exclude<ActivityFrame, ControlFrame>): void {
    if (this.closed || this.state === 'ended') return;
    if (frame.type === 'gap') {
      const { onGap } = this.options;
      if (onGap) safely(() => onGap({ reason: frame.reason, firstAvailableSeq: frame.firstAvailableSeq }));
      return;
    }
    this.last = frame.id;
    safely(() => this.options.onUpdate(frame.update, { id: frame.id }));
  }
}
