/**
 * The store root when neither --root, STRATA_ROOT nor the config file names one: @strata/image-store's
 * DEFAULT_ROOT, repeated here so that building the command tree does not load the store package (a test
 * keeps the two equal).
 */
export const DEFAULT_ROOT = "/var/lib/strata";
