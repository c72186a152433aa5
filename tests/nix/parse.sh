#!/usr/bin/env bash
# Every .nix file in the repository parses with the Nix at hand (nix-instantiate --parse).
# The module, flake, package and VM test cannot be evaluated here without nixpkgs; parsing
# still catches syntax errors and undefined variables outside `with`.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

mapfile -t files < <(find . \( -name .git -o -name build -o -name result \) -prune -o -name '*.nix' -type f -print | sort)
ok "the repository has .nix files to parse (${#files[@]} found)" test "${#files[@]}" -gt 0
for f in "${files[@]}"; do
        ok "${f#./} parses" nix-instantiate --parse "$f"
done
# The files the brief names must exist.
for f in nixos-module/default.nix nixos-module/manifest.nix package.nix flake.nix tests/nixos/deferred-builds.nix; do
        ok "$f exists" test -f "$f"
done

tap_done
