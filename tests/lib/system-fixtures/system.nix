# Test fixture: a NixOS-like system toplevel for the booted-system suites, in plain Nix.
# It holds what the NixOS module puts in a toplevel for deferred-builds: the manifest, at
# TOPLEVEL/deferred-builds/manifest.ini, rendered by the module's own manifest logic.
#
#   nix-build /opt/dbx-test/system.nix --arg models '{ linreg = { id = "A"; port = 8080; }; }'
#
# A model: id (its identity; a new id is a new derivation), port, epochs, epochSeconds,
# failAtEpoch (see examples/model.nix), server ("dbx": the example C server with readiness,
# "python": Debian's python3 running serve.py, "probe": probe.py, "torch": torch-serve.py,
# "uvicorn" or "hypercorn": app.py under that server with a ready-url; socket = true adds
# listen, trace = true uvicorn's per-connection log, startTimeout its start-timeout;
# "gunicorn": wsgi.py under gunicorn, a ready-url, socket as for uvicorn), env (extra environment), user, sandbox, serviceConfig, credentials,
# environmentFile,
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
    # FastAPI under uvicorn or hypercorn, up once /health answers; socket = true: systemd
    # holds the socket (listen) and the server takes it as fd 3. trace = true: uvicorn logs
    # each connection made and lost.
    if server == "uvicorn" || server == "hypercorn" then
      {
        exec = "/usr/bin/python3";
        args =
          if server == "uvicorn" then
            [
              "-m"
              "uvicorn"
              "--app-dir"
              "/opt/dbx-test"
              "--no-access-log"
            ]
            ++ (
              if m.trace or false then
                [
                  "--log-level"
                  "trace"
                ]
              else
                [ ]
            )
            ++ [ "app:app" ]
            ++ (
              if m.socket or false then
                [
                  "--fd"
                  "3"
                ]
              else
                [
                  "--host"
                  "127.0.0.1"
                  "--port"
                  port
                ]
            )
          else
            [
              "-m"
              "hypercorn"
              "--bind"
              (if m.socket or false then "fd://3" else "127.0.0.1:${port}")
              "/opt/dbx-test/app:app"
            ];
        readyUrl = "http://127.0.0.1:${port}/health";
        listen = if m.socket or false then [ "127.0.0.1:${port}" ] else [ ];
      }
      // (if m ? startTimeout then { inherit (m) startTimeout; } else { })
    # The same model as a WSGI app under gunicorn (sync workers). socket = true: gunicorn
    # finds LISTEN_FDS itself, and a `--bind fd://3` as well would close fd 3 twice.
    else if server == "gunicorn" then
      {
        exec = "/usr/bin/python3";
        args = [
          "-m"
          "gunicorn"
          "--chdir"
          "/opt/dbx-test"
          "--workers"
          "2"
        ]
        ++ (
          if m.socket or false then
            [ ]
          else
            [
              "--bind"
              "127.0.0.1:${port}"
            ]
        )
        ++ [ "wsgi:app" ];
        readyUrl = "http://127.0.0.1:${port}/health";
        listen = if m.socket or false then [ "127.0.0.1:${port}" ] else [ ];
      }
    else if server == "python" then
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
    else if server == "torch" then
      {
        exec = "/usr/bin/python3";
        args = [
          "/opt/dbx-test/torch-serve.py"
          port
        ];
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
    serve =
      serveFor m
      // {
        environment = m.env or { };
      }
      # The serve sandbox and secrets (docs/sandbox.md), as given.
      // builtins.intersectAttrs {
        sandbox = null;
        serviceConfig = null;
        credentials = null;
        environmentFile = null;
      } m;
    onFailure = m.onFailure or [ ];
  }
  // builtins.intersectAttrs { user = null; } m;
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
