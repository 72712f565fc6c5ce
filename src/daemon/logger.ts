/** Moved to src/system/logger.ts; this re-export stays until every importer uses the new path. */
export { createLogger, nullLogger, type Logger } from '../system/logger.js';
