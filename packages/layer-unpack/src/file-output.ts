import { closeSync, fchmodSync, fchownSync, futimesSync, writeSync } from "node:fs";

/** What a regular file gets once its data is written (`chown`/`chmod` false: it has that already). */
export interface FileMeta {
  /** The tar entry name, for error messages. */
  name: string;
  uid: number;
  gid: number;
  mode: number;
  atime: number;
  mtime: number;
  chown: boolean;
  chmod: boolean;
}

/**
 * Where the data and metadata of regular files go once the extractor has opened them. The extractor
 * keeps everything that decides names and containment; an output only writes to descriptors it is
 * given, and owns them from then on: every fd handed over is closed exactly once, by `finish` or
 * `discard`.
 */
export interface FileOutput {
  /** Append all of `chunk` to the file. */
  write(fd: number, chunk: Buffer): void;
  /** fchown, fchmod (in that order: chown clears setuid/setgid), futimes, then close. */
  finish(fd: number, meta: FileMeta): void;
  /** Close without metadata (the unpack failed). */
  discard(fd: number): void;
}

/** Synchronous writes on the calling thread (small layers, or no worker threads). */
export const syncFileOutput: FileOutput = {
  write(fd, chunk) {
    let off = 0;
    while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
  },
  finish(fd, meta) {
    try {
      if (meta.chown) fchownSync(fd, meta.uid, meta.gid);
      if (meta.chmod) fchmodSync(fd, meta.mode);
      futimesSync(fd, meta.atime, meta.mtime);
    } finally {
      closeSync(fd);
    }
  },
  discard(fd) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  },
};
