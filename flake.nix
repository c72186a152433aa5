{
  description = "deferred-builds: declare ML models as Nix derivations; NixOS trains them in the background after a switch, then serves them";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        deferred-builds = pkgs.callPackage ./package.nix { };
        default = deferred-builds;
      });

      overlays.default = final: _prev: {
        deferred-builds = final.callPackage ./package.nix { };
      };

      nixosModules.default = import ./nixos-module;
      nixosModules.deferred-builds = self.nixosModules.default;

      checks = forAllSystems (
        pkgs:
        let
          inherit (pkgs.stdenv.hostPlatform) system;
          # A NixOS system with an untrained model that has an input derivation and a
          # data source.
          nixos = nixpkgs.lib.nixosSystem {
            inherit system;
            modules = [
              self.nixosModules.default
              (
                { pkgs, ... }:
                {
                  boot.loader.grub.enable = false;
                  fileSystems."/".device = "/dev/null";
                  system.stateVersion = "25.05";
                  services.deferred-builds.enable = true;
                  services.deferred-builds.models.tiny = {
                    model = pkgs.runCommand "tiny-model" {
                      data = ./tests/nixos/tiny-data.txt;
                      features = pkgs.runCommand "tiny-features" { } "echo features > $out";
                    } "cat $data $features > $out";
                    serve.command = [ "${pkgs.busybox}/bin/busybox" "httpd" "-f" "-p" "127.0.0.1:8000" ];
                  };
                }
              )
            ];
          };
          toplevel = nixos.config.system.build.toplevel;
          model = nixos.config.services.deferred-builds.models.tiny.model;
        in
        {
          package = self.packages.${system}.default;
          vm = import ./tests/nixos/deferred-builds.nix {
            inherit pkgs;
            module = self.nixosModules.default;
          };
          # Evaluating the toplevel's drvPath is the check (written without its context,
          # which would build the system).
          toplevel-eval = pkgs.writeText "deferred-builds-toplevel-drvpath" (
            builtins.unsafeDiscardStringContext toplevel.drvPath
          );
          # closureInfo (VM tests, images) of that system builds while the model is
          # untrained, and holds no .drv and not the model.
          toplevel-closure =
            pkgs.runCommand "deferred-builds-toplevel-closure"
              {
                closure = pkgs.closureInfo { rootPaths = [ toplevel ]; };
                modelOut = builtins.unsafeDiscardStringContext model.outPath;
              }
              ''
                if grep '[.]drv$' "$closure/store-paths"; then
                  echo "the system closure holds a .drv" >&2
                  exit 1
                fi
                if grep -Fx "$modelOut" "$closure/store-paths"; then
                  echo "the system closure holds the model" >&2
                  exit 1
                fi
                grep -q -- '-tiny-model-bundle$' "$closure/store-paths"
                grep -q -- '-tiny-data.txt$' "$closure/store-paths"
                touch "$out"
              '';
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
