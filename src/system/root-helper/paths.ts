/** Where the system install's root helper listens: a root-owned directory apart from the daemon's. */
export const HELPER_RUNTIME_DIR = '/run/banger-root';
export const HELPER_SOCKET = `${HELPER_RUNTIME_DIR}/helper.sock`;
