/** Renders operation events: a live stage line on a terminal, one line per stage otherwise, NDJSON with --json. */
import type { OpEvent } from '../api/types.js';
import { humanSize } from '../model/size.js';
import type { CliContext } from './context.js';
import { elapsed } from './render.js';

export interface ProgressRenderer {
  onEvent: (ev: OpEvent) => void;
  finish: () => void;
}

export function progressRenderer(ctx: CliContext, opts: { quiet?: boolean } = {}): ProgressRenderer {
  const { io } = ctx;
  if (ctx.globals.json) {
    return { onEvent: (ev) => io.stderr.write(JSON.stringify(ev) + '\n'), finish: () => undefined };
  }
  if (opts.quiet) return { onEvent: () => undefined, finish: () => undefined };
  const st = ctx.err;
  const live = Boolean(io.stderr.isTTY) && io.env.TERM !== 'dumb';
  const labels = new Map<string, string>();
  let current: { stage: string; label: string; t0: number; detail: string } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    if (!live || !current) return;
    const line = `  ${st.cyan('…')} ${current.label} ${st.dim(elapsed(Date.now() - current.t0))}${current.detail ? st.dim('  ' + current.detail) : ''}`;
    const width = io.stderr.columns ?? 100;
    io.stderr.write(`\r\x1b[2K${line.slice(0, width + 20)}`);
  };
  const clear = () => {
    if (live) io.stderr.write('\r\x1b[2K');
  };
  return {
    onEvent(ev) {
      switch (ev.type) {
        case 'stage':
          labels.set(ev.stage, ev.label);
          current = { stage: ev.stage, label: ev.label, t0: Date.parse(ev.at), detail: '' };
          if (live) {
            timer ??= setInterval(draw, 200);
            draw();
          }
          break;
        case 'stage_done':
          clear();
          io.stderr.write(`  ${st.green('✓')} ${labels.get(ev.stage) ?? ev.stage} ${st.dim(elapsed(ev.elapsedMs))}\n`);
          if (current?.stage === ev.stage) current = undefined;
          break;
        case 'progress':
          if (current) {
            const fmt = (n: number) => (ev.unit === 'bytes' ? humanSize(n) : String(n));
            current.detail = ev.total ? `${fmt(ev.current)}/${fmt(ev.total)}${ev.unit && ev.unit !== 'bytes' ? ' ' + ev.unit : ''}` : `${fmt(ev.current)}${ev.unit && ev.unit !== 'bytes' ? ' ' + ev.unit : ''}`;
            draw();
          }
          break;
        case 'log':
          clear();
          io.stderr.write(`  ${ev.level === 'warn' ? st.yellow('!') : st.dim('·')} ${ev.message}\n`);
          draw();
          break;
        case 'done':
        case 'error':
          clear();
          if (timer) clearInterval(timer);
          timer = undefined;
          break;
      }
    },
    finish() {
      if (timer) clearInterval(timer);
      timer = undefined;
      clear();
    },
  };
}

/** Starts an operation, renders it, and cancels it on Ctrl-C. */
export async function runOperation<T>(ctx: CliContext, method: 'POST' | 'DELETE', path: string, body: unknown, opts: { quiet?: boolean } = {}): Promise<T> {
  const client = await ctx.client();
  const r = progressRenderer(ctx, opts);
  const onSigint = () => {
    ctx.note('\nbanger: cancelling…');
    ctx.interrupt.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    return await client.run<T>(method, path, body, r.onEvent, ctx.interrupt.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
    r.finish();
  }
}
