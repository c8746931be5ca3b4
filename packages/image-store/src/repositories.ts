import { familiarName, parseReference, type Reference } from "@strata/oci-types";
import { readOptional, writeFileAtomic } from "./atomic.js";
import { StoreError } from "./errors.js";

/** repositories.json: `{"Repositories":{"<familiarName>":{"<familiarRef>":"sha256:<imageID>"}}}` (moby refstore). */
export interface RepositoriesFile {
  Repositories: Record<string, Record<string, string>>;
}

/** The repositories.json key for a reference: `ubuntu:20.04` or `ubuntu@sha256:…` (digest wins, as moby). */
export function referenceKey(ref: Reference): { repo: string; key: string } {
  const repo = familiarName(ref);
  if (ref.digest !== undefined) return { repo, key: `${repo}@${ref.digest}` };
  return { repo, key: `${repo}:${ref.tag ?? "latest"}` };
}

/** Parse user input into its repositories.json key, or undefined when it is not a valid reference. */
export function tryReferenceKey(input: string): { repo: string; key: string } | undefined {
  try {
    return referenceKey(parseReference(input));
  } catch {
    return undefined;
  }
}

export async function readRepositories(file: string): Promise<RepositoriesFile> {
  const text = await readOptional(file);
  if (text === undefined || text.trim() === "") return { Repositories: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StoreError(
      "STORE_CORRUPT",
      `${file} is not valid JSON; restore it or remove it to drop all tags`,
      {
        cause: err,
      },
    );
  }
  const repos = (parsed as Partial<RepositoriesFile> | null)?.Repositories;
  return { Repositories: repos && typeof repos === "object" ? repos : {} };
}

export async function writeRepositories(file: string, data: RepositoriesFile, tmpDir: string): Promise<void> {
  // moby writes it through an atomic writer with mode 0600
  await writeFileAtomic(file, JSON.stringify(data), { mode: 0o600, tmpDir });
}

/** Every `key → imageID` pair, flattened. */
export function allReferences(data: RepositoriesFile): Array<{ repo: string; key: string; id: string }> {
  const out: Array<{ repo: string; key: string; id: string }> = [];
  for (const [repo, refs] of Object.entries(data.Repositories)) {
    for (const [key, id] of Object.entries(refs)) out.push({ repo, key, id });
  }
  return out;
}

export function setReference(data: RepositoriesFile, repo: string, key: string, id: string): void {
  data.Repositories[repo] ??= {};
  (data.Repositories[repo] as Record<string, string>)[key] = id;
}

export function deleteReference(data: RepositoriesFile, repo: string, key: string): boolean {
  const refs = data.Repositories[repo];
  if (!refs || !(key in refs)) return false;
  delete refs[key];
  if (Object.keys(refs).length === 0) delete data.Repositories[repo];
  return true;
}
