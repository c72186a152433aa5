# SPDX-License-Identifier: MIT
#
# The deferred-builds manifest (format v1, docs/DESIGN.md) from a set of model declarations.
#
# Pure: it uses builtins only (no nixpkgs lib), so Debian's nix-instantiate evaluates it in
# the tests and the NixOS module shares it unchanged.
#
#   import ./manifest.nix {
#     models = {
#       llm = {
#         drv = pkgs.callPackage ./llm.nix { };      # a derivation; only its .drv is kept
#         output = "out";                            # optional, default drv.outputName
#         serve = {
#           exec = "${pkgs.my-server}/bin/serve";   # absolute; a path is copied to the store
#           args = [ "--port" "8080" ];              # optional
#           environment = { THREADS = "4"; };        # optional
#           sandbox = "ml";                          # optional: strict (default), ml, gpu
#           serviceConfig = { LimitNOFILE = 65536; };  # optional, docs/sandbox.md
#           credentials = { token = "/run/secrets/token"; };  # optional, never a path value
#           environmentFile = "/run/secrets/env";    # optional, never a path value
#         };                                         # (or serve.command = [ exec ] ++ args)
#         realise = { timeout = 86400; };            # optional, see `realiseKeys` below
#         user = null; memoryMax = "8G"; cpuQuota = "200%"; deviceAllow = [ ];   # optional
#         onFailure = [ "page-oncall@%n.service" ];  # optional: units started when it fails
#       };
#     };
#     generation = null;        # optional identity, docs/DESIGN.md "Generation identity"
#     optionPrefix = "models";  # how messages name the models' attribute set
#     drvOption = "drv";        # how messages name a model's derivation attribute
#     writeText = null;         # pkgs.writeText in NixOS; null builds with /bin/sh
#     bundle = null;            # drv -> its derivation bundle (./bundle.nix), or null
#     checker = null;           # "${pkg}/lib/systemd/system-generators/deferred-builds-generator"
#   }
#   => { text; errors; file; name; }
#
# The manifest grammar lives in one place, the C parser (src/lib/validate.c and
# src/lib/manifest*.c): `file` is built by running the real parser on the rendered manifest
# (`checker --check FILE`, nixpkgs' checkConfig pattern), so the build fails with its
# messages, naming the manifest line. The check carries only what the manifest carries (the
# bundles, never a model's output): it trains nothing. Without a checker (Debian's
# nix-instantiate tests pass this build's binary instead) the file is written unchecked.
#
# What only Nix can see is checked here, at evaluation: option shapes, string context (a
# value that depends on a model's output would train it at nixos-rebuild time) and what
# rendering would lose (a newline, white space at either end of a value, a list element with
# a space). `errors` is a list of those messages, empty when the declarations are valid; each
# names the model and the option and says what to change. `text` is the manifest. `file` is
# the manifest as a store file (a derivation: `builtins.toFile` cannot refer to the bundles,
# which are outputs); forcing it with errors throws them all.
#
# The manifest names each model's .drv and output path as text (context discarded): the
# system closure holds no .drv and no model output. With `bundle`, each model's bundle (its
# .drv closure, compressed, and the sources it needs) is in the closure instead, so the
# model can be trained after a closure-only deploy or a GC; without, a missing .drv must
# come from a binary cache. A serve value whose context holds a model's output is an
# error, because it would make nixos-rebuild build (train) the model.
{
  models,
  generation ? null,
  optionPrefix ? "models",
  drvOption ? "drv",
  writeText ? null,
  bundle ? null,
  checker ? null,
  system ? builtins.currentSystem,
}:
let
  inherit (builtins)
    attrNames
    concatLists
    concatStringsSep
    elem
    elemAt
    filter
    foldl'
    genList
    getContext
    head
    isAttrs
    isBool
    isInt
    isList
    isPath
    isString
    length
    match
    split
    storeDir
    stringLength
    substring
    tail
    toJSON
    unsafeDiscardStringContext
    ;

  name = "deferred-builds-manifest.ini";

  realiseKeys = [
    "maxSilentTime"
    "timeout"
    "builders"
    "substituters"
    "trustedPublicKeys"
    "buildersUseSubstitutes"
  ];
  listKeys = [
    "extra-substituters"
    "extra-trusted-public-keys"
  ];
  modelKeys = [
    "drv"
    "output"
    "serve"
    "realise"
    "user"
    "memoryMax"
    "cpuQuota"
    "deviceAllow"
    "onFailure"
  ];
  serveKeys = [
    "exec"
    "args"
    "command"
    "environment"
    "notify"
    "readyUrl"
    "startTimeout"
    "listen"
    "sandbox"
    "serviceConfig"
    "credentials"
    "environmentFile"
  ];

  # ---- small helpers (builtins only) -------------------------------------------------------
  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  concatMap = f: xs: concatLists (map f xs);
  imap1 = f: xs: genList (i: f (i + 1) (elemAt xs i)) (length xs);
  all = pred: xs: foldl' (acc: x: acc && pred x) true xs;
  concatMapStrings = f: xs: concatStringsSep "" (map f xs);
  hasMatch = re: s: length (split re s) > 1;
  matches = re: s: match re s != null;
  hasPrefix = p: s: substring 0 (stringLength p) s == p;
  hasSuffix =
    p: s:
    let
      ls = stringLength s;
      lp = stringLength p;
    in
    ls >= lp && substring (ls - lp) lp s == p;
  quote = toJSON;
  unknownKeys = allowed: set: filter (k: !(elem k allowed)) (attrNames set);

  # A value holding a newline would split its manifest line in two: the parser would read
  # the rest as a key of its own.
  hasNewline = s: hasMatch "\n" s;

  # ---- what rendering needs (the grammar itself is the C parser's) ----------------------------
  # A model name becomes a section header "[model.NAME]" and attribute paths of the module.
  nameRe = "[A-Za-z0-9][A-Za-z0-9_-]{0,63}";
  storeHashRe = "[0-9a-df-np-sv-z]{32}";
  storePathRe = "${storeDir}/${storeHashRe}-[A-Za-z0-9+._?=-]+";

  # tryEval: nixpkgs' toDerivation (a store path given where a package was expected) has a
  # drvPath that throws.
  isDerivation =
    d: isAttrs d && (d.type or null) == "derivation" && d ? drvPath && (builtins.tryEval d.drvPath).success;
  isStringish = v: isString v || isPath v;
  # A path value is copied into the store by interpolation, which gives it the context that
  # keeps it in the system closure; toString would not.
  stringOf = v: if isPath v then "${v}" else if isInt v then toString v else v;
  isArg = v: isString v || isPath v || isInt v;

  validName = n: matches nameRe n;
  # An empty value (an empty argument) is written "key =", which inih reads as "".
  lineOf = e: if e.value == "" then "${e.key} =" else "${e.key} = ${e.value}";
  attrPath = n: if matches "[A-Za-z_][A-Za-z0-9_'-]*" n then n else quote n;
  where = modelName: field: "${optionPrefix}.${attrPath modelName}.${field}";

  modelNames = attrNames models;

  # Every model whose drv is a derivation, for the context rule: a value of any model that
  # depends on the output of any model would build it at nixos-rebuild time.
  modelDrvs = concatMap (
    n:
    let
      d = (models.${n}).drv or null;
    in
    optional (isAttrs models.${n} && isDerivation d) {
      name = n;
      drvPath = unsafeDiscardStringContext d.drvPath;
    }
  ) modelNames;

  # ---- one model ------------------------------------------------------------------------------
  checkModel =
    n:
    let
      m = models.${n};
      at = where n;
      d = m.drv or null;
      # By default the output the drv attribute selects: `pkgs.foo.weights` serves weights,
      # a plain derivation its first output (usually out), as "${drv}" would.
      output = m.output or (if isAttrs d then d.outputName or "out" else "out");
      serve = m.serve or { };
      realise = m.realise or { };
      useCommand = isAttrs serve && serve ? command;
      command = serve.command or [ ];
      exec = if useCommand then (if isList command && command != [ ] then head command else null) else serve.exec or null;
      args = if useCommand then (if isList command && command != [ ] then tail command else [ ]) else serve.args or [ ];
      env = serve.environment or { };
      notify = serve.notify or false;
      readyUrl = serve.readyUrl or null;
      startTimeout = serve.startTimeout or null;
      listen = serve.listen or [ ];
      sandbox = serve.sandbox or null;
      serviceConfig = serve.serviceConfig or { };
      credentials = serve.credentials or { };
      environmentFile = serve.environmentFile or null;
      # A service setting's value as systemd reads it; a list is one line per element, as
      # nixpkgs' serviceConfig writes it (list settings accumulate).
      isScalar = v: isString v || isBool v || isInt v;
      settingOf = v: if isBool v then (if v then "yes" else "no") else toString v;
      settingLines = v: if isList v then v else [ v ];
      # A path value would be copied into the world-readable store by rendering.
      secretErrors =
        label: v:
        if isPath v then
          [
            "${label} is a path value, which Nix copies into the store, readable by every user; give the secret's location as a string outside the store, e.g. \"/run/secrets/token\"."
          ]
        else
          optional (!isString v) "${label} must be a string: the path of the secret on the machine.";
      execLabel = if useCommand then "${at "serve.command"} (element 1, the program)" else at "serve.exec";
      argLabel =
        i: if useCommand then "${at "serve.command"} (element ${toString (i + 1)})" else "${at "serve.args"} (element ${toString i})";
      r = k: realise.${k} or (if elem k [ "substituters" "trustedPublicKeys" ] then [ ] else null);
      user = m.user or null;
      memoryMax = m.memoryMax or null;
      cpuQuota = m.cpuQuota or null;
      deviceAllow = m.deviceAllow or [ ];
      onFailure = m.onFailure or [ ];

      # Structural errors: when there is any, the values are not looked at (they may not even
      # be strings), so evaluating the errors never throws.
      structural =
        if !isAttrs m then
          [ "${optionPrefix}.${attrPath n} must be an attribute set describing the model; set at least ${drvOption} and serve." ]
        else
          optional (!validName n)
            "${optionPrefix}.${attrPath n}: the model name is not valid; use 1 to 64 characters from A-Z, a-z, 0-9, \"_\" and \"-\", starting with a letter or a digit (it becomes part of systemd unit names and file names)."
          ++ map (k: "${at k}: unknown attribute; a model takes ${concatStringsSep ", " modelKeys}.") (unknownKeys modelKeys m)
          ++ (
            if d == null then
              [ "${at drvOption} is missing; set it to the derivation that trains the model." ]
            else if !isDerivation d then
              [ "${at drvOption} is not a derivation; set it to the derivation (package) that trains the model, not to its output path or a string." ]
            else
              optional (!isString output) "${at "output"} must be a string naming an output of the derivation."
              ++ optional (isString output && !(elem output (d.outputs or [ "out" ]) && d ? ${output}))
                "${at "output"} = ${quote output}: the derivation has no such output; use one of ${concatStringsSep ", " (map quote (d.outputs or [ "out" ]))}."
          )
          ++ (
            if !isAttrs serve then
              [ "${at "serve"} must be an attribute set with the program to run (serve.exec or serve.command)." ]
            else
              map (k: "${at "serve.${k}"}: unknown attribute; serve takes ${concatStringsSep ", " serveKeys}.") (
                unknownKeys serveKeys serve
              )
              ++ optional (useCommand && (serve ? exec || serve ? args))
                "${at "serve"}: set either serve.command or serve.exec and serve.args, not both."
              ++ optional (useCommand && !(isList command && command != [ ] && all isArg command))
                "${at "serve.command"} must be a non-empty list of strings: the program, then its arguments."
              ++ optional (!useCommand && exec == null) "${at "serve.exec"} is missing; set it to the absolute path of the program that serves the model."
              ++ optional (!useCommand && exec != null && !isStringish exec) "${at "serve.exec"} must be a string or a path."
              ++ optional (!useCommand && !(isList args && all isArg args)) "${at "serve.args"} must be a list of strings."
              ++ optional (!isAttrs env || !all (k: isString env.${k}) (attrNames env))
                "${at "serve.environment"} must be an attribute set of strings."
          )
          ++ (
            if !isAttrs realise then
              [ "${at "realise"} must be an attribute set." ]
            else
              map (k: "${at "realise.${k}"}: unknown attribute; realise takes ${concatStringsSep ", " realiseKeys}.") (
                unknownKeys realiseKeys realise
              )
              ++ concatMap (
                k:
                optional (!(r k == null || (isInt (r k) && r k >= 0)))
                  "${at "realise.${k}"} must be a non-negative number of seconds or null."
              ) [ "maxSilentTime" "timeout" ]
              ++ optional (!(r "builders" == null || isString (r "builders"))) "${at "realise.builders"} must be a string or null."
              ++ concatMap (
                k: optional (!(isList (r k) && all isString (r k))) "${at "realise.${k}"} must be a list of strings."
              ) [ "substituters" "trustedPublicKeys" ]
              ++ optional (!(r "buildersUseSubstitutes" == null || isBool (r "buildersUseSubstitutes")))
                "${at "realise.buildersUseSubstitutes"} must be true, false or null."
          )
          ++ concatMap (k: optional (!(m.${k} or null == null || isString m.${k})) "${at k} must be a string or null.") [
            "user"
            "memoryMax"
            "cpuQuota"
          ]
          ++ optional (!(isList deviceAllow && all isString deviceAllow)) "${at "deviceAllow"} must be a list of strings."
          ++ optional (!(isList onFailure && all isString onFailure)) "${at "onFailure"} must be a list of unit names."
          ++ optional (!(isBool notify)) "${at "serve.notify"} must be true or false."
          ++ optional (!(readyUrl == null || isString readyUrl)) "${at "serve.readyUrl"} must be a string or null."
          ++ optional (!(startTimeout == null || (isInt startTimeout && startTimeout > 0) || startTimeout == "infinity"))
            "${at "serve.startTimeout"} must be a positive number of seconds, \"infinity\" or null."
          ++ optional (!(isList listen && all isString listen)) "${at "serve.listen"} must be a list of strings."
          ++ optional (!(sandbox == null || isString sandbox)) "${at "serve.sandbox"} must be a string: strict, ml or gpu."
          ++ (
            if !isAttrs serviceConfig then
              [ "${at "serve.serviceConfig"} must be an attribute set of systemd [Service] settings." ]
            else
              concatMap (
                k:
                let
                  v = serviceConfig.${k};
                in
                optional (!(isScalar v || (isList v && v != [ ] && all isScalar v)))
                  "${at "serve.serviceConfig.${k}"} must be a string, a boolean, an integer or a non-empty list of them."
              ) (attrNames serviceConfig)
          )
          ++ (
            if !isAttrs credentials then
              [ "${at "serve.credentials"} must be an attribute set of credential IDs to paths." ]
            else
              concatMap (id: secretErrors (at "serve.credentials.${id}") credentials.${id}) (attrNames credentials)
          )
          ++ optionals (environmentFile != null) (secretErrors (at "serve.environmentFile") environmentFile);

      isCA =
        (d.__contentAddressed or false)
        || (d.__impure or false)
        || !matches storePathRe (unsafeDiscardStringContext d.${output}.outPath);

      # The manifest lines of this model, in format order, each with the option it comes from.
      entry = key: value: label: {
        inherit key value label;
        shown = value;
      };
      # The .drv as text only: a .drv in the system closure breaks every
      # exportReferencesGraph user (closureInfo). The bundle, whose context builds it, keeps
      # the derivations in compressed form (./bundle.nix).
      entries =
        [ (entry "drv" (unsafeDiscardStringContext d.drvPath) (at drvOption)) ]
        ++ optional (bundle != null) (entry "bundle" "${bundle d}" (at drvOption))
        ++ optional (output != "out") (entry "output" output (at "output"))
        ++ optional (!isCA) (entry "out" (unsafeDiscardStringContext d.${output}.outPath) (at drvOption))
        ++ [ (entry "exec" (stringOf exec) execLabel) ]
        ++ imap1 (i: a: entry "arg" (stringOf a) (argLabel i)) args
        ++ map (k: entry "environment" "${k}=${env.${k}}" (at "serve.environment.${k}") // { shown = env.${k}; }) (
          attrNames env
        )
        ++ optional (notify == true) (entry "notify" "true" (at "serve.notify"))
        ++ optional (sandbox != null) (entry "sandbox" sandbox (at "serve.sandbox"))
        ++ concatMap (
          k: map (v: entry "service" "${k}=${settingOf v}" (at "serve.serviceConfig.${k}")) (settingLines serviceConfig.${k})
        ) (attrNames serviceConfig)
        ++ map (id: entry "credential" "${id}:${credentials.${id}}" (at "serve.credentials.${id}")) (attrNames credentials)
        ++ optional (environmentFile != null) (entry "environment-file" environmentFile (at "serve.environmentFile"))
        ++ optional (r "maxSilentTime" != null) (entry "max-silent-time" (toString (r "maxSilentTime")) (at "realise.maxSilentTime"))
        ++ optional (r "timeout" != null) (entry "timeout" (toString (r "timeout")) (at "realise.timeout"))
        ++ optional (r "builders" != null) (entry "builders" (r "builders") (at "realise.builders"))
        ++ optional (r "substituters" != [ ]) (
          entry "extra-substituters" (concatStringsSep " " (r "substituters")) (at "realise.substituters")
        )
        ++ optional (r "trustedPublicKeys" != [ ]) (
          entry "extra-trusted-public-keys" (concatStringsSep " " (r "trustedPublicKeys")) (at "realise.trustedPublicKeys")
        )
        ++ optional (r "buildersUseSubstitutes" != null) (
          entry "builders-use-substitutes" (if r "buildersUseSubstitutes" then "true" else "false") (
            at "realise.buildersUseSubstitutes"
          )
        )
        ++ optional (user != null) (entry "user" user (at "user"))
        ++ optional (memoryMax != null) (entry "memory-max" memoryMax (at "memoryMax"))
        ++ optional (cpuQuota != null) (entry "cpu-quota" cpuQuota (at "cpuQuota"))
        ++ map (v: entry "device-allow" v (at "deviceAllow")) deviceAllow
        ++ optional (readyUrl != null) (entry "ready-url" readyUrl (at "serve.readyUrl"))
        ++ optional (startTimeout != null) (entry "start-timeout" (toString startTimeout) (at "serve.startTimeout"))
        ++ map (v: entry "listen" v (at "serve.listen")) listen
        ++ map (v: entry "on-failure" v (at "onFailure")) onFailure;

      # What rendering would lose, and what would train a model; the C parser checks the rest.
      valueErrors =
        e:
        let
          v = e.value;
          ctx = getContext v;
          dependsOn = md: ctx ? ${md.drvPath} && ((ctx.${md.drvPath}.allOutputs or false) || (ctx.${md.drvPath}.outputs or [ ]) != [ ]);
        in
        optional (hasNewline v)
          "${e.label} contains a newline; the manifest holds one value a line, so remove it."
        # inih strips white space around a value, so the parser cannot see it was there.
        # (Space-separated lists get this from an empty or spaced element, reported below.)
        ++ optional (
          !hasNewline v && !(elem e.key listKeys) && (hasPrefix " " v || hasSuffix " " v)
        ) "${e.label} = ${quote e.shown} begins or ends with whitespace, which the manifest parser (inih) strips; remove it."
        ++ concatMap (
          md:
          optional (dependsOn md) (
            if md.name == n then
              "${e.label} depends on the output of this model's derivation (${md.drvPath}); that would make nixos-rebuild train the model; use the DEFERRED_MODEL_PATH environment variable the serve unit gets instead."
            else
              "${e.label} depends on the output of model ${quote md.name} (${md.drvPath}); that would make nixos-rebuild train that model; read it at run time from /run/deferred-builds/models/${md.name} instead."
          )
        ) modelDrvs;

      # Rendering: a variable name holding "=" would move the rest into the value; list
      # elements are joined with spaces.
      renderErrors =
        concatMap (
          k:
          optional (hasMatch "=" k || hasNewline k)
            "${at "serve.environment"}: the variable name ${quote k} contains \"=\" or a newline; use letters, digits and \"_\"."
        ) (attrNames env)
        ++ concatMap (
          k:
          concatMap (
            v:
            optional (v == "" || hasMatch "[ ]" v)
              "${at "realise.${k}"} element ${quote v} is empty or contains a space; give one ${
                if k == "substituters" then "URL" else "key"
              } a list element."
          ) (r k)
        ) [ "substituters" "trustedPublicKeys" ];
    in
    if structural != [ ] then
      {
        errors = structural;
        lines = [ ];
      }
    else
      {
        errors = renderErrors ++ concatMap valueErrors entries;
        lines = map lineOf entries;
      };

  checked = map (n: {
    name = n;
    result = checkModel n;
  }) modelNames;

  # The generation is written as a line of the header.
  generationErrors = optional (generation != null && !(isString generation && !hasNewline generation)) "generation = ${quote generation} must be a string without a newline, or null to name the generation by the manifest's store path.";

  text =
    "[deferred-builds]\nversion = 1\n"
    + (if generation != null then "generation = ${generation}\n" else "")
    + concatMapStrings (c: "\n[model.${c.name}]\n" + concatMapStrings (l: l + "\n") c.result.lines) checked;

  errors = generationErrors ++ concatMap (c: c.result.errors) checked;

  file =
    if errors != [ ] then
      throw "deferred-builds: the model declarations are not valid:\n${concatMapStrings (e: "- ${e}\n") errors}"
    else if writeText != null && checker == null then
      writeText name text
    # A plain derivation whose builder only uses shell built-ins (no PATH), then the real
    # parser on what it wrote: the build fails with the parser's messages. passAsFile keeps
    # large manifests out of the environment (MAX_ARG_STRLEN).
    else
      derivation {
        inherit name system text;
        builder = "/bin/sh";
        args = [
          "-c"
          (
            ''while IFS= read -r line; do printf '%s\n' "$line"; done < "$textPath" > "$out"''
            + (if checker != null then '' && ${checker} --check "$out" >&2'' else "")
          )
        ];
        passAsFile = [ "text" ];
        preferLocalBuild = true;
        allowSubstitutes = false;
      };
in
{
  inherit
    name
    text
    errors
    file
    ;
}
