# SPDX-License-Identifier: MIT
#
# NixOS module for deferred-builds: declare ML models as Nix derivations; the system closure
# carries no model and no .drv (each model's derivations travel compressed in a bundle,
# ./bundle.nix), and systemd trains ("realises") the models in the background after a
# switch or boot, then serves them. `nixos-rebuild switch` never trains.
# Usage: docs/nixos.md. Manifest logic and its validation: ./manifest.nix (pure, tested with
# Debian's Nix in tests/nix/).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    literalExpression
    mapAttrs
    mapAttrsToList
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    types
    ;

  cfg = config.services.deferred-builds;
  opt = "services.deferred-builds";

  # An option of a model defaults to the same option under `defaults`; under `defaults`
  # itself it defaults to `fallback`.
  inherited =
    inModel: path: fallback:
    if inModel then
      {
        default = lib.attrByPath path fallback cfg.defaults;
        defaultText = literalExpression "config.${opt}.defaults.${lib.concatStringsSep "." path}";
      }
    else
      { default = fallback; };

  trustNote = ''
    Setting it needs the realise unit's user (`deferred-builds`) to be a trusted Nix user,
    which is as good as root: set {option}`${opt}.trustRealiseUser` to `true` to add it to
    {option}`nix.settings.trusted-users` (evaluation fails until you decide).
  '';

  realiseOptions = inModel: {
    maxSilentTime = mkOption {
      type = types.nullOr types.ints.unsigned;
      example = 3600;
      description = ''
        Seconds a training may go without printing anything before Nix stops it (Nix's
        `max-silent-time`). `null` keeps the daemon's setting.
      '';
    } // inherited inModel [ "realise" "maxSilentTime" ] null;

    timeout = mkOption {
      type = types.nullOr types.ints.unsigned;
      example = 86400;
      description = ''
        Seconds a training may take in all before Nix stops it (Nix's `timeout`). `null`
        keeps the daemon's setting.
      '';
    } // inherited inModel [ "realise" "timeout" ] null;

    builders = mkOption {
      type = types.nullOr types.str;
      example = "ssh://gpu-box x86_64-linux /etc/nix/gpu-box.key 8 1 big-parallel,cuda";
      description = ''
        Nix `builders` for this training, e.g. a remote machine with a GPU. Separate machines
        with `;` (no space before it: the manifest cannot hold newlines, and its parser reads
        ` ;` as a comment). `null` keeps the daemon's builders.

        ${trustNote}
      '';
    } // inherited inModel [ "realise" "builders" ] null;

    substituters = mkOption {
      type = types.listOf types.str;
      example = [ "https://models.example.org" ];
      description = ''
        Binary caches to fetch an already trained model from, one URL an element. They are
        added to the daemon's substituters (Nix's `extra-substituters`), so the rest of the
        build closure still comes from the system's caches.

        ${trustNote} Alternatively list the URLs in
        {option}`nix.settings.trusted-substituters`: the daemon accepts those from any user,
        and no trust is needed.
      '';
    } // inherited inModel [ "realise" "substituters" ] [ ];

    trustedPublicKeys = mkOption {
      type = types.listOf types.str;
      example = [ "models.example.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" ];
      description = ''
        Keys whose signatures make paths from {option}`substituters` acceptable, added to the
        daemon's (Nix's `extra-trusted-public-keys`).

        ${trustNote}
      '';
    } // inherited inModel [ "realise" "trustedPublicKeys" ] [ ];

    buildersUseSubstitutes = mkOption {
      type = types.nullOr types.bool;
      example = true;
      description = ''
        Whether remote builders fetch dependencies from their own caches (Nix's
        `builders-use-substitutes`). `null` keeps the daemon's setting.

        ${trustNote}
      '';
    } // inherited inModel [ "realise" "buildersUseSubstitutes" ] null;
  };

  serveResourceOptions = inModel: {
    user = mkOption {
      type = types.nullOr types.str;
      example = "llm";
      description = ''
        User the serve unit runs as. `null` runs it as a dynamic user (systemd
        `DynamicUser=`). A named user must exist, e.g. in {option}`users.users`.
      '';
    } // inherited inModel [ "user" ] null;

    memoryMax = mkOption {
      type = types.nullOr types.str;
      example = "16G";
      description = ''
        Memory limit of the serve unit (systemd `MemoryMax=`): bytes with an optional K, M,
        G, T, P or E suffix, a percentage, or `infinity`. `null`: no limit.
      '';
    } // inherited inModel [ "memoryMax" ] null;

    cpuQuota = mkOption {
      type = types.nullOr types.str;
      example = "400%";
      description = ''
        CPU time of the serve unit (systemd `CPUQuota=`), as a percentage of one CPU.
        `null`: no limit.
      '';
    } // inherited inModel [ "cpuQuota" ] null;

    deviceAllow = mkOption {
      type = types.listOf types.str;
      example = [
        "char-nvidia-frontend rw"
        "char-nvidiactl rw"
        "char-nvidia-uvm rw"
      ];
      description = ''
        Devices the serve unit may use (systemd `DeviceAllow=`), e.g. GPUs: a device node or
        a `char-`/`block-` class, optionally followed by a space and `r`, `w` and/or `m`.
      '';
    } // inherited inModel [ "deviceAllow" ] [ ];
  };

  modelModule =
    { name, ... }:
    {
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

        realise = realiseOptions true;

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
      } // serveResourceOptions true;
    };

  manifest = import ./manifest.nix {
    models = mapAttrs (_: m: {
      drv = m.model;
      output = if m.output != null then m.output else m.model.outputName or "out";
      inherit (m)
        user
        memoryMax
        cpuQuota
        deviceAllow
        onFailure
        ;
      serve = {
        inherit (m.serve)
          command
          notify
          readyUrl
          startTimeout
          listen
          ;
        environment = cfg.defaults.serve.environment // m.serve.environment;
      }
      // {
        inherit (m.serve) serviceConfig credentials;
        sandbox = if m.serve.sandbox == "strict" then null else m.serve.sandbox;
      }
      // lib.optionalAttrs (m.serve.environmentFile != null) { inherit (m.serve) environmentFile; };
      realise = {
        inherit (m.realise)
          maxSilentTime
          timeout
          builders
          substituters
          trustedPublicKeys
          buildersUseSubstitutes
          ;
      };
    }) cfg.models;
    optionPrefix = "${opt}.models";
    drvOption = "model";
    inherit (pkgs) writeText;
    bundle = if cfg.bundleDerivations then bundle else null;
    # The real parser validates the rendered manifest at build time (checkConfig).
    checker = "${cfg.package}/lib/systemd/system-generators/deferred-builds-generator";
  };

  # Each model's .drv closure, compressed, with its sources (./bundle.nix): what lets a
  # model be trained after a closure-only deploy or a GC while the system closure holds no
  # .drv. Built on the build platform; it builds nothing of the model.
  bundle = import ./bundle.nix {
    helper = "${cfg.package}/libexec/deferred-builds/deferred-realise";
    xz = "${pkgs.buildPackages.xz}/bin/xz";
    system = pkgs.stdenv.buildPlatform.system;
  };

  # Per-model settings the daemon only accepts from a trusted user (untrusted clients may set
  # max-silent-time, timeout and substituters listed in trusted-substituters).
  trustedSubstituters = config.nix.settings.trusted-substituters or [ ];
  needingTrust = lib.filterAttrs (
    _: m:
    m.realise.builders != null
    || !(lib.all (u: lib.elem u trustedSubstituters) m.realise.substituters)
    || m.realise.trustedPublicKeys != [ ]
    || m.realise.buildersUseSubstitutes != null
  ) cfg.models;

  realiseUnit = {
    environment.DEFERRED_BUILDS_NIX_STORE = "${config.nix.package}/bin/nix-store";
    # What `deferred-realise import` decompresses a bundle with.
    environment.DEFERRED_BUILDS_XZ = "${pkgs.xz}/bin/xz";
    restartIfChanged = false;
    overrideStrategy = "asDropin";
  };

  # system.forbiddenDependenciesRegexes is checked against the system closure, which now
  # carries each model's bundle and the sources its training needs. The sources are only
  # known once the bundles are built; their names are checked here.
  forbidden = config.system.forbiddenDependenciesRegexes or [ ];
  forbiddenWarnings = lib.optional (cfg.bundleDerivations && forbidden != [ ] && cfg.models != { }) (
    let
      bundleNames = mapAttrsToList (_: m: "${m.model.name}-bundle") cfg.models;
      matching = lib.filter (n: lib.any (re: builtins.match ".*(${re}).*" n != null) forbidden) bundleNames;
    in
    "${opt}: system.forbiddenDependenciesRegexes is set, and the system closure carries the derivation bundle of each model and the sources its training needs (data, scripts, patches: listed in each bundle's `sources` file once built); the system build fails if a regex matches one of them${
      lib.optionalString (matching != [ ]) ", and it matches the bundle ${lib.concatStringsSep ", " matching}"
    }. Rename the source, fetch it instead of copying a path, or set ${opt}.bundleDerivations = false and keep the derivations in a binary cache."
  );

  activate = "${cfg.package}/libexec/deferred-builds/deferred-builds-activate";
  cli = "${cfg.package}/bin/deferred-builds";
in
{
  options.services.deferred-builds = {
    enable = mkEnableOption "deferred-builds, which trains (realises) the declared models in the background after a switch or boot and then serves them, so that `nixos-rebuild switch` never waits for a training";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../package.nix { };
      defaultText = literalExpression "pkgs.callPackage <deferred-builds/package.nix> { }";
      description = ''
        The deferred-builds package: its systemd generator, unit templates, the
        `deferred-builds` command and the activation helper.
      '';
    };

    models = mkOption {
      type = types.attrsOf (types.submodule modelModule);
      default = { };
      example = literalExpression ''
        {
          llm = {
            model = pkgs.callPackage ./models/llm.nix { };
            serve.command = [
              (lib.getExe pkgs.my-llm-server)
              "--port"
              "8080"
            ];
            realise.timeout = 86400;
            memoryMax = "16G";
            deviceAllow = [ "/dev/nvidia0 rw" ];
          };
        }
      '';
      description = ''
        The models, by name. A name is 1 to 64 characters from `A-Z`, `a-z`, `0-9`, `_` and
        `-`, starting with a letter or a digit; it names the units
        (`deferred-serve@NAME.service`) and files. Names that differ only in case are
        rejected: they are distinct units, but not to people, nor on a case-insensitive state
        directory.
      '';
    };

    defaults = {
      realise = realiseOptions false;
      serve.environment = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = {
          HF_HUB_OFFLINE = "1";
        };
        description = "Environment of every serve program (a model's own variables win).";
      };
    } // serveResourceOptions false;

    bundleDerivations = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Whether the system closure carries each model's derivation bundle: its `.drv`
        closure, compressed, and the sources its training needs (data copied in as a path,
        scripts). The realise unit imports the `.drv`s from it (as root) when they are not
        in the store, after a closure-only deploy, a rollback or a garbage collection.

        `false`: the system closure holds neither, and a missing `.drv` must come from a
        binary cache that holds it (`nix copy --derivation`); the model cannot be trained
        otherwise. Either way the system closure holds no `.drv`, so VM tests, images and
        {option}`system.forbiddenDependenciesRegexes` work while models are untrained.
      '';
    };

    trustRealiseUser = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Whether to add `deferred-builds`, the user the realise units run as, to
        {option}`nix.settings.trusted-users`. The daemon ignores per-model `builders`,
        `trusted-public-keys` and `builders-use-substitutes`, and substituters not listed
        in {option}`nix.settings.trusted-substituters`, from an untrusted user; evaluation
        fails when a model sets one of them and this is `false`.

        A trusted user can make the daemon accept unsigned store paths, which is as good
        as root: this is never granted implicitly. Only the realise units run as this user;
        use {option}`nix.settings.trusted-substituters` when substituters are all a model
        needs.
      '';
    };

    onFailure = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "page-oncall@%n.service" ];
      description = ''
        Units to start when a model's training or server fails, for every model that does
        not set its own {option}`${opt}.models.<name>.onFailure`.
      '';
    };

    metrics.textfile = {
      enable = mkEnableOption "" // {
        description = ''
          Whether to write every model's metrics (`deferred-builds metrics --format
          prometheus`) to {option}`directory` on a timer, for node-exporter's textfile
          collector. node-exporter reads the folder its `--collector.textfile.directory=`
          flag names: add `"--collector.textfile.directory=''${config.${opt}.metrics.textfile.directory}"`
          to {option}`services.prometheus.exporters.node.extraFlags` (it is not added for
          you, as node-exporter may already read another folder).
        '';
      };
      directory = mkOption {
        type = types.path;
        default = "/var/lib/prometheus-node-exporter-text-files";
        description = ''
          The folder of node-exporter's textfile collector (nixpkgs' node exporter sets
          none by default; this is the folder NixOS's own infrastructure uses). The file is
          `deferred-builds.prom`, written whole: a hidden temporary file beside it, then a
          rename.
        '';
      };
      interval = mkOption {
        type = types.str;
        default = "1min";
        example = "15s";
        description = "How often the file is written (a systemd time span); also at once when the timer starts.";
      };
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions =
        map (message: {
          assertion = false;
          inherit message;
        }) manifest.errors
        ++ [
          {
            # Its closure is the toplevel's drvPath with every output: every model's.
            assertion = !(config.system.includeBuildDependencies or false) || cfg.models == { };
            message = "${opt}: system.includeBuildDependencies would make nixos-rebuild train every model (it puts the outputs of every derivation in the system's build closure into the system). Set it to false, or declare the models without deferred-builds.";
          }
          {
            assertion = cfg.trustRealiseUser || needingTrust == { };
            message = "${opt}: models ${lib.concatStringsSep ", " (lib.attrNames needingTrust)} set realise.builders, realise.trustedPublicKeys, realise.buildersUseSubstitutes or realise.substituters not listed in nix.settings.trusted-substituters, which nix-daemon ignores unless the realise user is trusted. Set ${opt}.trustRealiseUser = true to add \"deferred-builds\" to nix.settings.trusted-users, which is as good as root (a trusted user can make the daemon accept unsigned store paths); or drop those settings, and list the substituters in nix.settings.trusted-substituters.";
          }
        ];

      warnings =
        mapAttrsToList (
          name: m:
          "${opt}.models.${name}.user = \"${toString m.user}\" is not declared in users.users; make sure the user exists, or set user = null for a dynamic user."
        ) (lib.filterAttrs (_: m: m.user != null && !(config.users.users ? ${m.user})) cfg.models)
        ++ forbiddenWarnings;

      environment.etc."deferred-builds/manifest.ini".source = manifest.file;
      environment.systemPackages = [ cfg.package ];

      # TOPLEVEL/deferred-builds/manifest.ini names every generation's manifest, so the
      # activation helper and `deferred-builds prune` find what each live generation needs
      # (docs/DESIGN.md, "Generation identity").
      system.systemBuilderCommands = ''
        mkdir -p $out/deferred-builds
        ln -s ${manifest.file} $out/deferred-builds/manifest.ini
      '';

      # The realise and retrain units run as this static system user: a dynamic user's
      # state directory would sit below /var/lib/private (0700), where the servers could
      # not follow the published link into the GC roots.
      users.users.deferred-builds = {
        isSystemUser = true;
        group = "deferred-builds";
        description = "deferred-builds model realiser";
      };
      users.groups.deferred-builds = { };

      # The generator (lib/systemd/system-generators), the unit templates and
      # deferred-builds.target come from the package.
      systemd.packages = [ cfg.package ];

      # switch-to-configuration never restarts or stops generated units. This unit does
      # it: it has exited by the time of a switch, so the switch starts it again when it
      # starts multi-user.target, on every switch (restartTriggers would do nothing for a
      # unit that is not active). It retrains changed models, stops removed ones and is
      # idempotent (docs/DESIGN.md, "Units").
      systemd.services.deferred-builds-reconcile = {
        wantedBy = [ "multi-user.target" ];
        overrideStrategy = "asDropin";
      };

      # The realise units run nix-store against nix-daemon: the one of the configured Nix,
      # not whatever /run/current-system points at during a switch. A switch must never
      # restart them: that would start a training over.
      systemd.services."deferred-realise@" = realiseUnit;
      systemd.services."deferred-retrain@" = realiseUnit;

      # Prunes the GC-root folders of deleted generations; never fails the activation.
      # After specialfs: /run and /proc are mounted.
      system.activationScripts.deferred-builds = {
        text = ''
          ${activate} --system-config "$systemConfig" || true
        '';
        deps = [ "specialfs" ];
      };
    }

    # Drop the roots of deleted generations before collecting, so their models go in the
    # same run. "-": a failed prune only keeps some models one more GC; it must not stop it.
    (mkIf config.nix.gc.automatic {
      systemd.services.nix-gc.serviceConfig.ExecStartPre = [ "-${cli} prune" ];
    })

    (mkIf cfg.metrics.textfile.enable {
      assertions = [
        {
          assertion = builtins.match "[0-9][0-9a-z. ]*" cfg.metrics.textfile.interval != null;
          message = "${opt}.metrics.textfile.interval = \"${cfg.metrics.textfile.interval}\" is not a systemd time span such as \"1min\", \"30s\" or \"1h 30min\".";
        }
        {
          assertion = builtins.match "/[A-Za-z0-9._/+-]*" (toString cfg.metrics.textfile.directory) != null;
          message = "${opt}.metrics.textfile.directory must be an absolute path of letters, digits and ._/+- (it is written into a unit).";
        }
      ];
      # The service and timer come from the package (units/deferred-builds-metrics.*):
      # these drop-ins name the folder and the interval, and enable the timer.
      systemd.services.deferred-builds-metrics = {
        overrideStrategy = "asDropin";
        environment.DEFERRED_BUILDS_TEXTFILE_DIR = toString cfg.metrics.textfile.directory;
      };
      systemd.timers.deferred-builds-metrics = {
        wantedBy = [ "timers.target" ];
        overrideStrategy = "asDropin";
        # An empty assignment resets every trigger of the timer: the one at start is set again.
        timerConfig = {
          OnActiveSec = [
            ""
            "1s"
          ];
          OnUnitActiveSec = cfg.metrics.textfile.interval;
        };
      };
      systemd.tmpfiles.rules = [ "d ${toString cfg.metrics.textfile.directory} 0755 root root -" ];
    })

    (mkIf cfg.trustRealiseUser {
      # "root" too: defining trusted-users replaces the default of NixOS versions that set
      # it as the option's default.
      nix.settings.trusted-users = [
        "root"
        "deferred-builds"
      ];
    })
  ]);
}
