# SPDX-License-Identifier: MIT
#
# NixOS module for deferred-builds: declare ML models as Nix derivations; the system closure
# carries no model and no .drv (each model's derivations travel compressed in a bundle,
# ./bundle.nix), and systemd trains ("realises") the models in the background after a
# switch or boot, then serves them. `nixos-rebuild switch` never trains.
# Usage: docs/nixos.md. Manifest logic and its validation: ./manifest.nix (pure, tested with
# Debian's Nix in tests/nix/). The options of a model: ./model-options.nix, those it shares
# with `defaults`: ./shared-options.nix; metrics for node-exporter: ./metrics.nix.
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

  # The options a model shares with `defaults`, node-exporter's metrics (options and
  # config) and the options of one model.
  shared = import ./shared-options.nix { inherit lib cfg opt; };
  metrics = import ./metrics.nix { inherit lib cfg opt; };
  modelModule = import ./model-options.nix {
    inherit
      lib
      cfg
      opt
      shared
      ;
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
      realise = shared.realise false;
      serve.environment = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = {
          HF_HUB_OFFLINE = "1";
        };
        description = "Environment of every serve program (a model's own variables win).";
      };
    } // shared.serveResources false;

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

    metrics.textfile = metrics.options;
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

    (mkIf cfg.metrics.textfile.enable metrics.config)

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
