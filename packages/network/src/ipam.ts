import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withFileLock } from "@strata/lockfile";
import { NetworkError } from "./errors.js";
import type { PortMapping } from "./ports.js";
import { formatSubnet, intToIp, ipToInt, parseSubnet, type Subnet } from "./subnet.js";

export class IpamExhaustedError extends Error {
  readonly code = "IPAM_EXHAUSTED";
  override readonly name = "IpamExhaustedError";
}

export interface Lease {
  readonly address: string;
  readonly owner: string;
  /** Process that holds the container (for crash recovery), when known. */
  readonly pid?: number;
  /** That process's start time (field 22 of /proc/PID/stat), so a reused pid is not taken for the owner. */
  readonly pidStart?: string;
  readonly createdAt: string;
  /** What the attach made for this owner (written before it is made, so gc can undo a half-done attach). */
  readonly details?: LeaseDetails;
}

/** The kernel objects and rules that belong to a lease. */
export interface LeaseDetails {
  netns?: string;
  /** True when strata created the namespace (and so deletes it). */
  createdNetns?: boolean;
  hostInterface?: string;
  ports?: PortMapping[];
  hostname?: string;
}

export interface AllocateOptions {
  pid?: number;
  pidStart?: string;
  details?: LeaseDetails;
  /** Refuse (ALREADY_ATTACHED) instead of returning the lease the owner already holds. */
  unique?: boolean;
  /** Runs under the lock with the other leases before a new one is written; throw to refuse. */
  check?: (others: Lease[]) => void;
}

interface LeaseFile {
  subnet: string;
  gateway: string;
  /** Last address handed out: allocation continues after it, so a freed address is not reused at once. */
  last: string;
  leases: Record<string, Lease>;
}

export interface IpamOptions {
  /** Directory holding `leases.json` and its lock. */
  stateDir: string;
  /** e.g. "10.88.0.0/16". The first host address is the gateway. */
  subnet: string;
}

/**
 * Host-local IPAM: addresses in a subnet handed out to owners (container IDs), persisted in one
 * JSON file written atomically under a lock, so concurrent strata processes and a kill -9 at any point
 * leave a consistent state.
 */
export class Ipam {
  readonly subnet: Subnet;
  readonly gateway: string;
  private readonly file: string;
  private readonly lock: string;

  constructor(options: IpamOptions) {
    this.subnet = parseSubnet(options.subnet);
    this.gateway = intToIp(this.subnet.firstHost);
    this.file = join(options.stateDir, "leases.json");
    this.lock = join(options.stateDir, "leases.lock");
    mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  }

  /** Give `owner` an address (the same one again if it already holds one). */
  allocate(owner: string, pidOrOptions?: number | AllocateOptions): Promise<Lease> {
    const options = typeof pidOrOptions === "number" ? { pid: pidOrOptions } : (pidOrOptions ?? {});
    const { pid, pidStart, details } = options;
    return this.update((state) => {
      const existing = Object.values(state.leases).find((lease) => lease.owner === owner);
      if (existing && options.unique) {
        throw new NetworkError(
          "ALREADY_ATTACHED",
          `${owner} already holds ${existing.address} in ${formatSubnet(this.subnet)}: detach it first (or run strata gc if its owner is gone)`,
        );
      }
      if (existing) return existing;
      options.check?.(Object.values(state.leases));
      const first = this.subnet.firstHost + 1; // the gateway keeps the first host address
      const count = this.subnet.lastHost - first + 1;
      const start = ipToInt(state.last) + 1;
      for (let i = 0; i < count; i++) {
        const candidate = first + ((start - first + i + count) % count);
        const address = intToIp(candidate);
        if (!state.leases[address]) {
          const lease: Lease = {
            address,
            owner,
            createdAt: new Date().toISOString(),
            ...(pid ? { pid } : {}),
            ...(pidStart ? { pidStart } : {}),
            ...(details ? { details } : {}),
          };
          state.leases[address] = lease;
          state.last = address;
          return lease;
        }
      }
      throw new IpamExhaustedError(
        `no free address left in ${formatSubnet(this.subnet)}; remove stopped containers (strata rm) or run strata gc`,
      );
    });
  }

  /** Free every address `owner` holds. Freeing what is not held is not an error (teardown is idempotent). */
  release(owner: string): Promise<void> {
    return this.update((state) => {
      for (const [address, lease] of Object.entries(state.leases)) {
        if (lease.owner === owner) delete state.leases[address];
      }
    });
  }

  /** Free the leases whose owner `isAlive` says is gone; returns them. */
  reclaim(isAlive: (lease: Lease) => boolean): Promise<Lease[]> {
    return this.update((state) => {
      const freed = Object.values(state.leases).filter((lease) => !isAlive(lease));
      for (const lease of freed) delete state.leases[lease.address];
      return freed;
    });
  }

  async list(): Promise<Lease[]> {
    return Object.values(this.read().leases);
  }

  /** The lease `owner` holds, if any. */
  async get(owner: string): Promise<Lease | undefined> {
    return Object.values(this.read().leases).find((lease) => lease.owner === owner);
  }

  private read(): LeaseFile {
    try {
      const state = JSON.parse(readFileSync(this.file, "utf8")) as LeaseFile;
      const subnet = formatSubnet(this.subnet);
      if (state.subnet !== subnet) {
        if (Object.keys(state.leases).length > 0) {
          throw new NetworkError(
            "SUBNET_MISMATCH",
            `${this.file} holds ${Object.keys(state.leases).length} lease(s) in ${state.subnet}, not ${subnet}: remove those containers (or run strata gc) before changing the subnet`,
          );
        }
        return { subnet, gateway: this.gateway, last: this.gateway, leases: {} };
      }
      return state;
    } catch (error) {
      if (error instanceof NetworkError) throw error;
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      return { subnet: formatSubnet(this.subnet), gateway: this.gateway, last: this.gateway, leases: {} };
    }
  }

  private update<T>(change: (state: LeaseFile) => T): Promise<T> {
    return withFileLock(this.lock, () => {
      const state = this.read();
      const result = change(state);
      const temp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
      renameSync(temp, this.file);
      return result;
    });
  }
}
