# SPDX-License-Identifier: MIT
#
# The options of one model, `services.deferred-builds.models.<name>`: the derivation, its
# server (program, readiness, sockets, sandbox, secrets), its training's Nix settings and
# its alerts. A submodule, imported by ./default.nix:
#   types.submodule (import ./model-options.nix { inherit lib cfg opt shared; })
{
  lib,
  cfg,
  opt,
  shared,
}:
let
  inherit (lib)
    literalExpression
    mkOption
    types
    ;
in
{ name, ... }:
{
  # "Declared by" in the option docs names this file.
  _file = ./model-options.nix;

  options = {
    model = mkOption {
      type = types.package;
      example = literalExpression "pkgs.callPackage ./models/llm.nix { }";
      description = ''
        The derivation that trains the model. Only its derivation bundle (its `.drv`s,
        compressed, and the sources they need) goes into the system closure; the system
        units build it after the switch. Name it by `$DEFERRED_MODEL_PATH` in the serve program, never by
        interpolating it (`"''${model}/weights"` in {option}`serve.command` would make
        `nixos-rebuild` train it, and is rejected).
      '';
    };

    output = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "weights";
      description = ''
        The output of {option}`model` to serve. `null`: the output {option}`model`
        selects, as `"''${model}"` would (`pkgs.foo.weights` selects `weights`, a plain
        derivation its first output, usually `out`).
      '';
    };

    serve = {
      command = mkOption {
        type = types.nonEmptyListOf types.str;
        example = literalExpression ''
          [
            (lib.getExe' pkgs.llama-cpp "llama-server")
            "--port"
            "8080"
          ]
        '';
        description = ''
          The program that serves the model (an absolute path, usually in the store) and
          its arguments, one element each. The program finds the trained model at
          `$DEFERRED_MODEL_PATH` (`/run/deferred-builds/models/${name}`, swapped
          atomically when a retrained model is ready). Arguments are not expanded by a
          shell; a program that needs the path on its command line can be wrapped,
          e.g. with `pkgs.writeShellScript`.
        '';
      };

      environment = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = {
          OMP_NUM_THREADS = "8";
        };
        description = ''
          Environment of the serve program, added to
          {option}`${opt}.defaults.serve.environment` (a variable set here wins).
          `DEFERRED_MODEL_PATH` is set by the unit.
        '';
      };

      notify = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Whether the serve program tells systemd when it is ready (`sd_notify`
          `READY=1`). The unit is then `Type=notify`: it is active, and a retrained
          model's swap is complete, only once the server really serves.
        '';
      };

      readyUrl = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "http://127.0.0.1:8080/health";
        description = ''
          A URL that answers with a 2xx status once the server serves: the unit is
          active ("serving"), and a retrained model's swap is complete, only then. For
          servers that do not speak `sd_notify` (uvicorn, vLLM, llama-server, TGI).
          `http://` only, the host an IP address or `localhost`. The wait is bounded by
          {option}`startTimeout`. See deferred-builds.ini(5), `ready-url`.
        '';
      };

      startTimeout = mkOption {
        type = types.nullOr (types.either types.ints.positive (types.enum [ "infinity" ]));
        default = null;
        example = 1800;
        description = ''
          Seconds the server may take to start (until `READY=1` or {option}`readyUrl`
          answers), or `"infinity"`: the unit's `TimeoutStartSec=`. `null`: systemd's
          default, 90 s, which a large model's load can exceed.
        '';
      };

      listen = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "127.0.0.1:8080" ];
        description = ''
          Addresses systemd listens on for the server (socket activation,
          `ListenStream=`): `PORT`, `IPV4:PORT`, `[IPV6]:PORT` or an absolute socket
          path. systemd holds the socket across restarts, so a retrain swap fails no
          request. The server must take the socket from `LISTEN_FDS` (fd 3 on), e.g.
          uvicorn `--fd 3`; see docs/units.md.
        '';
      };

      sandbox = mkOption {
        type = types.enum [
          "strict"
          "ml"
          "gpu"
        ];
        default = "strict";
        example = "ml";
        description = ''
          The serve sandbox profile (docs/sandbox.md): `strict`, the shipped sandbox;
          `ml` for JIT/ML runtimes (PyTorch/oneDNN, numba, XLA: `/proc/cpuinfo`,
          writable and executable memory, `@resources`, `AF_NETLINK`, a persistent
          home and cache below `/var/lib/deferred-serve/${name}` and
          `/var/cache/deferred-serve/${name}`); `gpu`, `ml` and the NVIDIA devices
          CUDA opens.
        '';
      };

      serviceConfig = mkOption {
        type =
          let
            scalar = types.oneOf [
              types.bool
              types.int
              types.str
            ];
          in
          types.attrsOf (types.either scalar (types.nonEmptyListOf scalar));
        default = { };
        example = {
          LimitNOFILE = 65536;
          ReadWritePaths = [ "/srv/models" ];
          SupplementaryGroups = [ "render" ];
        };
        description = ''
          Individual systemd `[Service]` settings of the serve unit, written after the
          {option}`sandbox` profile's: a single-value setting replaces the profile's, a
          list one adds to it (one line per element). Only sandbox and resource
          settings are accepted, each value checked by the manifest parser when the
          system is built: the list is in deferred-builds.ini(5).
        '';
      };

      credentials = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = {
          hf-token = "/run/secrets/hf-token";
        };
        description = ''
          Secrets the server reads from `$CREDENTIALS_DIRECTORY/ID` (systemd
          `LoadCredential=ID:PATH`). Give each path as a string outside the store (a
          path value would copy the secret into the store, which every user can read).
        '';
      };

      environmentFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/secrets/llm.env";
        description = ''
          A file of `NAME=VALUE` lines added to the server's environment when it starts
          (systemd `EnvironmentFile=`): its values appear in neither the store nor the
          unit. A string outside the store, as for {option}`credentials`.
        '';
      };
    };

    realise = shared.realise true;

    onFailure = mkOption {
      type = types.listOf types.str;
      default = cfg.onFailure;
      defaultText = literalExpression "config.${opt}.onFailure";
      example = [ "page-oncall@%n.service" ];
      description = ''
        Units systemd starts when this model's training (its realise or retrain unit) or
        its server fails for good (systemd `OnFailure=`): not while `Restart=` retries an
        infrastructure failure, only once it gives up. In an instance, `%n` is the unit
        that failed. Names are checked when the manifest is built (unit names systemd
        starts as written).
      '';
    };
  } // shared.serveResources true;
}
