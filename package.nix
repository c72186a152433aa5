# SPDX-License-Identifier: MIT
# deferred-builds: the systemd generator, unit templates, realise helper, activation helper
# and the `deferred-builds` command. `make install PREFIX=$out` lays out
#   bin/deferred-builds
#   libexec/deferred-builds/{deferred-realise,deferred-builds-activate}
#   lib/systemd/system-generators/deferred-builds-generator (and user-generators/)
#   lib/systemd/{system,user}/*.service, deferred-builds.target
# which the NixOS module (./nixos-module) hands to systemd.packages.
{
  lib,
  stdenv,
  pkg-config,
  systemd,
  # Only the library and headers are needed; nixpkgs versions without systemdLibs use the
  # whole systemd.
  systemdLibs ? systemd,
  inih,
  cmocka,
}:
stdenv.mkDerivation {
  pname = "deferred-builds";
  version = "0.1.0";

  src = lib.cleanSourceWith {
    src = ./.;
    # The build output of a local `make` and the VM test are not part of the source.
    filter =
      path: type:
      let
        base = baseNameOf path;
      in
      !(type == "directory" && (base == "build" || base == ".git")) && !(lib.hasPrefix "result" base);
  };

  nativeBuildInputs = [ pkg-config ];
  # libsystemd is for the deferred-builds command only (sd-bus, sd-journal). The Makefile
  # links it into nothing else; nixpkgs' linker does not default to --as-needed, so that is
  # what keeps it out of the generator, deferred-realise and the activation helper.
  buildInputs = [
    systemdLibs
    inih
  ];
  checkInputs = [ cmocka ];

  makeFlags = [
    "PREFIX=$(out)"
    "CC=${stdenv.cc.targetPrefix}cc"
    "PKG_CONFIG=${stdenv.cc.targetPrefix}pkg-config"
  ];

  enableParallelBuilding = true;

  # The cmocka unit tests build and run without a Nix daemon or systemd manager; the other
  # suites need both and run outside the sandbox (tests/run).
  doCheck = true;
  checkPhase = ''
    runHook preCheck
    make BUILD=build tests-bin
    for t in build/tests/test_*; do
      [ -x "$t" ] || continue
      echo "running $t"
      "$t"
    done
    runHook postCheck
  '';

  meta = {
    description = "Train ML models declared as Nix derivations in the background after a NixOS switch, then serve them";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "deferred-builds";
  };
}
