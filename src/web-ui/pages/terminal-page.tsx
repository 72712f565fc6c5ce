/** The terminal page: xterm.js is loaded only here (a separate chunk), so other pages stay small. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { enc } from '../api.js';

export function TerminalPage({ name }: { name: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting…');
  useEffect(() => {
    let close: (() => void) | undefined;
    let gone = false;
    void import('../terminal.js').then(({ openTerminal }) => {
      if (gone || !ref.current) return;
      close = openTerminal(ref.current, `/terminal/${enc(name)}`, setStatus);
    });
    return () => {
      gone = true;
      close?.();
    };
  }, [name]);
  return (
    <section class="terminal-page">
      <h1>
        <a href={`#/vms/${enc(name)}`}>{name}</a>: terminal <span class="muted" data-testid="term-status">{status}</span>
      </h1>
      <div ref={ref} class="terminal" data-testid="terminal" />
    </section>
  );
}
