import { constants } from 'node:fs';
import type { DoctorCheck } from '../../api/types.js';
import { pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';

export const KVM_DEVICE = '/dev/kvm';

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
 * Whether KVM really runs guests. On some hosts /dev/kvm exists and guests crawl, so bangerd decides
 * at its first VM start by booting a tiny guest under KVM and under TCG, and caches the verdict. The
 * doctor asks the running daemon for that verdict and boots nothing itself.
 */
export async function checkKvmUsable(env: DoctorEnv): Promise<DoctorCheck> {
  let verdict;
  try {
    verdict = await env.hypervisorVerdict();
  } catch (err) {
    return warn(
      'kvm-usable',
      [`could not read bangerd's KVM verdict: ${err instanceof Error ? err.message : String(err)}`],
      'banger daemon stop (the next banger command starts a daemon of this build)',
    );
  }
  const choice = verdict?.choice ? [`hypervisor: ${verdict.choice}`] : [];
  if (verdict?.probed && verdict.current) {
    const detail = `${verdict.driver ? `${verdict.driver}: ` : ''}${verdict.reason} (probed ${verdict.probedAt})`;
    if (verdict.accel === 'kvm') return pass('kvm-usable', `a test guest ran with KVM${verdict.driver ? ` under ${verdict.driver}` : ''}`, [detail, ...choice].join('; '));
    return warn(
      'kvm-usable',
      ['KVM is not usable for guests here: qemu uses TCG (slow); firecracker will not work', detail, ...choice],
      'on a virtual machine, enable nested virtualization on its host',
    );
  }
  const why = !verdict
    ? 'bangerd is not running'
    : !verdict.probed
      ? 'bangerd has not started a VM yet'
      : `${verdict.driver ?? 'QEMU'}, the kernel or ${KVM_DEVICE} changed since bangerd's ${verdict.accel} verdict of ${verdict.probedAt}`;
  return warn('kvm-usable', [
    `not probed yet: ${why}; the next VM start decides between KVM and TCG`,
    ...choice,
    ...(kvmAccessible(env) ? [] : [`${KVM_DEVICE} is not usable by this user (see kvm-device): expect TCG`]),
  ]);
}
