# NixOS VM test of the deferred-builds module (needs nixpkgs and KVM; flake: checks.<system>.vm,
# or `nix-build -E 'import ./tests/nixos/deferred-builds.nix { pkgs = import <nixpkgs> { }; }'`).
#
# It proves, on a real NixOS with the real switch-to-configuration and nix-daemon:
#   1. the system closure holds no .drv, so the VM's store is registered from closureInfo of
#      the toplevel as in any VM test (default virtualisation.additionalPaths), while the
#      models are untrained;
#   2. switching to a configuration with a new model returns while the model still trains;
#      the model has an input derivation and a data source, and its .drvs are not in the
#      VM's store: the realise unit imports them from the model's bundle first;
#   3. the serve unit answers with the trained model once training is done;
#   4. a changed model retrains while the old one keeps serving, then swaps;
#   5. after the first generation is deleted, GC (nix-gc.service, which prunes first) frees
#      its model and its .drvs, while the live generation's model stays and keeps serving;
#   6. rolling back to the first generation then retrains it from its bundle;
#   7. switching forward again serves the second model without training;
#   8. removing the model from the configuration stops its serve unit.
#
# The two model configurations are separate toplevels (extendModules), not specialisations
# of the booted system: a specialisation of a live system is live, so prune would rightly
# keep its models. The booted system references them (system.extraDependencies, forced
# empty in the variants themselves) only so that they are in the VM's store; that does not
# make them live. Profile generations are
# links made by the test, as nixos-rebuild makes them.
{
  pkgs,
  module ? ../../nixos-module,
}:
let
  inherit (pkgs) lib;

  trainSeconds = 20;

  # No context: the builders reach coreutils through the VM's system closure, so that
  # building the models needs nothing the VM's store does not have.
  coreutils = builtins.unsafeDiscardStringContext "${pkgs.coreutils}";
  inherit (pkgs.stdenv.hostPlatform) system;

  mkModel =
    version:
    let
      # An input derivation, built as part of the training.
      features = derivation {
        name = "tiny-features-${version}";
        inherit system;
        builder = "/bin/sh";
        args = [
          "-c"
          "${coreutils}/bin/echo features-${version} > $out"
        ];
      };
    in
    derivation {
      name = "tiny-model-${version}";
      inherit system features;
      # A data source: a path copied into the store, carried by the model's bundle.
      data = ./tiny-data.txt;
      builder = "/bin/sh";
      args = [
        "-c"
        ''
          ${coreutils}/bin/sleep ${toString trainSeconds}
          ${coreutils}/bin/mkdir "$out"
          read -r f < "$features"
          read -r d < "$data"
          echo "weights ${version} ($f; $d)" > "$out/model.txt"
        ''
      ];
    };
  alpha1 = mkModel "1";
  alpha2 = mkModel "2";

  drvOf = m: builtins.unsafeDiscardStringContext m.drvPath;
  outOf = m: builtins.unsafeDiscardStringContext m.outPath;

  # Serves $DEFERRED_MODEL_PATH, the published model, over HTTP.
  serveModel = pkgs.writeShellScript "serve-tiny-model" ''
    exec ${pkgs.busybox}/bin/busybox httpd -f -p 127.0.0.1:8000 -h "$DEFERRED_MODEL_PATH"
  '';

  alphaWith = model: {
    services.deferred-builds.models.alpha = {
      inherit model;
      serve.command = [ "${serveModel}" ];
    };
  };
in
pkgs.testers.runNixOSTest {
  name = "deferred-builds";

  nodes.machine =
    { extendModules, ... }:
    let
      variant =
        model:
        (extendModules {
          modules = [
            (alphaWith model)
            { system.extraDependencies = lib.mkForce [ ]; }
          ];
        }).config.system.build.toplevel;
    in
    {
      imports = [ module ];

      services.deferred-builds.enable = true;

      environment.systemPackages = [
        pkgs.curl
        pkgs.coreutils
      ];

      nix.settings = {
        sandbox = false;
        substituters = lib.mkForce [ ];
      };
      # nix-gc.service runs `deferred-builds prune` first (module); the test starts it.
      nix.gc.automatic = true;

      system.extraDependencies = [
        (variant alpha1)
        (variant alpha2)
      ];
    };

  testScript =
    { nodes, ... }:
    let
      variants = nodes.machine.system.extraDependencies;
    in
    ''
    import time

    TRAIN_SECONDS = ${toString trainSeconds}
    ALPHA1_DRV = "${drvOf alpha1}"
    ALPHA2_DRV = "${drvOf alpha2}"
    ALPHA1_OUT = "${outOf alpha1}"
    ALPHA2_OUT = "${outOf alpha2}"
    URL = "http://127.0.0.1:8000/model.txt"


    def switch(toplevel: str) -> float:
        """switch-to-configuration test; returns the seconds it took."""
        start = time.monotonic()
        machine.succeed(f"{toplevel}/bin/switch-to-configuration test >&2")
        return time.monotonic() - start


    def set_profile(generation: int, toplevel: str) -> None:
        """What nixos-rebuild does before switching: a new system profile generation."""
        machine.succeed(
            f"ln -sfn {toplevel} /nix/var/nix/profiles/system-{generation}-link"
            f" && ln -sfn system-{generation}-link /nix/var/nix/profiles/system"
        )


    def served() -> str:
        return machine.succeed(f"curl -sf {URL}").strip()


    def wait_training() -> None:
        machine.wait_until_succeeds(
            "systemctl show -P ActiveState deferred-realise@alpha.service deferred-retrain@alpha.service"
            " | grep -qx activating",
            timeout=30,
        )


    machine.wait_for_unit("multi-user.target")

    base = machine.succeed("readlink -f /run/current-system").strip()
    v1 = "${builtins.elemAt variants 0}"
    v2 = "${builtins.elemAt variants 1}"

    with subtest("the system closure holds no .drv and no model; the manifest names the bundle"):
        for top in (base, v1, v2):
            machine.fail(f"nix-store -qR {top} | grep '[.]drv$'")
        machine.succeed(f"grep -qx 'drv = {ALPHA1_DRV}' {v1}/deferred-builds/manifest.ini")
        machine.succeed(f"grep -qx 'drv = {ALPHA2_DRV}' {v2}/deferred-builds/manifest.ini")
        bundle1 = machine.succeed(f"sed -n 's/^bundle = //p' {v1}/deferred-builds/manifest.ini").strip()
        machine.succeed(f"nix-store --check-validity {bundle1}")
        machine.succeed(f"grep -q 'tiny-data.txt$' {bundle1}/sources")
        machine.fail(f"nix-store --check-validity {ALPHA1_DRV}")
        machine.fail(f"nix-store --check-validity {ALPHA1_OUT}")

    with subtest("switch-to-configuration returns while the model trains from its bundle"):
        set_profile(1, v1)
        secs = switch(v1)
        assert secs < TRAIN_SECONDS, f"the switch took {secs:.1f}s: it waited for the training"
        wait_training()
        machine.fail(f"nix-store --check-validity {ALPHA1_OUT}")
        machine.fail(f"curl -sf {URL}")
        machine.succeed(f"nix-store --check-validity {ALPHA1_DRV}")
        machine.wait_until_succeeds(
            "journalctl -u deferred-realise@alpha.service | grep -q 'Imported the 2 derivations of model alpha'",
            timeout=30,
        )
        machine.log(f"switch returned after {secs:.1f}s while alpha trains")

    with subtest("the serve unit answers with the trained model"):
        machine.wait_until_succeeds(
            "grep -qx state=ready /run/deferred-builds/status/alpha", timeout=TRAIN_SECONDS * 6
        )
        machine.wait_for_unit("deferred-serve@alpha.service")
        machine.wait_until_succeeds(f"curl -sf {URL}", timeout=60)
        text = served()
        assert text.startswith("weights 1 (features-1; flowers"), text
        machine.fail("ls -A /var/lib/deferred-builds/roots/*/ | grep -q '^[.]alpha[.]drv$'")

    with subtest("a changed model retrains while the old one serves, then swaps"):
        set_profile(2, v2)
        secs = switch(v2)
        assert secs < TRAIN_SECONDS, f"the switch took {secs:.1f}s: it waited for the training"
        machine.wait_until_succeeds(
            "systemctl show -P ActiveState deferred-retrain@alpha.service | grep -qx activating",
            timeout=30,
        )
        assert served().startswith("weights 1"), "the old model must keep serving during the retrain"
        machine.wait_until_succeeds(f"curl -sf {URL} | grep -q '^weights 2'", timeout=TRAIN_SECONDS * 6)
        machine.succeed(f"nix-store --check-validity {ALPHA2_OUT}")

    with subtest("GC after deleting generation 1 frees its model and its .drvs; the live one stays"):
        machine.succeed("rm /nix/var/nix/profiles/system-1-link")
        machine.succeed("systemctl start nix-gc.service")
        machine.fail(f"nix-store --check-validity {ALPHA1_OUT}")
        machine.fail(f"nix-store --check-validity {ALPHA1_DRV}")
        machine.succeed(f"nix-store --check-validity {ALPHA2_OUT}")
        machine.succeed(f"nix-store --check-validity {bundle1}")
        assert served().startswith("weights 2"), served()

    with subtest("rolling back to generation 1 retrains it from its bundle"):
        set_profile(3, v1)
        switch(v1)
        machine.wait_until_succeeds(f"curl -sf {URL} | grep -q '^weights 1'", timeout=TRAIN_SECONDS * 6)
        machine.succeed(f"nix-store --check-validity {ALPHA1_OUT} {ALPHA1_DRV}")

    with subtest("switching forward to generation 2 again needs no training"):
        set_profile(4, v2)
        switch(v2)
        # Training takes TRAIN_SECONDS; being back within less proves nothing was rebuilt.
        machine.wait_until_succeeds(f"curl -sf {URL} | grep -q '^weights 2'", timeout=TRAIN_SECONDS - 5)

    with subtest("removing the model stops its serve unit"):
        switch(base)
        machine.wait_until_fails("systemctl is-active deferred-serve@alpha.service", timeout=30)
        machine.fail(f"curl -sf {URL}")
  '';
}
