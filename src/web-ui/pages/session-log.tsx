/**
 * A session's output: its last bytes, then (while it runs) what it writes, streamed from the daemon
 * (GET .../logs?follow=1). When the stream ends the session is asked how it ended; a dropped stream
 * of a session still running is picked up again at the byte it stopped at.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ErrorEnvelope } from '../../api/errors.js';
import type { SESSION_OFFSET_HEADER, SessionInfo } from '../../api/sessions.js';
import { api, ApiError, enc } from '../api.js';
import { bytes } from '../format.js';
import { ErrorBox } from './common.js';

const OFFSET_HEADER: typeof SESSION_OFFSET_HEADER = 'x-session-offset';
/** What is read first: the last this many bytes. */
const FIRST_TAIL = 256 * 1024;
/** What the view keeps (older text is dropped from the top). */
const KEEP_CHARS = 512 * 1024;

export function SessionLog({ vm, info, onEnd }: { vm: string; info: SessionInfo; onEnd: (s: SessionInfo) => void }) {
  const [text, setText] = useState('');
  const [skipped, setSkipped] = useState(0);
  const [following, setFollowing] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const pre = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  const end = useRef(onEnd);
  end.current = onEnd;
  const followAtStart = info.state === 'running';

  useEffect(() => {
    const ac = new AbortController();
    const path = `/vms/${enc(vm)}/sessions/${enc(info.name)}`;
    let offset: number | undefined;
    let shown = '';
    setText('');
    setError(undefined);
    stick.current = true;
    const read = async () => {
      for (;;) {
        const q = offset === undefined ? `tail=${FIRST_TAIL}` : `offset=${offset}`;
        const res = await fetch(`/v1${path}/logs?${q}${followAtStart ? '&follow=1' : ''}`, { signal: ac.signal });
        if (!res.ok || !res.body) throw new ApiError(res.status, (await res.json()) as ErrorEnvelope);
        if (offset === undefined) {
          offset = Number(res.headers.get(OFFSET_HEADER) ?? 0);
          setSkipped(offset);
        }
        setFollowing(followAtStart);
        const decoder = new TextDecoder();
        const reader = res.body.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          offset += value.length;
          shown = (shown + decoder.decode(value, { stream: true })).slice(-KEEP_CHARS);
          setText(shown);
        }
        setFollowing(false);
        if (!followAtStart) return;
        const now = await api.get<SessionInfo>(path);
        if (now.state !== 'running') return end.current(now);
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    read().catch((e: unknown) => {
      if (!ac.signal.aborted) {
        setFollowing(false);
        setError(e);
      }
    });
    return () => ac.abort();
  }, [vm, info.name, info.startedAt]);

  useEffect(() => {
    if (stick.current && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);
  const onScroll = () => {
    const p = pre.current;
    if (p) stick.current = p.scrollHeight - p.scrollTop - p.clientHeight < 24;
  };

  return (
    <div>
      <p class="muted" data-testid="log-status">
        {following ? 'following its output' : 'output'}
        {skipped > 0 && `; the first ${bytes(skipped)} are not shown (banger vm session logs ${vm} ${info.name})`}
      </p>
      <ErrorBox error={error} />
      <pre class="console session-log" data-testid="session-log" ref={pre} onScroll={onScroll}>
        {text || '(no output yet)'}
      </pre>
    </div>
  );
}
