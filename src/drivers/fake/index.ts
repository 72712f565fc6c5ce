/** The fake hypervisor driver, for tests: registered by the daemon only when fakeDriverEnabled(). */
export { FakeDriver, VMM_SCRIPT, type FakeDriverOptions } from './driver.js';
export { FAKE_DRIVER_ENV, fakeDriverEnabled, knobsFromEnv, type FakeKnobs } from './options.js';
export { BOOT_LINE, READY_LINE, CRASH_LINE, CRASH_STATUS } from './console.js';
