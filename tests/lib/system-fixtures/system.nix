# Test fixture: a NixOS-like system toplevel for the booted-system suites, in plain Nix.
# It holds what the NixOS module puts in a toplevel for deferred-builds: the manifest, at
# TOPLEVEL/deferred-builds/manifest.ini, rendered by the module's own manifest logic.
#
#   nix-build /opt/dbx-test/system.nix --arg models '{ linreg = { id = "A"; port = 8080; }; }'
#
# A model: id (its identity; a new id is a new derivation), port, epochs, epochSeconds,
# failAtEpoch (see examples/model.nix), server ("dbx": the example C server with readiness,
# "python": Debian's python3 running serve.py, "probe": probe.py), env (extra environment),
# contentAddressed (needs the daemon's ca-derivations feature), onFailure (alert units).
{
  models,
  generation ? null,
}:
let
  serveFor =
    m:
    let
      server = m.server or "dbx";
      port = toString m.port;
    in
    if server == "python" then
      {
        exec = "/usr/bin/python3";
        args = [
          "/opt/dbx-test/serve.py"
          port
        ];
      }
    else if server == "probe" then
      {
        exec = "/usr/bin/python3";
        args = [ "/opt/dbx-test/probe.py" ];
      }
    else
      {
        exec = "/opt/dbx-test/dbx-serve";
        args = [
          "--listen"
          "127.0.0.1:${port}"
        ];
        notify = true;
      };
  entry = name: m: {
    drv = import ./examples/model.nix {
      trainer = ./dbx-train;
      inherit (m) id;
      epochs = m.epochs or 3;
      epochSeconds = m.epochSeconds or 0;
      failAtEpoch = m.failAtEpoch or 0;
      contentAddressed = m.contentAddressed or false;
    };
    serve = serveFor m // {
      environment = m.env or { };
    };
    onFailure = m.onFailure or [ ];
  };
  # As the NixOS module does: each model's .drv closure travels in a bundle, the system
  # closure holds no .drv, and the installed deferred-realise imports it before a training.
  bundle = import ./nixos-module/bundle.nix {
    helper = "/usr/libexec/deferred-builds/deferred-realise";
    xz = "/usr/bin/xz";
  };
  manifest =
    (import ./nixos-module/manifest.nix {
      inherit generation bundle;
      checker = "/usr/lib/systemd/system-generators/deferred-builds-generator";
      models = builtins.mapAttrs entry models;
    }).file;
in
builtins.derivation {
  name = "nixos-system-dbx-test";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [
    "-c"
    "/bin/mkdir -p $out/deferred-builds && /bin/ln -s $manifest $out/deferred-builds/manifest.ini"
  ];
  inherit manifest;
}
