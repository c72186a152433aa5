# SPDX-License-Identifier: MIT
#
# The options a model shares with `services.deferred-builds.defaults`: the Nix settings of
# its training (`realise.*`) and its server's user and resources. Imported by ./default.nix:
#   shared = import ./shared-options.nix { inherit lib cfg opt; };
#   shared.realise true           # a model's realise options (false: those under `defaults`)
#   shared.serveResources true    # a model's user, memoryMax, cpuQuota and deviceAllow
{
  lib,
  cfg,
  opt,
}:
let
  inherit (lib)
    literalExpression
    mkOption
    types
    ;

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
in
{
  realise = inModel: {
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

  serveResources = inModel: {
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
}
