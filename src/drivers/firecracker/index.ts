export { FirecrackerDriver, type FirecrackerDriverOptions, type FcSnapshotFiles, kvmProblem, DEFAULT_FIRECRACKER_BIN } from './driver.js';
export { FirecrackerApi, FirecrackerApiError } from './api.js';
export { FC_FIX_HINT, parseFirecrackerVersion, versionProblem, firecrackerVersion } from './version.js';
export { ensureVmlinux, checkVmlinux, bzImagePayload, kernelFitness } from './vmlinux.js';
export { guestChannel, guestHealthy, vsockConnect } from './vsock.js';
export type { JailerOptions } from './jailer.js';
