export { QemuDriver, type QemuDriverOptions } from './driver.js';
export { qemuArgv, validateSpec } from './argv.js';
export { probeQemu, probeFingerprint, parseQemuVersion, type QemuProbeResult, type ProbeFingerprint } from './probe.js';
export { createOverlay, imageInfo, imageVirtualSize } from './overlay.js';
export { QmpClient, QmpError, withQmp } from './qmp.js';
