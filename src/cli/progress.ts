/** Renders operation events: a live stage line on a terminal, one line per stage otherwise, NDJSON with --json. */
import { OperationDetachedError } from '../api/client.js';
import type { OperationRoute, PathParams } from '../api/routes.js';
import type { OpEvent } from '../api/types.js';
import { humanSize } from '../model/size.js';
import { ExitStatus, type CliContext } from './context.js';
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

/**
 * Starts an operation, renders its progress, and handles Ctrl-C: a cancellable operation is cancelled; any other
 * is left to finish in the daemon and the CLI stops waiting (exit 130).
 */
export async function runOperation<P extends string, Req, Res>(
  ctx: CliContext,
  route: OperationRoute<P, Req, Res>,
  params: PathParams<P>,
  body?: Req,
  opts: { quiet?: boolean } = {},
): Promise<Res> {
  if (ctx.interrupt.signal.aborted) throw new ExitStatus(130);
  const client = await ctx.client();
  const r = progressRenderer(ctx, opts);
  const onSigint = () => {
    ctx.note(route.cancellable ? '\nbanger: cancelling…' : '\nbanger: stopping the wait…');
    ctx.interrupt.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    return await client.run(route, params, body, r.onEvent, ctx.interrupt.signal);
  } catch (err) {
    if (err instanceof OperationDetachedError) {
      r.finish();
      ctx.note(`banger: ${err.message}`);
      throw new ExitStatus(130);
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSigint);
    r.finish();
  }
}
