import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LaunchError } from "./errors.js";
import { resolveInRoot } from "./rootfs-path.js";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** From /etc/passwd, "/" when the user has no entry (as Docker). */
  home: string;
  name?: string;
}

const ID = /^\d+$/;

function isId(value: string): boolean {
  return ID.test(value) && Number(value) <= 0xffffffff;
}

/** Parses /etc/passwd text; malformed lines are skipped (as libcontainer's parser does). */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [name = "", , uid = "", gid = "", , home = "", shell = ""] = line.split(":");
    if (!name || !isId(uid) || !isId(gid)) continue;
    entries.push({ name, uid: Number(uid), gid: Number(gid), home, shell });
  }
  return entries;
}

/** Parses /etc/group text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [name = "", , gid = "", members = ""] = line.split(":");
    if (!name || !isId(gid)) continue;
    entries.push({ name, gid: Number(gid), members: members.split(",").filter(Boolean) });
  }
  return entries;
}

function readRootfsFile(rootfs: string, path: string): string {
  try {
    return readFileSync(resolveInRoot(rootfs, path), "utf8");
  } catch {
    return ""; // no file: only numeric ids can be used
  }
}

/**
 * A file of a rootfs, or of an unmounted overlay given as its layer dirs (uppermost first): the first
 * layer holding it wins, as in the merged view (whiteouts of /etc/passwd are not looked at).
 */
function readLayeredFile(rootfs: string | readonly string[], path: string): string {
  if (typeof rootfs === "string") return readRootfsFile(rootfs, path);
  for (const dir of rootfs) {
    if (existsSync(join(dir, path))) return readRootfsFile(dir, path);
  }
  return "";
}

/**
 * Resolves a Docker `User` string (`""`, `name`, `uid`, `name:group`, `uid:gid`, …) by reading the
 * image's /etc/passwd and /etc/group in TypeScript, never through NSS (CVE-2019-14271 class).
 * Like runc: without an explicit group, the supplementary groups are the /etc/group entries that
 * list the user; `groupAdd` (names or ids) are added in any case, and the primary gid is always one
 * of the supplementary groups (moby, CVE-2022-36109).
 */
export function resolveUser(
  rootfs: string | readonly string[],
  user = "",
  groupAdd: readonly string[] = [],
): ResolvedUser {
  const passwd = parsePasswd(readLayeredFile(rootfs, "/etc/passwd"));
  const groups = parseGroup(readLayeredFile(rootfs, "/etc/group"));
  const [userPart = "", groupPart] = user.split(":", 2) as [string, string | undefined];
  const userArg = userPart === "" ? "0" : userPart;

  let entry: PasswdEntry | undefined;
  if (isId(userArg)) {
    entry = passwd.find((p) => p.uid === Number(userArg));
  } else {
    entry = passwd.find((p) => p.name === userArg);
    if (!entry) {
      throw new LaunchError(
        "USER_NOT_FOUND",
        `user '${userArg}' is not in the image's /etc/passwd; use a numeric uid or a user the image defines`,
      );
    }
  }
  const uid = entry ? entry.uid : Number(userArg);

  const findGroup = (arg: string): number => {
    if (isId(arg)) return Number(arg);
    const group = groups.find((g) => g.name === arg);
    if (!group) {
      throw new LaunchError(
        "GROUP_NOT_FOUND",
        `group '${arg}' is not in the image's /etc/group; use a numeric gid or a group the image defines`,
      );
    }
    return group.gid;
  };

  let gid = entry ? entry.gid : 0;
  const additional: number[] = [];
  if (groupPart !== undefined && groupPart !== "") {
    gid = findGroup(groupPart);
  } else if (entry) {
    for (const g of groups) if (g.members.includes(entry.name)) additional.push(g.gid);
  }
  for (const g of groupAdd) additional.push(findGroup(g));
  const result: ResolvedUser = {
    uid,
    gid,
    // the primary gid leads the list, as moby's getUser does since CVE-2022-36109
    additionalGids: [...new Set([gid, ...additional])],
    home: entry?.home || "/",
  };
  if (entry) result.name = entry.name;
  return result;
}
