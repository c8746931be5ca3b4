import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ProcessRef } from "@strata/lockfile";
import { removeTree } from "@strata/overlay-mount";
import { ContainerError } from "./errors.js";
import type { NetworkAttachment } from "./network.js";
import { isContainerId } from "./parse.js";

export type ContainerStatus = "created" | "running" | "exited";

/** `containers/<id>/state.json`. Written at each step, so `gc` knows what to undo after a crash. */
export interface ContainerState {
  /** 64 hex digits. */
  id: string;
  name: string;
  /** What the user asked for, and the image ID (`sha256:…`) it resolved to. */
  image: { reference: string; id: string };
  status: ContainerStatus;
  /** RFC 3339 times. */
  created: string;
  startedAt?: string;
  finishedAt?: string;
  /** Host pid (and start time) of the container's PID 1, while it runs. */
  pid?: number;
  pidStart?: string;
  /** The process that started the container and tears it down when it exits. */
  monitor?: ProcessRef;
  exitCode?: number;
  signal?: string | null;
  oomKilled?: boolean;
  /** Remove everything when the container exits (`run --rm`). */
  autoRemove: boolean;
  /** The command line that was launched. */
  args?: string[];
  hostname: string;
  runtime: "builtin" | "crun" | "runc";
  readOnly: boolean;
  /** The container read-write layer: `overlay2/<mountId>`, layerdb/mounts/<id>/{mount-id,parent}. */
  mount?: { id: string; parent: string; merged: string; mounted: boolean };
  /** The cgroup `<parent>/<id>` and its directories. */
  cgroup?: { parent: string; paths: Record<string, string> };
  network?: NetworkAttachment;
}

/** Containers' metadata on disk: `<root>/containers/<id>/` and a name index for uniqueness. */
export class StateDir {
  readonly containers: string;
  readonly names: string;

  constructor(root: string) {
    this.containers = join(root, "containers");
    this.names = join(root, "strata", "container-names");
  }

  async init(): Promise<void> {
    await mkdir(this.containers, { recursive: true, mode: 0o710 });
    await mkdir(this.names, { recursive: true, mode: 0o700 });
  }

  dir(id: string): string {
    if (!isContainerId(id)) throw new ContainerError("CONTAINER_NOT_FOUND", `'${id}' is not a container id`);
    return join(this.containers, id);
  }

  /** Claims `name` for `id` atomically (O_EXCL); NAME_IN_USE names the holder. */
  async reserveName(name: string, id: string): Promise<void> {
    try {
      await writeFile(join(this.names, name), id, { flag: "wx", mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = (await readFile(join(this.names, name), "utf8").catch(() => "")).trim();
      // a name left by a container whose directory is gone (crash between steps) is free again
      if (holder && !(await this.exists(holder))) {
        await rm(join(this.names, name), { force: true });
        return this.reserveName(name, id);
      }
      throw new ContainerError(
        "NAME_IN_USE",
        `the container name '${name}' is already used by container ${holder.slice(0, 12)}: remove it ('strata rm ${name}') or pick another name`,
      );
    }
  }

  async releaseName(name: string, id: string): Promise<void> {
    const path = join(this.names, name);
    const holder = (await readFile(path, "utf8").catch(() => "")).trim();
    if (holder === id) await rm(path, { force: true });
  }

  async nameHolder(name: string): Promise<string | undefined> {
    const holder = (await readFile(join(this.names, name), "utf8").catch(() => "")).trim();
    return holder || undefined;
  }

  async exists(id: string): Promise<boolean> {
    if (!isContainerId(id)) return false;
    return readFile(join(this.containers, id, "state.json")).then(
      () => true,
      () => false,
    );
  }

  async create(state: ContainerState): Promise<string> {
    const dir = this.dir(state.id);
    await mkdir(dir, { mode: 0o710 });
    await this.write(state);
    return dir;
  }

  /** Atomic replace (write + rename); not fsynced: the state describes live kernel objects, gone at reboot anyway. */
  async write(state: ContainerState): Promise<void> {
    const dir = this.dir(state.id);
    const tmp = join(dir, `.state-${randomBytes(6).toString("hex")}`);
    await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, join(dir, "state.json"));
  }

  async read(id: string): Promise<ContainerState> {
    const path = join(this.dir(id), "state.json");
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch {
      throw new ContainerError("CONTAINER_NOT_FOUND", `no container ${id}: 'strata ps -a' lists them`);
    }
    try {
      return JSON.parse(text) as ContainerState;
    } catch (error) {
      throw new ContainerError(
        "STATE_CORRUPT",
        `${path} is not valid JSON; remove the container with 'strata rm -f ${id.slice(0, 12)}'`,
        { cause: error },
      );
    }
  }

  async ids(): Promise<string[]> {
    const names = await readdir(this.containers).catch(() => [] as string[]);
    return names.filter(isContainerId).sort();
  }

  async remove(id: string): Promise<void> {
    await removeTree(this.dir(id));
  }
}
