/** Moved to src/services/artifacts/staging.ts; this re-export stays until src/daemon/services.ts imports it from there. */
export { clearStaging } from '../artifacts/staging.js';
