# SPDX-License-Identifier: MIT
#
# A model's derivation bundle (src/lib/bundle.h, docs/DESIGN.md "Derivation bundles"): its
# .drv closure as one compressed `nix-store --export` stream, and plain references to the
# closure's other paths (training data, scripts). The manifest names the bundle, so the
# system closure carries it and those sources, and no .drv: closureInfo,
# exportReferencesGraph (VM tests, images) and system.forbiddenDependenciesRegexes work
# while the model is untrained. Before a training, `deferred-realise import` (root) puts the
# .drvs back into the store when they are missing.
#
# Pure (builtins only), like manifest.nix:
#   bundle = import ./bundle.nix {
#     helper = "${pkgs.deferred-builds}/libexec/deferred-builds/deferred-realise";
#     xz = "${pkgs.buildPackages.xz}/bin/xz";
#     system = pkgs.stdenv.buildPlatform.system;
#   };
#   bundle model   # => a derivation whose output is the bundle directory
#
# Building it builds nothing of the model: its only input is the model's .drv as a plain
# path (unsafeDiscardOutputDependency), whose closure holds every .drv and source and no
# output. The builder reads the .drv files itself; it is single-threaded and deterministic.
{
  helper,
  xz,
  system ? builtins.currentSystem,
}:
drv:
derivation {
  name = "${drv.name}-bundle";
  inherit system;
  builder = helper;
  args = [
    "make-bundle"
    (builtins.unsafeDiscardOutputDependency drv.drvPath)
    (builtins.placeholder "out")
  ];
  DEFERRED_BUILDS_XZ = xz;
  # Seconds of local work; a cache would only add a round trip.
  preferLocalBuild = true;
  allowSubstitutes = false;
}
