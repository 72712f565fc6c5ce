/**
 * A guest session's output and input through the daemon: read (or followed while it runs) and
 * written over the VM's SSH connection, with the scripts the SDK uses too. Reading writes nothing.
 *
 * @module
 */
import { BangerError, notFound, notRunning, operationFailed } from '../../api/errors.js';
import type { SessionLogsQuery } from '../../api/sessions.js';
import type { SSHTarget } from '../../api/types.js';
import { exec as sshExec } from '../../drivers/ssh/client.js';
import { execStreaming } from '../../drivers/ssh/stream.js';
import { SESSION_ENDED, SESSION_NO_FILES, sessionOutputArgv, sessionSendArgv } from '../../model/session-output.js';

export interface SessionOutput {
  /** The byte offset in the session's output where `chunks` start. */
  offset: number;
  /** The output from there; following, until the session ends. Ending the iteration early stops the read. */
  chunks: AsyncIterable<Buffer>;
  /** Stops the read (a client went away). */
  stop: () => void;
}

const SEND_TIMEOUT_MS = 15_000;
/** The offset line comes first; anything longer is not one. */
const MAX_HEAD = 32;

function filesGone(vm: string, name: string): BangerError {
  return notFound(`session ${name} in vm ${vm} has no files in the guest`, `they were removed in the guest; forget the session with banger vm session rm ${vm} ${name}`);
}

/** Opens session `name`'s output in the guest; answers once the first byte offset is known. */
export async function openOutput(target: SSHTarget, name: string, q: SessionLogsQuery): Promise<SessionOutput> {
  const run = await execStreaming(target, sessionOutputArgv(name, { ...q, printOffset: true }));
  const it = run.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  let nl = -1;
  try {
    while (nl < 0 && head.length <= MAX_HEAD) {
      const r = await it.next();
      if (r.done) break;
      head = Buffer.concat([head, r.value]);
      nl = head.indexOf(10);
    }
  } catch (err) {
    run.stop();
    throw err;
  }
  const offset = nl > 0 ? Number(head.subarray(0, nl).toString('latin1')) : NaN;
  if (!Number.isSafeInteger(offset)) {
    run.stop();
    const { code, stderr } = await run.exit;
    if (code === SESSION_NO_FILES) throw filesGone(target.vm, name);
    throw operationFailed(`could not read the output of session ${name} in vm ${target.vm}: ${stderr.trim() || `exit status ${code}`}`);
  }
  const rest = head.subarray(nl + 1);
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      if (rest.length > 0) yield rest;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      run.stop();
    }
  }
  return { offset, chunks: chunks(), stop: () => run.stop() };
}

/** Writes `data` to session `name`'s stdin; not_running when it has ended. */
export async function sendInput(target: SSHTarget, name: string, data: string): Promise<number> {
  const r = await sshExec(target, sessionSendArgv(name), { input: data, timeoutMs: SEND_TIMEOUT_MS });
  if (r.code === SESSION_ENDED) throw notRunning(`session ${name} in vm ${target.vm} has ended`, `see its output with banger vm session logs ${target.vm} ${name}`);
  if (r.code === SESSION_NO_FILES) throw filesGone(target.vm, name);
  if (r.code !== 0) throw operationFailed(`could not write to session ${name} in vm ${target.vm}: ${r.stderr.trim() || `exit status ${r.code}`}`);
  return Buffer.byteLength(data);
}
