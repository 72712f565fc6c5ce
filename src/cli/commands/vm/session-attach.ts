/**
 * `banger vm session attach` from a terminal to a session that has one: the local terminal goes raw,
 * every key goes to the session's terminal (Ctrl-C too) except the detach keys, the session's terminal
 * follows the local size, and its recent output is shown first. Otherwise the line-based attach.
 */
import { PassThrough } from 'node:stream';
import type { ReadStream, WriteStream } from 'node:tty';
import type { VM } from '../../../sdk/vm.js';
import type { AttachResult } from '../../../sdk/sessions.js';
import type { CliContext } from '../../context.js';
import { DetachMatcher, describeDetachKeys, parseDetachKeys } from '../../detach-keys.js';

/** What a re-attach shows of the output so far: enough for a screen or two of a full-screen program. */
export const REATTACH_TAIL_BYTES = 32 * 1024;

/** Whether banger runs in a terminal it can take over (raw keys in, the session's screen out). */
export function inTerminal(ctx: CliContext): boolean {
  const stdin = ctx.io.stdin as Partial<ReadStream>;
  return Boolean(stdin.isTTY && typeof stdin.setRawMode === 'function' && ctx.io.stdout.isTTY);
}

/** The local terminal's size (24 by 80 when it does not say). */
export function terminalSize(ctx: CliContext): { rows: number; cols: number } {
  const out = ctx.io.stdout as Partial<WriteStream>;
  return { rows: out.rows || 24, cols: out.columns || 80 };
}

/** Interactive attach; resolves when the detach keys were typed or the session ended. */
export async function attachInteractive(ctx: CliContext, vm: VM, session: string, o: { detachKeys: string; tail?: boolean }): Promise<AttachResult> {
  const seq = parseDetachKeys(o.detachKeys);
  const stdin = ctx.io.stdin as ReadStream;
  const stdout = ctx.io.stdout as WriteStream;
  const detach = new AbortController();
  const matcher = new DetachMatcher(seq);
  const input = new PassThrough();
  const onData = (chunk: Buffer) => {
    const r = matcher.push(chunk);
    if (r.forward.length > 0) input.write(r.forward);
    if (r.detached) detach.abort();
  };
  let resizing: Promise<void> | undefined;
  let again = false;
  const resize = (redraw: boolean) => {
    if (resizing) {
      again = true;
      return;
    }
    resizing = vm.sessions
      .resize(session, terminalSize(ctx), { redraw })
      .catch(() => undefined)
      .finally(() => {
        resizing = undefined;
        if (again) {
          again = false;
          resize(false);
        }
      });
  };
  const onResize = () => resize(false);
  ctx.note(ctx.err.dim(`banger: attached to ${session} in ${vm.name}; ${describeDetachKeys(o.detachKeys)} detaches`));
  stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();
  stdout.on('resize', onResize);
  try {
    const attached = vm.sessions.attach(session, {
      input,
      output: stdout,
      signal: detach.signal,
      ...(o.tail ? { tail: true } : { tailBytes: REATTACH_TAIL_BYTES }),
    });
    // Its terminal takes this one's size; a full-screen program draws itself again.
    resize(true);
    return await attached;
  } finally {
    stdout.removeListener('resize', onResize);
    stdin.removeListener('data', onData);
    stdin.setRawMode(false);
    stdin.pause();
    input.end();
    await resizing;
    stdout.write('\r\n');
  }
}
