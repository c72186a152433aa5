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
#         };                                         # (or serve.command = [ exec ] ++ args)
#         realise = { timeout = 86400; };            # optional, see `realiseKeys` below
#         user = null; memoryMax = "8G"; cpuQuota = "200%"; deviceAllow = [ ];   # optional
#       };
#     };
#     generation = null;        # optional identity, docs/DESIGN.md "Generation identity"
#     optionPrefix = "models";  # how messages name the models' attribute set
#     drvOption = "drv";        # how messages name a model's derivation attribute
#     writeText = null;         # pkgs.writeText in NixOS; null builds with /bin/sh
#     bundle = null;            # drv -> its derivation bundle (./bundle.nix), or null
#   }
#   => { text; errors; file; name; }
#
# `errors` is a list of messages, empty when the declarations are valid; each names the model
# and the option and says what to change. `text` is the manifest. `file` is the manifest as a
# store file (a derivation: `builtins.toFile` cannot refer to the bundles, which are outputs); forcing it
# with errors throws them all.
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
    replaceStrings
    split
    storeDir
    stringLength
    substring
    tail
    toJSON
    unsafeDiscardStringContext
    ;

  name = "deferred-builds-manifest.ini";

  # inih's default build (INI_MAX_LINE 200, as Debian ships it) reads lines into a 200-byte
  # buffer: 197 bytes of content leave room for "\r\n" and the terminating NUL. Longer lines
  # are cut silently, so the generator rejects the file (src/lib/manifest.c).
  maxLineBytes = 197;
  maxManifestBytes = 1024 * 1024;
  # The generator's bound for max-silent-time and timeout: 100 years.
  maxSeconds = 100 * 365 * 24 * 3600;

  realiseKeys = [
    "maxSilentTime"
    "timeout"
    "builders"
    "substituters"
    "trustedPublicKeys"
    "buildersUseSubstitutes"
  ];
  listKeys = [
    "substituters"
    "trusted-public-keys"
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
  ];
  serveKeys = [
    "exec"
    "args"
    "command"
    "environment"
    "notify"
  ];

  # ---- small helpers (builtins only) -------------------------------------------------------
  optional = cond: x: if cond then [ x ] else [ ];
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
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = replaceStrings upper lower;
  quote = toJSON;
  unknownKeys = allowed: set: filter (k: !(elem k allowed)) (attrNames set);

  # Control characters: bytes 0x01-0x1f and 0x7f, and the C1 range U+0080..U+009F (UTF-8
  # 0xc2 0x80..0x9f), which the C side rejects too. Built with fromJSON so this file stays
  # plain ASCII.
  controlClass = builtins.fromJSON ''"[\u0001-\u001f\u007f]"'';
  hexDigits = [ "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "a" "b" "c" "d" "e" "f" ];
  c1Chars = genList (
    i: builtins.fromJSON ''"\u00${elemAt hexDigits (8 + i / 16)}${elemAt hexDigits (i - (i / 16) * 16)}"''
  ) 32;
  c1Alternation = "(${concatStringsSep "|" c1Chars})";
  hasControl = s: hasMatch controlClass s || hasMatch c1Alternation s;

  # ---- grammars (the same as src/lib/validate.c) ---------------------------------------------
  nameRe = "[A-Za-z0-9][A-Za-z0-9_-]{0,63}";
  generationRe = "[A-Za-z0-9][A-Za-z0-9._+-]{0,127}";
  envNameRe = "[A-Za-z_][A-Za-z0-9_]*";
  userRe = "[A-Za-z_][A-Za-z0-9_-]{0,30}";
  memoryRe = "infinity|[0-9]+[KMGTPE%]?";
  cpuQuotaRe = "[0-9]+%";
  deviceRe = "(/dev/[^ ]+|(char|block)-[A-Za-z0-9_-]+)( [rwm]{1,3})?";
  storeHashRe = "[0-9a-df-np-sv-z]{32}";
  storePathRe = "${storeDir}/${storeHashRe}-[A-Za-z0-9+._?=-]+";

  # Absolute and normalized: no "//", "/./", "/../", no trailing "/" (validate.c).
  isNormalizedAbsolute =
    s:
    s == "/"
    || (
      hasPrefix "/" s
      && !hasSuffix "/" s
      && !hasSuffix "/." s
      && !hasSuffix "/.." s
      && !hasMatch "//" s
      && !hasMatch "/\\./" s
      && !hasMatch "/\\.\\./" s
      && stringLength s <= 4095
    );

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
      execLabel = if useCommand then "${at "serve.command"} (element 1, the program)" else at "serve.exec";
      argLabel =
        i: if useCommand then "${at "serve.command"} (element ${toString (i + 1)})" else "${at "serve.args"} (element ${toString i})";
      r = k: realise.${k} or (if elem k [ "substituters" "trustedPublicKeys" ] then [ ] else null);
      user = m.user or null;
      memoryMax = m.memoryMax or null;
      cpuQuota = m.cpuQuota or null;
      deviceAllow = m.deviceAllow or [ ];

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
              map (k: "${at "serve.${k}"}: unknown attribute; serve takes exec and args (or command) and environment.") (
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
          ++ optional (!(isBool notify)) "${at "serve.notify"} must be true or false.";

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
        ++ optional (r "maxSilentTime" != null) (entry "max-silent-time" (toString (r "maxSilentTime")) (at "realise.maxSilentTime"))
        ++ optional (r "timeout" != null) (entry "timeout" (toString (r "timeout")) (at "realise.timeout"))
        ++ optional (r "builders" != null) (entry "builders" (r "builders") (at "realise.builders"))
        ++ optional (r "substituters" != [ ]) (
          entry "substituters" (concatStringsSep " " (r "substituters")) (at "realise.substituters")
        )
        ++ optional (r "trustedPublicKeys" != [ ]) (
          entry "trusted-public-keys" (concatStringsSep " " (r "trustedPublicKeys")) (at "realise.trustedPublicKeys")
        )
        ++ optional (r "buildersUseSubstitutes" != null) (
          entry "builders-use-substitutes" (if r "buildersUseSubstitutes" then "true" else "false") (
            at "realise.buildersUseSubstitutes"
          )
        )
        ++ optional (user != null) (entry "user" user (at "user"))
        ++ optional (memoryMax != null) (entry "memory-max" memoryMax (at "memoryMax"))
        ++ optional (cpuQuota != null) (entry "cpu-quota" cpuQuota (at "cpuQuota"))
        ++ map (v: entry "device-allow" v (at "deviceAllow")) deviceAllow;

      # What inih would read differently from what was written, for any value.
      valueErrors =
        e:
        let
          v = e.value;
          line = lineOf e;
          lineBytes = stringLength line;
          ctx = getContext v;
          dependsOn = md: ctx ? ${md.drvPath} && ((ctx.${md.drvPath}.allOutputs or false) || (ctx.${md.drvPath}.outputs or [ ]) != [ ]);
        in
        optional (hasControl v)
          "${e.label} contains a control character (a newline, a tab or another character below U+0020, U+007F or U+0080..U+009F); the manifest holds one value a line, so remove it."
        # (Space-separated lists get this from an empty or spaced element, reported above.)
        ++ optional (
          !hasControl v && !(elem e.key listKeys) && (hasPrefix " " v || hasSuffix " " v)
        ) "${e.label} = ${quote e.shown} begins or ends with whitespace, which the manifest parser (inih) strips; remove it."
        ++ optional (hasMatch "(^;|[ ];)" v)
          "${e.label} = ${quote e.shown} contains a \";\" at its start or after whitespace, which the manifest parser (inih) reads as the start of a comment and cuts off; remove the whitespace before the \";\"."
        ++ optional (lineBytes > maxLineBytes)
          "${e.label} is too long: its manifest line \"${e.key} = ...\" would be ${toString lineBytes} bytes, but the manifest parser (inih) reads at most ${toString maxLineBytes} bytes a line; ${
            if e.key == "drv" || e.key == "out" || e.key == "bundle" then
              "give the model derivation a shorter name"
            else
              "shorten the value (put long settings in a file and pass its path)"
          }."
        ++ concatMap (
          md:
          optional (dependsOn md) (
            if md.name == n then
              "${e.label} depends on the output of this model's derivation (${md.drvPath}); that would make nixos-rebuild train the model; use the DEFERRED_MODEL_PATH environment variable the serve unit gets instead."
            else
              "${e.label} depends on the output of model ${quote md.name} (${md.drvPath}); that would make nixos-rebuild train that model; read it at run time from /run/deferred-builds/models/${md.name} instead."
          )
        ) modelDrvs;

      # Grammars the generator checks again; failing here says so at evaluation, not at boot.
      grammarErrors =
        optional (!isNormalizedAbsolute (stringOf exec) || stringOf exec == "/")
          "${execLabel} = ${quote (stringOf exec)} is not a normalized absolute path; give the program's full path, e.g. \"\${pkgs.hello}/bin/hello\" (no \"//\", \"/./\", \"/../\" or trailing \"/\")."
        ++ concatMap (
          k:
          optional (!matches envNameRe k)
            "${at "serve.environment"}: the variable name ${quote k} is not valid; use letters, digits and \"_\", not starting with a digit."
          ++ optional (k == "DEFERRED_MODEL_PATH")
            "${at "serve.environment.DEFERRED_MODEL_PATH"} is set by the serve unit itself (the published model); remove it."
        ) (attrNames env)
        ++ concatMap (
          k:
          optional (r k != null && r k > maxSeconds)
            "${at "realise.${k}"} = ${toString (r k)} is more than 100 years (${toString maxSeconds} seconds); use a smaller number, or 0 for no limit."
        ) [ "maxSilentTime" "timeout" ]
        ++ concatMap (
          k:
          concatMap (
            v:
            optional (v == "" || hasMatch "[ ]" v)
              "${at "realise.${k}"} element ${quote v} is empty or contains a space; give one ${
                if k == "substituters" then "URL" else "key"
              } a list element."
          ) (r k)
        ) [ "substituters" "trustedPublicKeys" ]
        ++ optional (user != null && !matches userRe user)
          "${at "user"} = ${quote user} is not a valid user name; use up to 31 characters from letters, digits, \"_\" and \"-\", not starting with a digit or \"-\", or null for a dynamic user."
        ++ optional (memoryMax != null && !(matches memoryRe memoryMax && stringLength memoryMax <= 20))
          "${at "memoryMax"} = ${quote memoryMax} is not a systemd MemoryMax= size; use bytes with an optional K, M, G, T, P or E suffix, a percentage such as \"50%\", or \"infinity\"."
        ++ optional (cpuQuota != null && !(matches cpuQuotaRe cpuQuota && stringLength cpuQuota <= 8))
          "${at "cpuQuota"} = ${quote cpuQuota} is not a systemd CPUQuota= value; use a percentage such as \"200%\"."
        ++ concatMap (
          v:
          let
            parts = match deviceRe v;
          in
          optional (parts == null || (hasPrefix "/dev/" v && !isNormalizedAbsolute (head parts)))
            "${at "deviceAllow"} element ${quote v} is not a systemd DeviceAllow= value; use a device node such as \"/dev/nvidia0\" or a class such as \"char-nvidia-uvm\", optionally followed by a space and r, w and/or m."
        ) deviceAllow;
    in
    if structural != [ ] then
      {
        errors = structural;
        lines = [ ];
      }
    else
      {
        errors = grammarErrors ++ concatMap valueErrors entries;
        lines = map lineOf entries;
      };

  checked = map (n: {
    name = n;
    result = checkModel n;
  }) modelNames;

  # Two names that differ only in case are distinct units and files on Linux, but not to the
  # people reading `deferred-builds status` nor on a case-insensitive (casefolded) state dir.
  caseErrors =
    let
      groups = foldl' (
        acc: n:
        let
          k = toLower n;
        in
        acc // { ${k} = (acc.${k} or [ ]) ++ [ n ]; }
      ) { } modelNames;
    in
    concatMap (
      k:
      let
        g = groups.${k};
      in
      optional (length g > 1)
        "${optionPrefix}: the model names ${concatStringsSep " and " (map quote g)} differ only in case; rename all but one (unit and file names tell them apart, but people and case-insensitive file systems do not)."
    ) (attrNames groups);

  generationErrors = optional (generation != null && !(isString generation && matches generationRe generation)) "generation = ${quote generation} is not valid; use 1 to 128 characters from A-Z, a-z, 0-9, \".\", \"_\", \"+\" and \"-\", starting with a letter or a digit, or null to name the generation by the manifest's store path.";

  text =
    "[deferred-builds]\nversion = 1\n"
    + (if generation != null then "generation = ${generation}\n" else "")
    + concatMapStrings (c: "\n[model.${c.name}]\n" + concatMapStrings (l: l + "\n") c.result.lines) checked;

  sizeErrors = optional (
    stringLength text > maxManifestBytes
  ) "the manifest would be ${toString (stringLength text)} bytes; the generator reads at most ${toString maxManifestBytes}; declare fewer models.";

  errorsBeforeSize = generationErrors ++ caseErrors ++ concatMap (c: c.result.errors) checked;
  errors = errorsBeforeSize ++ (if errorsBeforeSize == [ ] then sizeErrors else [ ]);

  file =
    if errors != [ ] then
      throw "deferred-builds: the model declarations are not valid:\n${concatMapStrings (e: "- ${e}\n") errors}"
    else if writeText != null then
      writeText name text
    # No nixpkgs: a plain derivation whose builder only uses shell built-ins (no PATH).
    # passAsFile keeps large manifests out of the environment (MAX_ARG_STRLEN).
    else
      derivation {
        inherit name system text;
        builder = "/bin/sh";
        args = [
          "-c"
          ''while IFS= read -r line; do printf '%s\n' "$line"; done < "$textPath" > "$out"''
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
