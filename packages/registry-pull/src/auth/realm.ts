/**
 * Token-realm policy (SSRF guard, after go-containerregistry's bearer.go): the realm must be https,
 * except that plain HTTP is accepted when the realm host itself may use plain HTTP (loopback or marked
 * insecure) or shares its hostname with an insecure registry; a public registry may not point us at a
 * loopback/private/link-local realm.
 */
import { InsecureRealmError, TokenError } from "../errors.js";
import { type HostPolicy, hostname, isInternalHost } from "../http.js";

export function checkRealm(realmText: string | undefined, registryHost: string, policy: HostPolicy): URL {
  if (!realmText) throw new TokenError(`registry ${registryHost} sent a Bearer challenge without a realm`);
  let realm: URL;
  try {
    realm = new URL(realmText);
  } catch {
    throw new InsecureRealmError(`registry ${registryHost} sent an invalid token realm "${realmText}"`);
  }
  if (realm.protocol !== "https:" && realm.protocol !== "http:") {
    throw new InsecureRealmError(
      `registry ${registryHost} sent a token realm with scheme ${realm.protocol}; only https is accepted`,
    );
  }
  if (realm.username || realm.password) {
    throw new InsecureRealmError(
      `registry ${registryHost} sent a token realm with embedded credentials; refusing`,
    );
  }
  const sameHost = hostname(realm.host).toLowerCase() === hostname(registryHost).toLowerCase();
  if (realm.protocol === "http:") {
    const ok = policy.isInsecure(realm.host) || (sameHost && policy.isInsecure(registryHost));
    if (!ok) {
      throw new InsecureRealmError(
        `registry ${registryHost} asks for a token from plain-HTTP ${realm.origin}; refusing to send credentials in clear text (use an https realm, or mark ${realm.host} insecure)`,
      );
    }
  }
  if (!sameHost && isInternalHost(realm.host) && !isInternalHost(registryHost)) {
    throw new InsecureRealmError(
      `registry ${registryHost} points its token realm at internal address ${realm.host}; refusing (possible SSRF)`,
    );
  }
  return realm;
}
