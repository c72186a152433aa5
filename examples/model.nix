# The example model: a derivation whose build *is* the training. No nixpkgs: a plain
# builtins.derivation whose builder is the host's /bin/sh, so it builds on any machine
# with Nix and `sandbox = false` (Debian's default), including this project's CI.
#
#   nix-build examples/model.nix --arg trainer "$PWD/build/examples/dbx-train" \
#             --option substituters ''
#
# The trainer is copied into the store, so the derivation depends on the binary's bytes
# (a rebuilt trainer gives a new model), not on a path outside the store. It is
# dynamically linked against the host's libc and libsystemd; without a sandbox the
# builder sees them, which is fine for tests and the demo, not for a real deployment.
{
  # Path (or absolute path string) of the built dbx-train binary.
  trainer,
  # CSV of "x,y" lines; a path or an absolute path string, copied into the store.
  data ? ./data/train.csv,
  # Training epochs; one "epoch I/N loss=L" line each in the build log.
  epochs ? 5,
  # Seconds each epoch lasts at least (a number such as 0.5, or a string); tests use it
  # to make a training take a known time.
  epochSeconds ? 0,
  # Model id, recorded in the model file and reported by dbx-serve.
  id ? "v1",
  # When > 0 the build fails at that epoch ("epoch K/N: simulated failure"), for tests
  # of failed trainings.
  failAtEpoch ? 0,
  name ? "dbx-model",
  # A content-addressed derivation: its output path is known only after the build.
  # Needs the daemon's `experimental-features = ca-derivations`; evaluation fails
  # without it.
  contentAddressed ? false,
}:

# Checked at evaluation, so a typo fails `nix-instantiate` instead of a background
# training; dbx-train checks the same again.
assert
  builtins.match "[A-Za-z0-9][A-Za-z0-9._+-]{0,63}" id != null
  || throw "model.nix: id '${id}' must be a letter or digit, then letters, digits and ._+-, at most 64 characters";
assert
  builtins.isInt epochs && epochs >= 1
  || throw "model.nix: epochs must be a whole number >= 1, not ${builtins.toJSON epochs}";
assert
  builtins.isInt failAtEpoch && failAtEpoch >= 0 && failAtEpoch <= epochs
  || throw "model.nix: failAtEpoch must be a whole number from 0 (never) to epochs";

let
  trainerInStore = builtins.path {
    path = trainer;
    name = "dbx-train";
  };
  # A fixed name, so that the store path depends on the data's contents only.
  dataInStore = builtins.path {
    path = data;
    name = "dbx-train-data.csv";
  };
in
builtins.derivation (
  {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    # The builder's environment has no PATH: the trainer is the only program run, by its
    # store path, and it creates $out itself. Values reach it through the environment,
    # quoted, so no argument is ever split or globbed.
    args = [
      "-c"
      ''exec "$trainer" --data "$data" --out "$out" --epochs "$epochs" --epoch-seconds "$epochSeconds" --id "$id" --fail-at-epoch "$failAtEpoch"''
    ];
    trainer = trainerInStore;
    data = dataInStore;
    epochs = toString epochs;
    epochSeconds = toString epochSeconds;
    inherit id;
    failAtEpoch = toString failAtEpoch;
  }
  // (
    if contentAddressed then
      {
        __contentAddressed = true;
        outputHashMode = "recursive";
        outputHashAlgo = "sha256";
      }
    else
      { }
  )
)
