#!/usr/bin/env bash
# Every rule about declarations fires with its exact message; valid declarations have no
# errors. What only Nix can see (option shapes, string context, what rendering would lose)
# is an evaluation error of nixos-module/manifest.nix naming the model and the option. The
# grammar itself is the C parser's alone: for those cases Nix says nothing, and the real
# parser (deferred-builds-generator --check, which the module runs on the rendered manifest
# at build time) refuses the line. The cases are in tests/nix/fixtures/error-cases.nix.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/nix/helpers.bash
scratch_dir

fx=tests/nix/fixtures/error-cases.nix
alpha_drv=$(nix_raw "$fx" alphaDrv)
beta_drv=$(nix_raw "$fx" betaDrv)

# All cases in one evaluation (one nix process instead of one per case): "@@case NAME FN"
# lines, each followed by that case's messages.
all=$(nix_raw_expr "let fx = import ./$fx; names = builtins.attrNames fx.cases; in
  builtins.concatStringsSep \"\" (map (n: \"@@case \${n} errorsOf\\n\" + fx.errorsOf n + \"\\n\") names
    ++ map (n: \"@@case \${n} moduleErrorsOf\\n\" + fx.moduleErrorsOf n + \"\\n\") names)" 2>&1)
declare -A got_errors
current=""
while IFS= read -r line; do
        if [[ $line == "@@case "* ]]; then
                current=${line#@@case }
                got_errors[$current]=""
        elif [ -n "$current" ]; then
                got_errors[$current]+="${got_errors[$current]:+$'\n'}$line"
        fi
done <<<"$all"
ok "all cases evaluate (${#got_errors[@]} case/naming pairs)" test "${#got_errors[@]}" -gt 0

errors_are() { # errors_are CASE EXPECTED-LINES [FN]
        local got fn=${3:-errorsOf}
        local desc n
        if [ -z "${got_errors[$1 $fn]+set}" ]; then
                tap_result 1 "$1 ($fn) is a case of $fx" "$all"
                return
        fi
        got=${got_errors[$1 $fn]}
        # One-line TAP description: the first expected message and how many follow.
        n=$(printf '%s\n' "$2" | grep -c .)
        desc="$1 ($fn): ${2%%$'\n'*}"
        [ -z "$2" ] && desc="$1 ($fn): no errors"
        [ "$n" -gt 1 ] && desc="$desc (and $((n - 1)) more)"
        is "$got" "$2" "$desc"
}

gen="$ABS_BUILD/deferred-builds-generator"
# parser_says CASE EXPECTED-LINES: the real parser's messages for the rendered manifest of
# CASE (file name and the final summary line dropped); exit status 1, or 0 when none.
parser_says() {
        local rc got want=1
        [ -z "$2" ] && want=0
        if [ -z "${texts[$1]+set}" ]; then
                tap_result 1 "$1: the manifest renders" "$all_texts"
                return
        fi
        printf '%s\n' "${texts[$1]}" >"$SCRATCH/$1.ini"
        got=$("$gen" --check "$SCRATCH/$1.ini" 2>&1 >/dev/null)
        rc=$?
        [ "$rc" = 1 ] && got=$(printf '%s\n' "$got" | sed -e "s|^$SCRATCH/$1.ini:||" -e '$d')
        is "$rc:$got" "$want:$2" "$1 (parser): ${2:-configuration OK}"
}
# Every case's rendered manifest, in one evaluation.
all_texts=$(nix_raw_expr "let fx = import ./$fx; in builtins.concatStringsSep \"\"
  (map (n: \"@@case \${n}\\n\" + fx.textOf n) (builtins.attrNames fx.cases))" 2>&1)
declare -A texts
current=""
while IFS= read -r line; do
        if [[ $line == "@@case "* ]]; then
                current=${line#@@case }
                texts[$current]=""
        elif [ -n "$current" ]; then
                texts[$current]+="${texts[$current]:+$'\n'}$line"
        fi
done <<<"$all_texts"
NOT_EXEC="is not an absolute, normalized program path without quotes, backslashes or '\$' (systemd refuses those); arguments go in separate 'arg =' lines, ignoring model"
CTRL_C="control characters, noncharacters and invalid UTF-8 are not allowed, ignoring model"

NAME_RULE='the model name is not valid; use 1 to 64 characters from A-Z, a-z, 0-9, "_" and "-", starting with a letter or a digit (it becomes part of systemd unit names and file names).'
NEWLINE='contains a newline; the manifest holds one value a line, so remove it.'
# shellcheck disable=SC2016 # a literal ${pkgs.hello}, as the message says
SPACE='begins or ends with whitespace, which the manifest parser (inih) strips; remove it.'
TRAIN="that would make nixos-rebuild train the model; use the DEFERRED_MODEL_PATH environment variable the serve unit gets instead."
OWN="depends on the output of this model's derivation ($alpha_drv); $TRAIN"

# Valid declarations.
errors_are valid ""
errors_are valid-everything ""
errors_are name-64 ""
errors_are semicolon-ok ""
errors_are line-197 ""
errors_are context-fine ""
errors_are serve-options-ok ""

# Model names.
errors_are bad-name "models.\"bad.name\": $NAME_RULE"
errors_are name-too-long "models.$(printf 'a%.0s' $(seq 65)): $NAME_RULE"
errors_are name-leading-dash "models.\"-x\": $NAME_RULE"
errors_are case-collision ""
parser_says case-collision "4: error: model 'Llama': the name differs only in case from model 'llama' (line 9); rename one of them, ignoring model
9: error: model 'llama': the name differs only in case from model 'Llama' (line 4); rename one of them, ignoring model"
errors_are listen-collision ""
parser_says listen-collision "4: error: model 'a': listen '8080' cannot be bound while model 'b' (line 10) listens on '127.0.0.1:8080' ('8080' listens on port 8080 of every IPv6 and IPv4 address); give each model its own address or port, ignoring model
10: error: model 'b': listen '127.0.0.1:8080' cannot be bound while model 'a' (line 4) listens on '8080' ('8080' listens on port 8080 of every IPv6 and IPv4 address); give each model its own address or port, ignoring model"

# The derivation.
errors_are drv-missing "models.m.drv is missing; set it to the derivation that trains the model."
errors_are drv-not-derivation "models.m.drv is not a derivation; set it to the derivation (package) that trains the model, not to its output path or a string."
errors_are drv-to-derivation "models.m.drv is not a derivation; set it to the derivation (package) that trains the model, not to its output path or a string."
errors_are output-missing 'models.m.output = "dev": the derivation has no such output; use one of "out".'
errors_are unknown-keys 'models.m.serv: unknown attribute; a model takes drv, output, serve, realise, user, memoryMax, cpuQuota, deviceAllow, onFailure.
models.m.serve.arg: unknown attribute; serve takes exec, args, command, environment, notify, readyUrl, startTimeout, listen, sandbox, serviceConfig, credentials, environmentFile.
models.m.realise.timout: unknown attribute; realise takes maxSilentTime, timeout, builders, substituters, trustedPublicKeys, buildersUseSubstitutes.'

# The program.
errors_are exec-missing "models.m.serve.exec is missing; set it to the absolute path of the program that serves the model."
errors_are command-and-exec "models.m.serve: set either serve.command or serve.exec and serve.args, not both."
errors_are command-empty "models.m.serve.command must be a non-empty list of strings: the program, then its arguments."
errors_are args-not-list "models.m.serve.args must be a list of strings."
for c in exec-relative exec-unnormalized exec-dotdot exec-trailing-slash command-relative exec-root; do
        errors_are "$c" ""
done
parser_says exec-relative "7: error: model 'm': exec 'bin/serve' $NOT_EXEC"
parser_says exec-unnormalized "7: error: model 'm': exec '/usr//bin/serve' $NOT_EXEC"
parser_says exec-dotdot "7: error: model 'm': exec '/usr/bin/../serve' $NOT_EXEC"
parser_says exec-trailing-slash "7: error: model 'm': exec '/usr/bin/' $NOT_EXEC"
parser_says command-relative "7: error: model 'm': exec 'serve' $NOT_EXEC"
parser_says exec-root "7: error: model 'm': exec '/' $NOT_EXEC"

# Control characters anywhere.
errors_are newline-in-arg "models.m.serve.args (element 1) $NEWLINE"
errors_are newline-in-command "models.m.serve.command (element 2) $NEWLINE"
for c in tab-in-env del-in-exec c1-in-builders; do errors_are "$c" ""; done
parser_says tab-in-env "8: error: model 'm': value of 'environment' is 'FOO=a\\x09b': $CTRL_C"
parser_says del-in-exec "7: error: model 'm': value of 'exec' is '/usr/bin/se\\x7frve': $CTRL_C"
parser_says c1-in-builders "8: error: model 'm': value of 'builders' is 'ssh://a\\xc2\\x85b': $CTRL_C"

# What inih would read differently.
errors_are leading-space-arg "models.m.serve.args (element 1) = \" x\" $SPACE"
errors_are trailing-space-env "models.m.serve.environment.FOO = \"bar \" $SPACE"
COMMENT_C="contains ' ;', which starts a comment in this format, ignoring model"
LONG_C="shorten the value (split arguments into several 'arg =' lines)"
for c in inline-comment-arg leading-semicolon-arg inline-comment-builders line-198 long-env long-drv-name; do
        errors_are "$c" ""
done
parser_says inline-comment-arg "8: error: model 'm': value of 'arg' $COMMENT_C"
parser_says leading-semicolon-arg "8: error: model 'm': value of 'arg' $COMMENT_C"
parser_says inline-comment-builders "8: error: model 'm': value of 'builders' $COMMENT_C"
parser_says line-198 "8: error: line is 198 bytes long, the limit is 197: $LONG_C"
parser_says long-env "8: error: line is 219 bytes long, the limit is 197: $LONG_C"
parser_says long-drv-name "5: error: line is 204 bytes long, the limit is 197: $LONG_C"
parser_says semicolon-ok ""
parser_says line-197 ""

# Environment names.
for c in env-name-digit env-name-dash env-reserved; do errors_are "$c" ""; done
ENV_C="is not NAME=VALUE with NAME from [A-Za-z_][A-Za-z0-9_]*, ignoring model"
parser_says env-name-digit "8: error: model 'm': environment '1X=a' $ENV_C"
parser_says env-name-dash "8: error: model 'm': environment 'A-B=a' $ENV_C"
parser_says env-reserved "8: error: model 'm': environment 'DEFERRED_MODEL_PATH=/x' sets a DEFERRED_ variable, which the units set themselves (DEFERRED_MODEL_PATH is the published model); rename it, ignoring model"

# The key safety rule: nothing the system closure holds may depend on a model's output.
errors_are context-args "models.m.serve.args (element 1) $OWN"
errors_are context-env "models.m.serve.environment.MODEL $OWN"
errors_are context-exec "models.m.serve.exec $OWN"
errors_are context-command "models.m.serve.command (element 2) $OWN"
errors_are context-drvpath "models.m.serve.args (element 1) $OWN"
errors_are context-other-output "models.a.serve.args (element 1) depends on the output of model \"b\" ($beta_drv); that would make nixos-rebuild train that model; read it at run time from /run/deferred-builds/models/b instead."

# Realise and serve options.
errors_are realise-types 'models.m.realise.maxSilentTime must be a non-negative number of seconds or null.
models.m.realise.timeout must be a non-negative number of seconds or null.
models.m.realise.builders must be a string or null.
models.m.realise.substituters must be a list of strings.
models.m.realise.buildersUseSubstitutes must be true, false or null.'
errors_are realise-bounds ""
parser_says realise-bounds "9: error: model 'm': timeout '3153600001' is not a number of seconds up to 100 years (0 means no limit), ignoring model"
errors_are realise-lists 'models.m.realise.substituters element "https://a https://b" is empty or contains a space; give one URL a list element.
models.m.realise.substituters element "" is empty or contains a space; give one URL a list element.
models.m.realise.trustedPublicKeys element "k 1" is empty or contains a space; give one key a list element.'
errors_are serve-options ""
errors_are generation-bad ""
parser_says serve-options "8: error: model 'm': user '1abc' is not a valid user name, ignoring model
9: error: model 'm': memory-max '4 GB' is not a limit systemd applies: 1 to 2^64-2 bytes with an optional K, M, G, T, P or E suffix, 1% to 100%, or infinity, ignoring model
10: error: model 'm': cpu-quota '200' is not a quota systemd applies: a percentage from 1% to 21474836%, ignoring model
11: error: model 'm': device-allow '/dev/../x' is not '/dev/PATH [rwm]' or 'char-CLASS [rwm]' (no quotes or backslashes), ignoring model
12: error: model 'm': device-allow 'tty' is not '/dev/PATH [rwm]' or 'char-CLASS [rwm]' (no quotes or backslashes), ignoring model
13: error: model 'm': device-allow '/dev/nvidia0 rwx' is not '/dev/PATH [rwm]' or 'char-CLASS [rwm]' (no quotes or backslashes), ignoring model"
parser_says generation-bad "3: error: generation '.hidden' must be 1 to 128 characters from [A-Za-z0-9._+-], starting with a letter or digit"
for c in valid valid-everything name-64 context-fine serve-options-ok on-failure-ok; do parser_says "$c" ""; done
errors_are on-failure-type "models.m.onFailure must be a list of unit names."
errors_are on-failure-bad ""
parser_says on-failure-bad "8: error: model 'm': on-failure 'page oncall.service' is not a unit name systemd starts as written: NAME.TYPE or NAME@INSTANCE.TYPE from [A-Za-z0-9:_.-] (the instance may hold '@' and %n, %N, %p, %i, %j), at most 255 bytes, ignoring model
9: error: model 'm': on-failure 'alert@.service' is not a unit name systemd starts as written: NAME.TYPE or NAME@INSTANCE.TYPE from [A-Za-z0-9:_.-] (the instance may hold '@' and %n, %N, %p, %i, %j), at most 255 bytes, ignoring model"

# Sandbox profiles, passed-through settings and secrets: a path value would put the
# secret in the store; every value grammar is the parser's.
errors_are sandbox-ok ""
parser_says sandbox-ok ""
like "${texts[sandbox-ok]}" "sandbox = ml
service = LimitNOFILE=65536
service = MemoryDenyWriteExecute=yes
service = SystemCallFilter=@resources
service = SystemCallFilter=~@mount
credential = hf-token:/run/secrets/hf-token
environment-file = /run/secrets/env" "sandbox-ok: rendered in order, booleans as yes/no, one line per list element"
STORED='is a path value, which Nix copies into the store, readable by every user; give the secret'"'"'s location as a string outside the store, e.g. "/run/secrets/token".'
errors_are sandbox-types "models.m.serve.sandbox must be a string: strict, ml or gpu.
models.m.serve.serviceConfig.Nice must be a string, a boolean, an integer or a non-empty list of them.
models.m.serve.serviceConfig.ReadWritePaths must be a string, a boolean, an integer or a non-empty list of them.
models.m.serve.credentials.token $STORED
models.m.serve.environmentFile $STORED"
errors_are sandbox-parser ""
parser_says sandbox-parser "8: error: model 'm': sandbox 'lax' is not a sandbox profile: use strict (the default), ml or gpu, ignoring model
9: error: model 'm': service 'ExecStartPre=/bin/true' is a setting the units own (the command, restarts, timeouts and credentials, which 'exec =', 'notify =' and 'credential =' cover): drop it, ignoring model
10: error: model 'm': service 'ProcSubset=everything' is not all or pid, ignoring model
11: error: model 'm': service 'SystemCallFilter=sched_setaffinity' is not a list of system-call groups systemd knows (@resources, @mount, ...; see systemd-analyze syscall-filter), optionally prefixed by '~' to remove them; single system calls are not accepted, ignoring model
12: error: model 'm': credential 'token:/nix/store/1gdfjg3yr2hpz99mpgi876di58lslnjr-token' is in the Nix store, which every user can read: keep the secret outside it (e.g. /run/secrets) and name that path, ignoring model
13: error: model 'm': environment-file 'relative/env' is not an absolute, normalized path without white space, quotes, backslashes or '%', ignoring model"

# The NixOS module's naming: the same rules in its option names.
errors_are context-args "services.deferred-builds.models.m.serve.args (element 1) $OWN" moduleErrorsOf
errors_are drv-not-derivation "services.deferred-builds.models.m.model is not a derivation; set it to the derivation (package) that trains the model, not to its output path or a string." moduleErrorsOf
errors_are case-collision "" moduleErrorsOf

# Forcing the file of invalid declarations throws every message, with nix-instantiate too.
out=$(nix-instantiate --eval --strict -E "(import ./$fx).fileOf \"context-env\"" 2>&1)
rc=$?
ok "forcing the manifest file of invalid declarations fails" test "$rc" -ne 0
like "$out" "deferred-builds: the model declarations are not valid:" "the failure says the declarations are not valid"
like "$out" "- models\.m\.serve\.environment\.MODEL depends on the output of this model's derivation" "and lists the message naming the option"

# The build-time check (nixpkgs' checkConfig pattern): the manifest file is what the real
# parser accepted, or no file at all. It carries the model's .drv, never its output: this
# model's builder sleeps forever, so building the check trains nothing or never ends. With
# sandbox = false (Debian) the checker need not be in the store.
out=$(timeout 120 nix-build --no-out-link --option substituters '' -E "(import ./$fx).checkedFileOf \"serve-options\" \"$gen\"" 2>&1)
rc=$?
ok "building the checked manifest of declarations the parser refuses fails" test "$rc" -ne 0 -a "$rc" -ne 124
like "$out" "error: model 'm': user '1abc' is not a valid user name" "and the build log has the parser's message"
out=$(timeout 120 nix-build --no-out-link --option substituters '' -E "(import ./$fx).checkedFileOf \"valid\" \"$gen\"" 2>&1)
rc=$?
is "$rc" 0 "the checked manifest of valid declarations builds, and trains nothing"
is "$(cat "${out##*$'\n'}" 2>/dev/null)" "$(nix_raw_expr "(import ./$fx).textOf \"valid\"")" "and is exactly the rendered text"

tap_done
