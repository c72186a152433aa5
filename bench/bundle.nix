# A synthetic model whose .drv closure has `n` derivations, for bench/bundle.sh: each
# derivation depends on the one before it and on the one at half its index (a deep and
# branching graph, as nixpkgs' is), and carries ~1 KiB of build script, as small nixpkgs
# derivations do; 20 of them also read a source file. Never built: the builders fail.
{
  helper,
  nonce,
  n ? 1000,
  system ? builtins.currentSystem,
}:
let
  script = i: builtins.concatStringsSep "\n" (builtins.genList (j: "step ${toString j} of derivation ${toString i}: configure && make && make install") 12);
  sources = builtins.genList (i: builtins.toFile "bench-source-${toString i}-${nonce}" (script i)) 20;
  drvs = builtins.genList (
    i:
    derivation (
      {
        name = "bench-drv-${toString i}-${nonce}";
        inherit system;
        builder = "/bin/sh";
        args = [
          "-c"
          "exit 1"
        ];
        buildScript = script i;
      }
      // (if i > 0 then { prev = builtins.elemAt drvs (i - 1); } else { })
      // (if i > 1 then { half = builtins.elemAt drvs (i / 2); } else { })
      // (if builtins.div i 50 * 50 == i then { src = builtins.elemAt sources (i / 50); } else { })
    )
  ) n;
  model = builtins.elemAt drvs (n - 1);
  bundle = import ../nixos-module/bundle.nix {
    helper = builtins.path {
      path = /. + helper;
      name = "deferred-realise";
    };
    xz = "/usr/bin/xz";
    inherit system;
  };
in
{
  inherit model;
  bundle = bundle model;
  manifest =
    (import ../nixos-module/manifest.nix {
      models.m = {
        drv = model;
        serve.exec = "/bin/true";
      };
      inherit bundle system;
    }).file;
}
