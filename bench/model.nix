# The tiny real model of the benchmarks: examples/dbx-train fits the example data set.
# Not a package: the trainer and the data are taken from this checkout by absolute path
# (Debian's Nix builds with sandbox = false), so no nixpkgs is needed.
#
#   nix-instantiate bench/model.nix --argstr train $PWD/build/examples/dbx-train \
#     --argstr data $PWD/examples/data/train.csv --argstr seconds 10 --argstr salt run1
#
# `seconds` is how long the training takes (10 epochs of seconds/10 each); `salt` makes a
# new derivation (a new store path) for every run that must really train.
{ train, data, seconds ? "0", salt ? "bench" }:
derivation {
  name = "bench-model-${salt}";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" ''exec "$train" --data "$data" --out "$out" --epochs 10 --epoch-seconds "$epochSeconds" --id "$salt"'' ];
  inherit train data salt;
  epochSeconds = toString (builtins.fromJSON seconds / 10.0);
}
