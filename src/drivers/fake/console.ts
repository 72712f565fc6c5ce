/**
 * What the fake VMM writes to a VM's console log, for tests and fixtures to wait on. The boot line is
 * followed by the kernel path; the ready line comes once the guest's SSH is up (or was left out).
 *
 * @module
 */
export const BOOT_LINE = 'fake-vmm: booting kernel';
export const READY_LINE = 'fake-vmm: ready';
export const CRASH_LINE = 'fake-vmm: crashed';

/** Exit status of a VMM that crashed on purpose (crashAfterMs). */
export const CRASH_STATUS = 70;
