/**
 * `vm health`: the guest channel where the VM's driver has one (firecracker's vsock, answered by the
 * guest bits), else SSH; a guest channel that does not answer falls back to SSH and is noted.
 *
 * @module
 */
import type { SSHTarget, VMHealth } from '../../api/types.js';
import { exec as sshExec } from '../../drivers/ssh/client.js';

export async function vmHealth(target: SSHTarget, channel?: (command: 'health') => Promise<string>): Promise<VMHealth> {
  let channelError: string | undefined;
  if (channel) {
    const t0 = Date.now();
    try {
      const answer = (await channel('health')).trim();
      if (answer.startsWith('ok')) return { name: target.vm, ok: true, via: 'vsock', channelMs: Date.now() - t0 };
      channelError = `the guest channel answered "${answer.slice(0, 80)}"`;
    } catch (err) {
      channelError = (err as Error).message;
    }
  }
  const noted = channelError ? { channelError } : {};
  const t0 = Date.now();
  try {
    const r = await sshExec(target, ['true'], { timeoutMs: 15_000, connectTimeoutS: 5 });
    return r.code === 0 ? { name: target.vm, ok: true, via: 'ssh', sshMs: Date.now() - t0, ...noted } : { name: target.vm, ok: false, via: 'ssh', error: `true exited ${r.code}`, ...noted };
  } catch (err) {
    return { name: target.vm, ok: false, via: 'ssh', error: (err as Error).message, ...noted };
  }
}
