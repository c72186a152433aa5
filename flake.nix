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

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        vm = import ./tests/nixos/deferred-builds.nix {
          inherit pkgs;
          module = self.nixosModules.default;
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
