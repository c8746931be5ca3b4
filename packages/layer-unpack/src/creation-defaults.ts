import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, statSync, unlinkSync } from "node:fs";

/**
 * What the kernel gives a regular file created in a directory, before any fchown/fchmod: its owner and
 * which permission bits of the requested mode survive (the umask, or a default ACL's mask). Knowing it
 * lets the extractor skip the fchown and fchmod that would not change anything; most files of a
 * layer are owned by root and have a mode the umask keeps (0644, 0755), and those two syscalls are a
 * third of the per-file work on tmpfs.
 */
/** The setgid mode bit (node:fs constants has no name for it). */
export const S_ISGID = 0o2000;

export interface CreationDefaults {
  /** Owner of a new file (the filesystem uid). */
  uid: number;
  /** Group of a new file in a directory without the setgid bit (the filesystem gid). */
  gid: number;
  /** Requested permission bits that survive creation: created = requested & permMask. */
  permMask: number;
}

/**
 * Learn the defaults by creating (and removing) one probe file in `dir`. Undefined when the directory
 * is setgid and the process's own gid is unknown (no `process.getegid`): the caller then chowns and
 * chmods every file.
 */
export function probeCreationDefaults(dir: string): CreationDefaults | undefined {
  const probe = `${dir}/.strata-probe-${randomBytes(8).toString("hex")}`;
  const fd = openSync(
    probe,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o777,
  );
  let uid: number;
  let gid: number;
  let perm: number;
  try {
    const st = fstatSync(fd);
    uid = st.uid;
    gid = st.gid;
    perm = st.mode & 0o777;
  } finally {
    closeSync(fd);
    unlinkSync(probe);
  }
  // In a setgid directory the probe got the directory's group, which says nothing of our own.
  if ((statSync(dir).mode & S_ISGID) !== 0) {
    const egid = process.getegid?.();
    if (egid === undefined) return undefined;
    gid = egid;
  }
  return { uid, gid, permMask: perm };
}
