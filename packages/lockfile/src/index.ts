export {
  type AcquireOptions,
  FileLock,
  type FileLockOptions,
  LockTimeoutError,
  withFileLock,
} from "./file-lock.js";
export {
  isAlive,
  ownerAlive,
  ownerToken,
  type ProcessRef,
  processRef,
  processStartTime,
} from "./process-ref.js";
