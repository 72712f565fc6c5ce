/** ext4 images made, read and changed without mounting them (e2fsprogs: mkfs.ext4, debugfs, e2fsck, resize2fs). */
export { mkfsFromDir, isExt4, roundUpMiB, type MkfsOptions } from './mkfs.js';
export { writeFiles, removeFiles, type Ext4Entry } from './write.js';
export { stat, exists, listDir, readFile, readText, rdump, type GuestStat } from './read.js';
export { checkExt4, growExt4, type FsckResult } from './maintain.js';
export { debugfsWrite, type DirEntry, type EntryType } from './debugfs.js';
export { guestPathProblem, checkGuestPath } from './guest-path.js';
export { applyInodeFixes, batchProblem, type InodeFix } from './inode-fixes.js';
