#!/usr/bin/env bash
# Every validation rule of nixos-module/manifest.nix fires with its exact message, naming the
# model and the option and saying what to change; valid declarations have no errors. The
# cases are in tests/nix/fixtures/error-cases.nix.
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

NAME_RULE='the model name is not valid; use 1 to 64 characters from A-Z, a-z, 0-9, "_" and "-", starting with a letter or a digit (it becomes part of systemd unit names and file names).'
CTRL='contains a control character (a newline, a tab or another character below U+0020, U+007F or U+0080..U+009F); the manifest holds one value a line, so remove it.'
# shellcheck disable=SC2016 # a literal ${pkgs.hello}, as the message says
NOT_ABS='is not a normalized absolute path; give the program'"'"'s full path, e.g. "${pkgs.hello}/bin/hello" (no "//", "/./", "/../" or trailing "/").'
COMMENT='contains a ";" at its start or after whitespace, which the manifest parser (inih) reads as the start of a comment and cuts off; remove the whitespace before the ";".'
SPACE='begins or ends with whitespace, which the manifest parser (inih) strips; remove it.'
TRAIN="that would make nixos-rebuild train the model; use the DEFERRED_MODEL_PATH environment variable the serve unit gets instead."
OWN="depends on the output of this model's derivation ($alpha_drv); $TRAIN"
ENV_NAME='is not valid; use letters, digits and "_", not starting with a digit.'
DEVICE='is not a systemd DeviceAllow= value; use a device node such as "/dev/nvidia0" or a class such as "char-nvidia-uvm", optionally followed by a space and r, w and/or m.'

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
errors_are case-collision 'models: the model names "Llama" and "llama" differ only in case; rename all but one (unit and file names tell them apart, but people and case-insensitive file systems do not).'

# The derivation.
errors_are drv-missing "models.m.drv is missing; set it to the derivation that trains the model."
errors_are drv-not-derivation "models.m.drv is not a derivation; set it to the derivation (package) that trains the model, not to its output path or a string."
errors_are drv-to-derivation "models.m.drv is not a derivation; set it to the derivation (package) that trains the model, not to its output path or a string."
errors_are output-missing 'models.m.output = "dev": the derivation has no such output; use one of "out".'
errors_are unknown-keys 'models.m.serv: unknown attribute; a model takes drv, output, serve, realise, user, memoryMax, cpuQuota, deviceAllow.
models.m.serve.arg: unknown attribute; serve takes exec and args (or command) and environment.
models.m.realise.timout: unknown attribute; realise takes maxSilentTime, timeout, builders, substituters, trustedPublicKeys, buildersUseSubstitutes.'

# The program.
errors_are exec-missing "models.m.serve.exec is missing; set it to the absolute path of the program that serves the model."
errors_are command-and-exec "models.m.serve: set either serve.command or serve.exec and serve.args, not both."
errors_are command-empty "models.m.serve.command must be a non-empty list of strings: the program, then its arguments."
errors_are args-not-list "models.m.serve.args must be a list of strings."
errors_are exec-relative "models.m.serve.exec = \"bin/serve\" $NOT_ABS"
errors_are exec-unnormalized "models.m.serve.exec = \"/usr//bin/serve\" $NOT_ABS"
errors_are exec-dotdot "models.m.serve.exec = \"/usr/bin/../serve\" $NOT_ABS"
errors_are exec-trailing-slash "models.m.serve.exec = \"/usr/bin/\" $NOT_ABS"
errors_are command-relative "models.m.serve.command (element 1, the program) = \"serve\" $NOT_ABS"

# Control characters anywhere.
errors_are newline-in-arg "models.m.serve.args (element 1) $CTRL"
errors_are newline-in-command "models.m.serve.command (element 2) $CTRL"
errors_are tab-in-env "models.m.serve.environment.FOO $CTRL"
errors_are del-in-exec "models.m.serve.exec $CTRL"
errors_are c1-in-builders "models.m.realise.builders $CTRL"

# What inih would read differently.
errors_are leading-space-arg "models.m.serve.args (element 1) = \" x\" $SPACE"
errors_are trailing-space-env "models.m.serve.environment.FOO = \"bar \" $SPACE"
errors_are inline-comment-arg "models.m.serve.args (element 1) = \"a ;b\" $COMMENT"
errors_are leading-semicolon-arg "models.m.serve.args (element 1) = \";x\" $COMMENT"
errors_are inline-comment-builders "models.m.realise.builders = \"ssh://a x86_64-linux ; ssh://b x86_64-linux\" $COMMENT"
errors_are line-198 'models.m.serve.args (element 1) is too long: its manifest line "arg = ..." would be 198 bytes, but the manifest parser (inih) reads at most 197 bytes a line; shorten the value (put long settings in a file and pass its path).'
errors_are long-env 'models.m.serve.environment.LONG is too long: its manifest line "environment = ..." would be 219 bytes, but the manifest parser (inih) reads at most 197 bytes a line; shorten the value (put long settings in a file and pass its path).'
errors_are long-drv-name 'models.m.drv is too long: its manifest line "drv = ..." would be 204 bytes, but the manifest parser (inih) reads at most 197 bytes a line; give the model derivation a shorter name.
models.m.drv is too long: its manifest line "out = ..." would be 200 bytes, but the manifest parser (inih) reads at most 197 bytes a line; give the model derivation a shorter name.'

# Environment names.
errors_are env-name-digit "models.m.serve.environment: the variable name \"1X\" $ENV_NAME"
errors_are env-name-dash "models.m.serve.environment: the variable name \"A-B\" $ENV_NAME"
errors_are env-reserved "models.m.serve.environment.DEFERRED_MODEL_PATH is set by the serve unit itself (the published model); remove it."

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
errors_are realise-bounds "models.m.realise.timeout = 3153600001 is more than 100 years (3153600000 seconds); use a smaller number, or 0 for no limit."
errors_are exec-root "models.m.serve.exec = \"/\" $NOT_ABS"
errors_are realise-lists 'models.m.realise.substituters element "https://a https://b" is empty or contains a space; give one URL a list element.
models.m.realise.substituters element "" is empty or contains a space; give one URL a list element.
models.m.realise.trustedPublicKeys element "k 1" is empty or contains a space; give one key a list element.'
errors_are serve-options "models.m.user = \"1abc\" is not a valid user name; use up to 31 characters from letters, digits, \"_\" and \"-\", not starting with a digit or \"-\", or null for a dynamic user.
models.m.memoryMax = \"4 GB\" is not a systemd MemoryMax= size; use bytes with an optional K, M, G, T, P or E suffix, a percentage such as \"50%\", or \"infinity\".
models.m.cpuQuota = \"200\" is not a systemd CPUQuota= value; use a percentage such as \"200%\".
models.m.deviceAllow element \"/dev/../x\" $DEVICE
models.m.deviceAllow element \"tty\" $DEVICE
models.m.deviceAllow element \"/dev/nvidia0 rwx\" $DEVICE"
errors_are generation-bad 'generation = ".hidden" is not valid; use 1 to 128 characters from A-Z, a-z, 0-9, ".", "_", "+" and "-", starting with a letter or a digit, or null to name the generation by the manifest'"'"'s store path.'

# The NixOS module's naming: the same rules in its option names.
errors_are context-args "services.deferred-builds.models.m.serve.args (element 1) $OWN" moduleErrorsOf
errors_are drv-not-derivation "services.deferred-builds.models.m.model is not a derivation; set it to the derivation (package) that trains the model, not to its output path or a string." moduleErrorsOf
errors_are case-collision 'services.deferred-builds.models: the model names "Llama" and "llama" differ only in case; rename all but one (unit and file names tell them apart, but people and case-insensitive file systems do not).' moduleErrorsOf

# Forcing the file of invalid declarations throws every message, with nix-instantiate too.
out=$(nix-instantiate --eval --strict -E "(import ./$fx).fileOf \"context-env\"" 2>&1)
rc=$?
ok "forcing the manifest file of invalid declarations fails" test "$rc" -ne 0
like "$out" "deferred-builds: the model declarations are not valid:" "the failure says the declarations are not valid"
like "$out" "- models\.m\.serve\.environment\.MODEL depends on the output of this model's derivation" "and lists the message naming the option"

tap_done
