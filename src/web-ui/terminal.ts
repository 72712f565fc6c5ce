/**
 * xterm.js over a websocket to an SSH session in the VM (through the daemon). Messages to the server:
 * binary frames are keystrokes, text frames are JSON control messages ({"resize":[cols,rows]}).
 * Copy is the browser's selection (xterm copies on Ctrl+Shift+C / the context menu); paste goes in
 * as keystrokes.
 */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';

export function openTerminal(el: HTMLElement, path: string, status: (s: string) => void): () => void {
  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, convertEol: false });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}?cols=${term.cols}&rows=${term.rows}`);
  ws.binaryType = 'arraybuffer';
  const enc = new TextEncoder();
  ws.onopen = () => {
    status('connected');
    term.focus();
  };
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') {
      const msg = JSON.parse(e.data) as { status?: string; error?: string };
      if (msg.error) status(`error: ${msg.error}`);
      else if (msg.status) status(msg.status);
    } else term.write(new Uint8Array(e.data as ArrayBuffer));
  };
  ws.onclose = () => status('disconnected');
  const onData = term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(enc.encode(d)));
  const onResize = term.onResize(({ cols, rows }) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ resize: [cols, rows] })));
  term.attachCustomKeyEventHandler((e) => {
    if (e.type === 'keydown' && e.ctrlKey && e.shiftKey && e.code === 'KeyC') {
      const sel = term.getSelection();
      if (sel) void navigator.clipboard?.writeText(sel);
      return false;
    }
    return true;
  });
  const refit = () => fit.fit();
  addEventListener('resize', refit);
  (window as unknown as { bangerTerm?: Terminal }).bangerTerm = term;
  return () => {
    removeEventListener('resize', refit);
    onData.dispose();
    onResize.dispose();
    ws.close();
    term.dispose();
  };
}
