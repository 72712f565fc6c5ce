import { constants } from 'node:fs';
import type { DoctorCheck } from '../../api/types.js';
import { fail, pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';
import type { KvmProbe } from '../kvm-probe.js';

export const KVM_DEVICE = '/dev/kvm';

/** How long the doctor lets a KVM probe run. */
const PROBE_TIMEOUT_MS = 60_000;

function kvmAccessible(env: DoctorEnv): boolean {
  return env.exists(KVM_DEVICE) && env.canAccess(KVM_DEVICE, constants.R_OK | constants.W_OK);
}

export function checkKvmDevice(env: DoctorEnv): DoctorCheck {
  if (!env.exists(KVM_DEVICE)) {
    return warn(
      'kvm-device',
      [`${KVM_DEVICE} is missing: qemu falls back to TCG (works, but much slower) and firecracker cannot run`],
      'enable virtualization (VT-x/AMD-V, or nested virtualization in a VM) and load the module: modprobe kvm_intel (or kvm_amd)',
    );
  }
  if (!env.canAccess(KVM_DEVICE, constants.R_OK | constants.W_OK)) {
    const user = env.env.USER || env.env.LOGNAME || '$USER';
    return warn(
      'kvm-device',
      [`${KVM_DEVICE} exists but this user cannot read and write it: qemu falls back to TCG`],
      `sudo usermod -aG kvm ${user} (then log in again)`,
    );
  }
  return pass('kvm-device', `${KVM_DEVICE} is readable and writable`);
}

/**
 * Whether KVM really runs guests: decided by a probe that boots something small, since on some hosts
 * /dev/kvm exists and guests hang. Without a probe the answer is "not probed yet".
 */
export async function checkKvmUsable(env: DoctorEnv, probe: KvmProbe | undefined = env.kvmProbe): Promise<DoctorCheck> {
  if (!kvmAccessible(env)) return warn('kvm-usable', [`not probed: ${KVM_DEVICE} is not usable by this user (see kvm-device)`]);
  if (!probe) return warn('kvm-usable', ['not probed yet: the first VM start decides between KVM and TCG']);
  const qemuPath = env.which(env.bins.qemu);
  if (!qemuPath) return warn('kvm-usable', [`not probed: ${env.bins.qemu} not found (see qemu)`]);
  let result;
  try {
    result = await probe({ qemuPath, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  } catch (err) {
    return warn('kvm-usable', [`the KVM probe failed: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const extra = result.detail ? [result.detail] : [];
  if (result.usable) return pass('kvm-usable', 'a test guest ran with KVM', ...extra);
  if (!result.guestsBoot) {
    return fail('kvm-usable', ['qemu ran no test guest at all, neither with KVM nor with TCG', ...extra], result.fix ?? `reinstall qemu (${installCommand(['qemu'], env)})`);
  }
  return warn(
    'kvm-usable',
    ['KVM is not usable for guests here: qemu will use TCG (slow); firecracker will not work', ...extra],
    'on a virtual machine, enable nested virtualization on its host',
  );
}
