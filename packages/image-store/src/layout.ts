import path from "node:path";

/** Default store root, like Docker's /var/lib/docker. */
export const DEFAULT_ROOT = "/var/lib/strata";

/**
 * Every path of the store. Docker's overlay2 layout (moby `daemon/daemon.go`, `layer/filestore.go`,
 * `graphdriver/overlay2/overlay.go`) plus a `strata/` directory for what Docker keeps in memory:
 * the lock, pull leases, unpack temp dirs and the intent journal used for crash recovery.
 */
export class StoreLayout {
  readonly root: string;
  readonly imageRoot: string;
  readonly imagedbContent: string;
  readonly imagedbMetadata: string;
  readonly layerdb: string;
  readonly layerdbSha256: string;
  readonly layerdbMounts: string;
  readonly layerdbTmp: string;
  readonly repositoriesJson: string;
  readonly diffidByDigest: string;
  readonly v2metadataByDiffid: string;
  readonly overlay2: string;
  readonly linkDir: string;
  readonly strata: string;
  readonly lockFile: string;
  readonly tmp: string;
  readonly leases: string;
  readonly intents: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.imageRoot = path.join(this.root, "image", "overlay2");
    this.imagedbContent = path.join(this.imageRoot, "imagedb", "content", "sha256");
    this.imagedbMetadata = path.join(this.imageRoot, "imagedb", "metadata", "sha256");
    this.layerdb = path.join(this.imageRoot, "layerdb");
    this.layerdbSha256 = path.join(this.layerdb, "sha256");
    this.layerdbMounts = path.join(this.layerdb, "mounts");
    this.layerdbTmp = path.join(this.layerdb, "tmp");
    this.repositoriesJson = path.join(this.imageRoot, "repositories.json");
    this.diffidByDigest = path.join(this.imageRoot, "distribution", "diffid-by-digest", "sha256");
    this.v2metadataByDiffid = path.join(this.imageRoot, "distribution", "v2metadata-by-diffid", "sha256");
    this.overlay2 = path.join(this.root, "overlay2");
    this.linkDir = path.join(this.overlay2, "l");
    this.strata = path.join(this.root, "strata");
    this.lockFile = path.join(this.strata, "lock");
    this.tmp = path.join(this.strata, "tmp");
    this.leases = path.join(this.strata, "leases");
    this.intents = path.join(this.strata, "intents");
  }

  /** Directories created at open, with their modes (moby: l/ is 0700, overlay2 dirs 0710). */
  directories(): Array<[string, number]> {
    return [
      [this.imagedbContent, 0o700],
      [this.imagedbMetadata, 0o700],
      [this.layerdbSha256, 0o700],
      [this.layerdbMounts, 0o700],
      [this.layerdbTmp, 0o700],
      [this.diffidByDigest, 0o700],
      [this.v2metadataByDiffid, 0o700],
      [this.overlay2, 0o710],
      [this.linkDir, 0o700],
      [this.tmp, 0o700],
      [this.leases, 0o700],
      [this.intents, 0o700],
    ];
  }

  imageConfigFile(idHex: string): string {
    return path.join(this.imagedbContent, idHex);
  }
  imageMetadataDir(idHex: string): string {
    return path.join(this.imagedbMetadata, idHex);
  }
  layerDir(chainHex: string): string {
    return path.join(this.layerdbSha256, chainHex);
  }
  cacheDir(cacheId: string): string {
    return path.join(this.overlay2, cacheId);
  }
  diffDir(cacheId: string): string {
    return path.join(this.overlay2, cacheId, "diff");
  }
  link(lid: string): string {
    return path.join(this.linkDir, lid);
  }
}
