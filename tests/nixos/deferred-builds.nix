# NixOS VM test of the deferred-builds module (needs nixpkgs and KVM; flake: checks.<system>.vm,
# or `nix-build -E 'import ./tests/nixos/deferred-builds.nix { pkgs = import <nixpkgs> { }; }'`).
# Without either, tests/nix/vm-test.sh evaluates it through the flake with a stub nixpkgs and
# checks its Python script as the test driver would.
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
# and on a second node, `serving`, the serve options as a NixOS user sets them, with a
# FastAPI app under uvicorn from nixpkgs (./api/api.py):
#   9. `serve.readyUrl`: the unit is active, and status says serving, only once /health
#      answers; `serve.listen`: uvicorn takes its socket from systemd (`--fd 3`);
#  10. `serve.sandbox = "ml"` applies (/proc/cpuinfo, a writable home);
#  11. `serve.credentials`: a secret made at test time outside the store reaches the server,
#      and is neither in the system closure (grep over it) nor in the unit's Environment=;
#  12. `metrics.textfile`: the file is parsed by prometheus_client, and node-exporter's
#      textfile collector exposes it without a scrape error;
#  13. a retrain swap while a client asks every 10 ms: the socket refuses no connection,
#      and a request fails only if uvicorn's shutdown closed it unread;
#  14. `onFailure`: a model whose training fails starts the alert unit, for its units only.
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

  # The `serving` node's models. The app (./api/api.py) extends the booted suites' FastAPI
  # app, tests/lib/system-fixtures/app.py, which reads `id=`, `w=` and `b=` lines of
  # $DEFERRED_MODEL_PATH/model after sleeping LOAD_SECONDS.
  serverPython = pkgs.python3.withPackages (ps: [
    ps.fastapi
    ps.uvicorn
    ps.prometheus-client
  ]);
  fixtures = ../lib/system-fixtures;
  loadSeconds = 8;
  secretPath = "/var/lib/secrets/api-token";

  apiModel =
    id:
    derivation {
      name = "api-model-${id}";
      inherit system;
      builder = "/bin/sh";
      args = [
        "-c"
        ''
          ${coreutils}/bin/sleep 2
          ${coreutils}/bin/mkdir "$out"
          printf 'id=${id}\nw=2\nb=1\n' > "$out/model"
        ''
      ];
    };

  # Fails after a few seconds: later than the 250 ms in which switch-to-configuration
  # reports failed units, so the switch to it succeeds, as with a real training.
  brokenModel = derivation {
    name = "broken-model";
    inherit system;
    builder = "/bin/sh";
    args = [
      "-c"
      "${coreutils}/bin/sleep 3; echo 'training diverged: loss is nan' >&2; exit 1"
    ];
  };

  apiWith = id: {
    services.deferred-builds.models.api = {
      model = apiModel id;
      serve = {
        command = [
          "${serverPython}/bin/python3"
          "-m"
          "uvicorn"
          "--app-dir"
          "${./api}"
          "--log-level"
          "trace" # each connection made and lost, for the swap subtest
          "api:app"
          "--fd"
          "3"
        ];
        environment = {
          PYTHONPATH = "${fixtures}";
          LOAD_SECONDS = toString loadSeconds;
        };
        listen = [ "127.0.0.1:8080" ];
        readyUrl = "http://127.0.0.1:8080/health";
        startTimeout = 120;
        sandbox = "ml";
        credentials.api-token = secretPath;
      };
    };
  };

  brokenToo = {
    services.deferred-builds.models.broken = {
      model = brokenModel;
      serve.command = [
        "${pkgs.coreutils}/bin/sleep"
        "infinity"
      ];
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

  nodes.serving =
    { config, extendModules, ... }:
    let
      variant =
        modules:
        (extendModules {
          modules = modules ++ [ { system.extraDependencies = lib.mkForce [ ]; } ];
        }).config.system.build.toplevel;
    in
    {
      imports = [ module ];

      services.deferred-builds = {
        enable = true;
        # The default of every model: its training or server failing for good starts
        # alert@UNIT.service.
        onFailure = [ "alert@%n.service" ];
        metrics.textfile = {
          enable = true;
          interval = "15s";
        };
      };

      # Appends the name of the unit that failed to /run/alerts.
      systemd.services."alert@" = {
        serviceConfig.Type = "oneshot";
        scriptArgs = "%i";
        script = ''echo "$1" >> /run/alerts'';
      };

      services.prometheus.exporters.node = {
        enable = true;
        listenAddress = "127.0.0.1";
        extraFlags = [
          "--collector.textfile.directory=${config.services.deferred-builds.metrics.textfile.directory}"
        ];
      };

      environment.systemPackages = [
        pkgs.curl
        serverPython
      ];

      nix.settings = {
        sandbox = false;
        substituters = lib.mkForce [ ];
      };

      system.extraDependencies = [
        (variant [ (apiWith "A") ])
        (variant [ (apiWith "B") ])
        (variant [
          (apiWith "B")
          brokenToo
        ])
      ];
    };

  testScript =
    { nodes, ... }:
    let
      variants = nodes.machine.system.extraDependencies;
      servingVariants = nodes.serving.system.extraDependencies;
    in
    ''
    import hashlib
    import json
    import re
    import shlex
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


    API = "http://127.0.0.1:8080"
    API_A = "${builtins.elemAt servingVariants 0}"
    API_B = "${builtins.elemAt servingVariants 1}"
    API_B_BROKEN = "${builtins.elemAt servingVariants 2}"
    SECRET_PATH = "${secretPath}"
    TEXTFILE = "${nodes.serving.services.deferred-builds.metrics.textfile.directory}/deferred-builds.prom"
    PROM_STATES = "${serverPython}/bin/python3 ${./prometheus-states.py}"
    CLIENT = "${serverPython}/bin/python3 ${fixtures}/client.py"


    def switch_serving(toplevel: str) -> None:
        serving.succeed(f"{toplevel}/bin/switch-to-configuration test >&2")


    def serve_state(prop: str) -> str:
        return serving.succeed(f"systemctl show -P {prop} deferred-serve@api.service").strip()


    def closure_matches(*texts: str) -> dict[str, list[str]]:
        """The files of the running system's closure that hold each text (grep -r over it)."""
        patterns = " ".join("-e " + shlex.quote(t) for t in texts)
        # xargs exits 123 when a grep found nothing (or met a dangling link): not an error.
        out = serving.succeed(
            "nix-store -qR /run/current-system"
            f" | xargs grep -raoF --no-messages {patterns} || [ $? = 123 ]",
            timeout=1800,
        )
        found: dict[str, list[str]] = {t: [] for t in texts}
        for line in out.splitlines():
            path, _, text = line.rpartition(":")
            if text in found and path not in found[text]:
                found[text].append(path)
        return found


    with subtest("serving: uvicorn with a readiness URL and its socket from systemd"):
        serving.wait_for_unit("multi-user.target")
        # The secret of the credentials subtest, made now, outside the store, root's only.
        serving.succeed(
            f"install -d -m 0700 $(dirname {SECRET_PATH})"
            f" && (umask 077 && head -c 24 /dev/urandom | base64 > {SECRET_PATH})"
        )
        secret = serving.succeed(f"cat {SECRET_PATH}").strip()
        switch_serving(API_A)
        # Trained, the app loads for ${toString loadSeconds} s: the unit is activating, and
        # the socket holds a connection instead of answering it.
        serving.wait_until_succeeds(
            "systemctl show -P ActiveState deferred-serve@api.service | grep -qx activating",
            timeout=120,
        )
        serving.fail(f"curl -sf --max-time 1 {API}/health")
        serving.wait_for_unit("deferred-serve@api.service", timeout=120)
        assert json.loads(serving.succeed(f"curl -sf --max-time 5 {API}/health"))["model"] == "A"
        status = serving.succeed("deferred-builds status --json api")
        assert re.search(r'"state": *"serving"', status), status
        journal = serving.succeed("journalctl -b -o cat -u deferred-serve@api.service")
        assert re.search(r"http://127[.]0[.]0[.]1:8080/health answered 200 after", journal), journal
        assert "LISTEN_FDS=1" in journal, "uvicorn got its socket from systemd"
        serving.succeed("systemctl is-active deferred-serve@api.socket")
        assert serve_state("TimeoutStartUSec") == "2min", serve_state("TimeoutStartUSec")

    with subtest("serving: the ml sandbox profile applies"):
        probe = json.loads(serving.succeed(f"curl -sf {API}/probe"))
        assert probe["cpuinfo"], "ml opens /proc/cpuinfo (ProcSubset=all)"
        assert probe["home"] == "/var/lib/deferred-serve/api" and probe["home_writable"], probe
        assert serve_state("ProcSubset") == "all", serve_state("ProcSubset")
        assert serve_state("MemoryDenyWriteExecute") == "no", serve_state("MemoryDenyWriteExecute")
        assert serve_state("DynamicUser") == "yes", serve_state("DynamicUser")

    with subtest("serving: the credential reaches the server, not the store or Environment="):
        assert probe["token_sha256"] == hashlib.sha256(secret.encode()).hexdigest(), probe
        env = serving.succeed("systemctl show -p Environment deferred-serve@api.service")
        assert "DEFERRED_MODEL_PATH=" in env, env
        assert secret not in env, "the secret is in the unit's Environment="
        found = closure_matches(SECRET_PATH, secret)
        # The search works: it finds the credential's path in the manifest.
        assert any(p.endswith("-deferred-builds-manifest.ini") for p in found[SECRET_PATH]), found
        assert found[secret] == [], f"the secret is in the store: {found[secret]}"

    with subtest("serving: metrics.textfile writes what node-exporter's textfile collector reads"):
        serving.succeed("systemctl is-active deferred-builds-metrics.timer")
        serving.succeed("systemctl start deferred-builds-metrics.service")
        own = json.loads(serving.succeed(f"{PROM_STATES} {TEXTFILE}"))
        assert own["states"].get("api") == "serving", own
        serving.wait_for_open_port(9100, addr="127.0.0.1")
        exported = json.loads(serving.succeed(f"{PROM_STATES} http://127.0.0.1:9100/metrics"))
        assert exported["textfile_scrape_error"] == 0, exported
        assert exported["states"].get("api") == "serving", exported

    with subtest("serving: a retrain swap fails no request of a client asking every 10 ms"):
        serving.succeed(
            "systemd-run --unit=poll-client --property=Type=exec"
            f" {CLIENT} '{API}/predict?x=1' 0.01 30 900 /run/poll.log"
        )
        serving.wait_until_succeeds("tail -n 1 /run/poll.log | grep -q ' A$'", timeout=30)
        switch_serving(API_B)
        serving.wait_until_succeeds(
            "systemctl show -P ActiveState deferred-retrain@api.service | grep -qx activating",
            timeout=60,
        )
        serving.wait_until_succeeds("tail -n 1 /run/poll.log | grep -q ' B$'", timeout=300)
        time.sleep(1)  # B answers for a while after the swap, too
        serving.succeed("systemctl stop poll-client.service")
        log = serving.succeed("cat /run/poll.log").splitlines()
        # The socket refuses nothing. uvicorn's own shutdown closes a connection it accepted
        # but holds no request of, a reset for that client: allowed, and only that.
        journal = serving.succeed("journalctl -b -o cat -u deferred-serve@api.service")
        fails = [line for line in log if " FAIL:" in line]
        others = [
            line
            for line in fails
            if line.split()[2] != "FAIL:ConnectionResetError"
            or f"127.0.0.1:{line.split()[3]} - HTTP connection made" not in journal
            or f"127.0.0.1:{line.split()[3]} - ASGI" in journal
        ]
        assert not others, f"{len(others)} of {len(log)} requests failed, first: {others[:5]}"
        answers = [line.split()[2] for line in log if " FAIL:" not in line]
        runs = [a for i, a in enumerate(answers) if i == 0 or answers[i - 1] != a]
        assert runs == ["A", "B"], f"the client saw {runs}"
        serving.log(f"retrain swap: {len(log)} requests, {len(fails)} reset by uvicorn's shutdown")
        serving.succeed("systemctl is-active deferred-serve@api.socket")

    with subtest("serving: a model whose training fails starts its onFailure unit"):
        switch_serving(API_B_BROKEN)
        serving.wait_until_succeeds("grep -qx deferred-realise@broken.service /run/alerts", timeout=120)
        on_failure = serving.succeed("systemctl show -P OnFailure deferred-realise@broken.service")
        assert on_failure.strip() == "alert@deferred-realise@broken.service.service", on_failure
        alerts = serving.succeed("cat /run/alerts").split()
        assert all(a.endswith("@broken.service") for a in alerts), f"api never failed: {alerts}"
        assert json.loads(serving.succeed(f"curl -sf {API}/health"))["model"] == "B"
  '';
}
