/** banger's TypeScript SDK: `import { Banger } from 'banger'`. See README.md, "SDK". */
export { Banger, Images, VMs, type BangerOptions, type RunOptions, type RunResult } from './banger.js';
export { VM, type StopOptions } from './vm.js';
export { VMFiles, type FileEntry, type ReadOptions, type WriteOptions } from './files.js';
export { SSHError, type Command, type ExecOptions, type ExecResult, type ExecStream, type StdinSource } from './exec.js';
export { VMWorkspace, type PreparedWorkspace } from './workspace/vm-workspace.js';
export type { PrepareOptions, PrepareResult } from './workspace/prepare.js';
export type { ApplyResult } from './workspace/apply.js';
export type { DiffOptions } from './workspace/export.js';
export { VMSessions, type AttachOptions, type AttachResult, type SessionStartOptions } from './sessions.js';
export type { SessionInfo, SessionState } from '../api/sessions.js';
export { Operation, type CallOptions } from './operation.js';
export { BangerError, DaemonUnreachableError, ERROR_CODES, EXIT_CODES, ExecTimeoutError, OperationDetachedError, type ErrorCode } from './errors.js';
export type { CreateVMRequest, BuildImageRequest, ImageInfo, OpEvent, PingResult, RecipeInfo, SSHTarget, VMInfo, VMSpec, VMState, WorkspaceInfo } from '../api/types.js';
