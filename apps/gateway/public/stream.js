// One resumable SSE stream: a native EventSource (which resumes with Last-Event-ID by itself after
// a dropped connection), plus what EventSource does not do: reopening after an answer it gives up on
// (a 503 from a draining replica, a 502 from a proxy) with ?lastEventId=, and telling why it stopped.

import { ApiError, streamUrl } from './api.js';

const DOMAIN_TYPES = ['job.status', 'job.progress', 'pack_run.status', 'pack_run.step', 'pack_run.log', 'run.status', 'run.progress', 'subject.updated'];

/**
 * handlers: onEvent(data, id), onGap(data), onState(state, detail) with state one of
 * connecting | live | reconnecting | ended | error; probe(): a JSON route of the same subject whose
 * answer says why a stream was refused (401, 404, …).
 */
export function openStream(path, handlers) {
  let source;
  let lastEventId = '';
  let closed = false;
  let retryTimer;
  const retryMs = 2000;

  const setState = (state, detail) => handlers.onState(state, detail);

  const connect = () => {
    if (closed) return;
    setState(lastEventId ? 'reconnecting' : 'connecting');
    source = new EventSource(streamUrl(path, lastEventId));
    source.onopen = () => setState('live');
    source.onerror = () => {
      if (closed) return;
      if (source.readyState === EventSource.CONNECTING) {
        setState('reconnecting');
        return;
      }
      // CLOSED: the browser gave up (an answer other than 200). Find out why before deciding.
      source.close();
      whyRefused().then((verdict) => {
        if (closed) return;
        if (verdict.state === 'retry') {
          setState('reconnecting', verdict.detail);
          retryTimer = setTimeout(connect, retryMs);
        } else {
          closed = true;
          setState(verdict.state, verdict.detail);
        }
      });
    };
    for (const type of DOMAIN_TYPES) {
      source.addEventListener(type, (message) => {
        lastEventId = message.lastEventId || lastEventId;
        handlers.onEvent(JSON.parse(message.data), message.lastEventId);
      });
    }
    source.addEventListener('gap', (message) => handlers.onGap(JSON.parse(message.data)));
    source.addEventListener('end', (message) => {
      const { reason } = JSON.parse(message.data);
      if (reason === 'completed') {
        closed = true;
        source.close();
        setState('ended', 'completed');
      } else {
        // shutdown (the replica drains), idle_timeout, token_expired: the EventSource reconnects.
        setState('reconnecting', reason);
      }
    });
  };

  const whyRefused = async () => {
    try {
      await handlers.probe();
    } catch (error) {
      if (error instanceof ApiError) {
        if (error.status === 401 || error.status === 403) return { state: 'error', detail: 'auth', status: error.status };
        if (error.status === 404) return { state: 'error', detail: error.message };
        if (error.status === 400) return { state: 'error', detail: error.message };
      }
      return { state: 'retry', detail: error.message };
    }
    // The subject is there and readable: a refused stream of a readable subject is either the end
    // (204: the client already has the terminal event) or a passing failure (503, 502, 429).
    return handlers.isTerminal() ? { state: 'ended', detail: 'completed' } : { state: 'retry', detail: 'the gateway refused the stream' };
  };

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(retryTimer);
      if (source) source.close();
    },
  };
}
