/** Helpers the vm verbs share: the VM table, one-name-at-a-time loops, passthrough checks, a prompt reader. */
import { InvalidArgumentError } from 'commander';
import { badRequest, BangerError } from '../../../api/errors.js';
import { parseSignal } from '../../../api/requests.js';
import type { VMInfo, VMSignal } from '../../../api/types.js';
import { ExitStatus, type CliContext } from '../../context.js';
import { age, printJson, table } from '../../render.js';

export function vmTable(vms: VMInfo[]): string {
  return table(
    vms.map((v) => [v.name, v.state, v.imageName ?? v.imageId.slice(0, 12), v.ip ?? '-', String(v.spec.vcpu), `${v.spec.memoryMiB}M`, age(v.createdAt)]),
    ['NAME', 'STATE', 'IMAGE', 'IP', 'VCPU', 'MEM', 'AGE'],
  );
}

export function noPassthrough(ctx: CliContext): void {
  if (ctx.passthrough) throw badRequest('this command takes nothing after --');
}

/** Runs fn for each name; with several names a failure is reported and the rest still run (exit 1 at the end). */
export async function eachName(ctx: CliContext, names: string[], fn: (name: string) => Promise<unknown>): Promise<void> {
  let failed: unknown;
  const results: unknown[] = [];
  for (const n of names) {
    try {
      results.push(await fn(n));
    } catch (err) {
      if (names.length === 1 || err instanceof ExitStatus) throw err;
      ctx.note(`banger: ${n}: ${(err as Error).message}`);
      failed = err;
    }
  }
  if (ctx.globals.json) printJson(ctx.io, names.length === 1 ? results[0] : results);
  if (failed) throw new ExitStatus(1);
}

export function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\n')) {
        stream.removeListener('data', onData);
        stream.pause();
        resolve(buf.split('\n')[0] ?? '');
      }
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(buf));
  });
}

/** The --signal option: a signal name or number, refused with the accepted forms. */
export function signalOption(v: string): VMSignal {
  try {
    return parseSignal(v, '--signal');
  } catch (err) {
    if (err instanceof BangerError) throw new InvalidArgumentError(`${err.message}; ${err.hint ?? ''}`.trim());
    throw err;
  }
}
