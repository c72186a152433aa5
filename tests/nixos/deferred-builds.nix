# NixOS VM test of the deferred-builds module (needs nixpkgs and KVM; flake: checks.<system>.vm,
# or `nix-build -E 'import ./tests/nixos/deferred-builds.nix { pkgs = import <nixpkgs> { }; }'`).
#
# It proves, on a real NixOS with the real switch-to-configuration:
#   1. `switch-to-configuration test` to a configuration with a new model returns while the
#      model is still training (realise unit "activating", output not yet in the store);
#   2. the serve unit answers with the trained model once training is done;
#   3. a changed model retrains while the old one keeps serving, then swaps;
#   4. rolling back to the first generation serves its model again without training;
#   5. after the first generation is deleted, GC (nix-gc.service, which prunes first) frees
#      its model while the live generation's model stays and keeps serving;
#   6. removing the model from the configuration stops its serve unit.
#
# Two things differ from a real host, both because of how NixOS VM tests populate the VM's
# Nix database (docs/nixos.md, "Images, VM tests and closureInfo"):
#   - The VM's database is normally loaded from closureInfo of the toplevel, which fails for
#     a toplevel that holds an untrained model's .drv (Nix's exportReferencesGraph adds the
#     outputs of every .drv in the graph). So the database starts empty
#     (virtualisation.additionalPaths = [ ]) and a boot unit registers the models' .drv
#     files, which the host store shared with the VM already holds.
#   - The models are plain derivations with no input derivations (their .drv closure is the
#     .drv itself) that call coreutils by absolute path, with the VM's Nix sandbox off, so
#     that building them needs nothing else registered.
# Profile generations are symlinks made by the test (nix-env --set would need the toplevel
# registered); the deferred-builds helpers only read those links.
{
  pkgs,
  module ? ../../nixos-module,
}:
let
  inherit (pkgs) lib;

  trainSeconds = 20;

  # No context: the VM reaches coreutils through the shared store without the model
  # depending on its derivation.
  coreutils = builtins.unsafeDiscardStringContext "${pkgs.coreutils}";

  mkModel =
    version:
    derivation {
      name = "tiny-model-${version}";
      inherit (pkgs.stdenv.hostPlatform) system;
      builder = "/bin/sh";
      args = [
        "-c"
        ''
          ${coreutils}/bin/sleep ${toString trainSeconds}
          ${coreutils}/bin/mkdir "$out"
          echo "weights ${version}" > "$out/model.txt"
        ''
      ];
    };
  alpha1 = mkModel "1";
  alpha2 = mkModel "2";

  drvOf = m: builtins.unsafeDiscardOutputDependency m.drvPath;
  outOf = m: builtins.unsafeDiscardStringContext m.outPath;

  # nix-store --register-validity input: path, deriver (none), number of references (a .drv
  # with no inputs has none).
  registration = pkgs.writeText "tiny-model-drvs.reginfo" (
    lib.concatMapStrings (m: "${drvOf m}\n\n0\n") [
      alpha1
      alpha2
    ]
  );

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
    { config, ... }:
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

      # See the header: no closureInfo of the toplevel.
      virtualisation.additionalPaths = lib.mkForce [ ];

      systemd.services.register-model-drvs = {
        description = "Register the test models' .drv files in the VM's Nix database";
        wantedBy = [ "multi-user.target" ];
        before = [ "deferred-builds-reconcile.service" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          ${config.nix.package}/bin/nix-store --register-validity < ${registration}
        '';
      };

      specialisation.v1.configuration = alphaWith alpha1;
      specialisation.v2.configuration = alphaWith alpha2;
    };

  testScript = ''
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


    def unit_state(unit: str) -> str:
        return machine.succeed(f"systemctl show -P ActiveState {unit}").strip()


    machine.wait_for_unit("multi-user.target")
    machine.wait_for_unit("register-model-drvs.service")

    base = machine.succeed("readlink -f /run/current-system").strip()
    v1 = machine.succeed(f"readlink -f {base}/specialisation/v1").strip()
    v2 = machine.succeed(f"readlink -f {base}/specialisation/v2").strip()

    with subtest("the manifest is in /etc and in the toplevel, with the .drv and no output"):
        machine.succeed("test -L /run/current-system/deferred-builds/manifest.ini")
        machine.succeed(
            "cmp /etc/deferred-builds/manifest.ini /run/current-system/deferred-builds/manifest.ini"
        )
        machine.succeed(f"grep -qx 'drv = {ALPHA1_DRV}' {v1}/deferred-builds/manifest.ini")
        machine.succeed(f"grep -qx 'drv = {ALPHA2_DRV}' {v2}/deferred-builds/manifest.ini")
        machine.succeed(f"nix-store --check-validity {ALPHA1_DRV} {ALPHA2_DRV}")
        machine.fail(f"test -e {ALPHA1_OUT}")
        machine.fail(f"test -e {ALPHA2_OUT}")

    with subtest("switch-to-configuration returns while the model still trains"):
        set_profile(1, v1)
        secs = switch(v1)
        state = unit_state("deferred-realise@alpha.service")
        assert state == "activating", f"realise is {state!r} right after the switch, not activating"
        assert secs < TRAIN_SECONDS, f"the switch took {secs:.1f}s: it waited for the training"
        machine.fail(f"test -e {ALPHA1_OUT}")
        machine.fail(f"curl -sf {URL}")
        machine.log(f"switch returned after {secs:.1f}s while alpha trains")

    with subtest("the serve unit answers with the trained model"):
        machine.wait_until_succeeds(
            "grep -qx state=ready /run/deferred-builds/status/alpha", timeout=TRAIN_SECONDS * 6
        )
        machine.wait_for_unit("deferred-serve@alpha.service")
        machine.wait_until_succeeds(f"curl -sf {URL}", timeout=60)
        assert served() == "weights 1", served()
        machine.succeed(f"test -e {ALPHA1_OUT}")

    with subtest("a changed model retrains while the old one serves, then swaps"):
        set_profile(2, v2)
        secs = switch(v2)
        assert secs < TRAIN_SECONDS, f"the switch took {secs:.1f}s: it waited for the training"
        machine.wait_until_succeeds(
            "systemctl show -P ActiveState deferred-retrain@alpha.service | grep -qx activating",
            timeout=15,
        )
        assert served() == "weights 1", "the old model must keep serving during the retrain"
        machine.wait_until_succeeds(f"curl -sf {URL} | grep -qx 'weights 2'", timeout=TRAIN_SECONDS * 6)
        machine.succeed(f"test -e {ALPHA2_OUT}")

    with subtest("rolling back to generation 1 serves its model again without training"):
        machine.succeed("ln -sfn system-1-link /nix/var/nix/profiles/system")
        start = time.monotonic()
        switch(v1)
        # Training takes TRAIN_SECONDS; being back within less proves nothing was rebuilt.
        machine.wait_until_succeeds(f"curl -sf {URL} | grep -qx 'weights 1'", timeout=TRAIN_SECONDS - 5)
        machine.log(f"rollback served the old model after {time.monotonic() - start:.1f}s")

    with subtest("switching forward to generation 2 again needs no training either"):
        machine.succeed("ln -sfn system-2-link /nix/var/nix/profiles/system")
        switch(v2)
        machine.wait_until_succeeds(f"curl -sf {URL} | grep -qx 'weights 2'", timeout=TRAIN_SECONDS - 5)

    with subtest("GC after deleting generation 1 frees its model; the live one stays"):
        machine.succeed(f"test -e {ALPHA1_OUT}")
        machine.succeed("rm /nix/var/nix/profiles/system-1-link")
        machine.succeed("systemctl start nix-gc.service")
        machine.fail(f"test -e {ALPHA1_OUT}")
        machine.succeed(f"test -e {ALPHA2_OUT}")
        assert served() == "weights 2", served()

    with subtest("removing the model stops its serve unit"):
        switch(base)
        machine.wait_until_fails("systemctl is-active deferred-serve@alpha.service", timeout=30)
        machine.fail(f"curl -sf {URL}")
  '';
}
