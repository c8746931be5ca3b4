import { describe, expect, it } from "vitest";
import { InvalidDigestError } from "./errors.js";
import { chainId, chainIds, imageIdOf } from "./identity.js";

// DiffIDs are sha256 of "a", "b", "c"; expected values computed with sha256sum in a shell:
// printf "%s %s" "$A" "$B" | sha256sum
const A = "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
const B = "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
const C = "sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6";
const AB = "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676";
const ABC = "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106";

describe("chainIds / chainId", () => {
  it.each([
    [[], [], ""],
    [[A], [A], A],
    [[A, B], [A, AB], AB],
    [[A, B, C], [A, AB, ABC], ABC],
  ])("%j", (diffIds, ids, id) => {
    expect(chainIds(diffIds)).toEqual(ids);
    expect(chainId(diffIds)).toBe(id);
  });

  it("depends on layer order", () => {
    expect(chainId([B, A])).not.toBe(chainId([A, B]));
  });

  it.each([["sha256:../../x"], [A.toUpperCase()], ["not-a-digest"]])(
    "validates every DiffID before use (%s)",
    (bad) => {
      expect(() => chainIds([A, bad])).toThrow(InvalidDigestError);
    },
  );
});

describe("imageIdOf", () => {
  it("is the sha256 of the exact config bytes", () => {
    expect(imageIdOf(Buffer.from("a"))).toBe(A);
    expect(imageIdOf(Buffer.from('{"a":1}'))).not.toBe(imageIdOf(Buffer.from('{ "a": 1 }')));
  });
});
