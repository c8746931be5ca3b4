import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withFileLock } from "./file-lock.js";
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
  readonly createdAt: string;
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
  allocate(owner: string, pid?: number): Promise<Lease> {
    return this.update((state) => {
      const existing = Object.values(state.leases).find((lease) => lease.owner === owner);
      if (existing) return existing;
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

  private read(): LeaseFile {
    try {
      return JSON.parse(readFileSync(this.file, "utf8")) as LeaseFile;
    } catch (error) {
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
