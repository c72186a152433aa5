# SPDX-License-Identifier: MIT
#
# services.deferred-builds.metrics.textfile: every model's metrics written on a timer for
# node-exporter's textfile collector (docs/operations.md, "Metrics"). The service and the
# timer ship in the package (units/deferred-builds-metrics.*); `config` configures and
# enables them. ./default.nix places both parts, so that the definitions stay in its
# module and merge in the same order as the rest of the service's:
#   metrics = import ./metrics.nix { inherit lib cfg opt; };
#   options.services.deferred-builds.metrics.textfile = metrics.options;
#   config = mkIf cfg.enable (mkMerge [ ... (mkIf cfg.metrics.textfile.enable metrics.config) ]);
{
  lib,
  cfg,
  opt,
}:
let
  inherit (lib)
    mkEnableOption
    mkOption
    types
    ;
in
{
  options = {
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

  config = {
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
  };
}
