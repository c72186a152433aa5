#!/bin/sh
# bench/sh-generator.sh: the deferred-builds generator written in plain POSIX sh, as the
# yardstick of bench/run.sh ("how much does writing it in C buy?"). Not installed, not
# supported: a benchmark helper.
#
#   SYSTEMD_SCOPE=user|system DEFERRED_BUILDS_MANIFEST=FILE sh bench/sh-generator.sh NORMAL_DIR [EARLY LATE]
#
# For a valid manifest it writes the same tree, byte for byte, as
# build/deferred-builds-generator (bench/run.sh checks this with diff -r before timing
# it): the template drop-ins, one serve drop-in per model, the reconcile
# unit's .wants/ link. Models are validated the way the C generator does it (name, store paths,
# exec path, environment, numbers, user, memory, CPU quota, devices, duplicates, missing
# keys; bad models are warned about and skipped; a file with a syntax error, a bad
# [deferred-builds] header or more than 10,000 models is rejected as a whole).
#
# Choices, so that the comparison is honest and the sh side is as fast as sh gets:
#   - POSIX sh only (Debian runs it with dash), no awk, sed or other helper for the
#     parsing, validation and escaping: `read`, `case` patterns, parameter expansion,
#     `printf` and `eval`, all builtins, so none of that forks.
#   - One pass over the manifest, models streamed out as their sections end (see flush).
#   - External programs only where sh has no builtin: one `mkdir` per 128 models (and one
#     for the fixed directories), one `ln -s` for the reconcile unit's .wants/ link (POSIX
#     sh cannot make a symlink without a program), one realpath if the manifest is a
#     symlink. (Until the generator stopped linking every server into
#     deferred-builds.target.wants/, that was one `ln -s` process per model.)
#   - Files are written straight to their final name (`>`), not temp + rename as the C
#     generator does (that would cost one `mv` process per file): this favours sh.
#   - Not checked, unlike the C generator: invalid UTF-8 (control characters are), NUL
#     bytes, the 1 MiB size limit, a byte-order mark. None occurs in the benchmark
#     manifests; they are cheap in C and would each need a helper process in sh.
set -u
LC_ALL=C
export LC_ALL

GEN=deferred-builds-generator
MAX_MODELS=10000
LINE_MAX=197 # inih's INI_MAX_LINE (200) less room for "\r\n\0", as src/lib/manifest.c

if [ $# -ne 1 ] && [ $# -ne 3 ]; then
        echo "sh-generator: expected one or three output directories" >&2
        exit 64
fi
out=$1

warn() { printf '%s\n' "$*" >&2; }

scope=system
[ "${SYSTEMD_SCOPE:-}" = user ] && scope=user
store=/nix/store
case ${NIX_STORE_DIR:-} in /?*) store=$NIX_STORE_DIR ;; esac

# Paths, as src/lib/paths.c.
case ${DEFERRED_BUILDS_MANIFEST:-} in
/*) manifest=$DEFERRED_BUILDS_MANIFEST ;;
*)
        if [ $scope = system ]; then
                manifest=/etc/deferred-builds/manifest.ini
        else
                case ${XDG_CONFIG_HOME:-} in
                /*) manifest=$XDG_CONFIG_HOME/deferred-builds/manifest.ini ;;
                *) manifest=$HOME/.config/deferred-builds/manifest.ini ;;
                esac
        fi
        ;;
esac
case ${DEFERRED_BUILDS_STATE_DIR:-} in
/*) state_dir=$DEFERRED_BUILDS_STATE_DIR ;;
*)
        if [ $scope = system ]; then
                state_dir=/var/lib/deferred-builds
        else
                case ${XDG_STATE_HOME:-} in
                /*) state_dir=$XDG_STATE_HOME/deferred-builds ;;
                *) state_dir=$HOME/.local/state/deferred-builds ;;
                esac
        fi
        ;;
esac

[ -e "$manifest" ] || exit 0
if [ ! -f "$manifest" ]; then
        warn "$manifest: not a regular file, no deferred-builds units generated"
        exit 0
fi

# ---- grammars (src/lib/validate.c) as case patterns ------------------------------------
B32='[0-9abcdfghijklmnpqrsvwxyz]'
HASH=$B32$B32$B32$B32$B32$B32$B32$B32$B32$B32$B32$B32$B32$B32$B32$B32
HASH=$HASH$HASH
STORE_PAT="$store/$HASH-?*"

store_path_ok() { # store_path_ok VALUE
        case $1 in $STORE_PAT) ;; *) return 1 ;; esac
        _n=${1#"$store"/????????????????????????????????-}
        case $_n in .* | *[!A-Za-z0-9+._?=-]*) return 1 ;; esac
        [ ${#_n} -le 211 ]
}
abs_path_ok() {
        case $1 in
        /) return 0 ;;
        /*) ;;
        *) return 1 ;;
        esac
        case $1 in *[[:cntrl:]]* | *// | *//* | */./* | */../* | */. | */.. | */) return 1 ;; esac
        [ ${#1} -le 4095 ]
}
name_ok() {
        case $1 in [A-Za-z0-9]*) ;; *) return 1 ;; esac
        case $1 in *[!A-Za-z0-9_-]*) return 1 ;; esac
        [ ${#1} -le 64 ]
}
gen_ok() {
        case $1 in [A-Za-z0-9]*) ;; *) return 1 ;; esac
        case $1 in *[!A-Za-z0-9._+-]*) return 1 ;; esac
        [ ${#1} -le 128 ]
}
digits_ok() { case $1 in '' | *[!0-9]*) return 1 ;; esac }
env_ok() {
        case $1 in [A-Za-z_]*=*) ;; *) return 1 ;; esac
        _k=${1%%=*}
        case $_k in *[!A-Za-z0-9_]*) return 1 ;; esac
        case ${1#*=} in *[[:cntrl:]]*) return 1 ;; esac
}
user_ok() {
        case $1 in [A-Za-z_]*) ;; *) return 1 ;; esac
        case $1 in *[!A-Za-z0-9_-]*) return 1 ;; esac
        [ ${#1} -le 31 ]
}
mem_ok() {
        [ "$1" = infinity ] && return 0
        [ ${#1} -ge 1 ] && [ ${#1} -le 20 ] || return 1
        case $1 in *[%KMGTPE]) digits_ok "${1%?}" ;; *) digits_ok "$1" ;; esac
}
cpu_ok() {
        [ ${#1} -ge 2 ] && [ ${#1} -le 8 ] || return 1
        case $1 in *%) digits_ok "${1%?}" ;; *) return 1 ;; esac
}
dev_ok() {
        _d=${1%% *}
        case $1 in
        *' '*)
                _p=${1#* }
                case $_p in '' | *[!rwm]*) return 1 ;; esac
                [ ${#_p} -le 3 ] || return 1
                ;;
        esac
        case $_d in
        char-* | block-*)
                _c=${_d#*-}
                case $_c in '' | *[!A-Za-z0-9_-]*) return 1 ;; esac
                return 0
                ;;
        /dev/*) abs_path_ok "$_d" ;;
        *) return 1 ;;
        esac
}

# ---- escaping (src/lib/unitfile.c) ---------------------------------------------------
# esc VALUE SPECIALS: sets R to VALUE with \ " % (and $ when SPECIALS has it) escaped for
# a unit file. The common case (nothing to escape) is one pattern match.
esc() {
        _s=$1
        R=
        while :; do
                case $2 in
                '$') case $_s in *[\\\"%\$]*) ;; *) R=$R$_s && return ;; esac ;;
                *) case $_s in *[\\\"%]*) ;; *) R=$R$_s && return ;; esac ;;
                esac
                if [ "$2" = '$' ]; then _pre=${_s%%[\\\"%\$]*}; else _pre=${_s%%[\\\"%]*}; fi
                _s=${_s#"$_pre"}
                _rest=${_s#?}
                _c=${_s%"$_rest"}
                case $_c in
                \\) R=$R$_pre'\\' ;;
                \") R=$R$_pre'\"' ;;
                %) R=$R$_pre'%%' ;;
                \$) R=$R$_pre'$$' ;;
                esac
                _s=$_rest
        done
}
spec_esc() { # only % doubled
        _s=$1
        R=
        while :; do
                case $_s in *%*) ;; *) R=$R$_s && return ;; esac
                R=$R${_s%%\%*}%%
                _s=${_s#*%}
        done
}

# Model names may hold '-' and '_', which variable names cannot: '_' -> '_u', '-' -> '_d'.
varkey() {
        _s=$1
        VK=
        while :; do
                case $_s in *[-_]*) ;; *) VK=$VK$_s && return ;; esac
                VK=$VK${_s%%[-_]*}
                _s=${_s#"${_s%%[-_]*}"}
                case $_s in -*) VK=${VK}_d ;; *) VK=${VK}_u ;; esac
                _s=${_s#?}
        done
}

# The 64-bit hash of a long model name, as serve_user_name() in src/lib/unitfile.c, computed
# in two 32-bit halves so that sh arithmetic never overflows. Sets R to 16 hex digits.
# FNV-1a's offset basis is 14695981039346656037 (0xcbf29ce484222325).
fnv1a() {
        _hi=3421674724 _lo=2216829733 # 0xcbf29ce4 0x84222325
        _f=$1
        while [ -n "$_f" ]; do
                _rest=${_f#?}
                _c=${_f%"$_rest"}
                _f=$_rest
                _lo=$((_lo ^ $(printf '%d' "'$_c")))
                # h *= 2^40 + 0x1b3
                _l2=$((_lo * 435))
                _hi=$(((_hi * 435 + (_l2 >> 32) + (_lo << 8)) & 4294967295))
                _lo=$((_l2 & 4294967295))
        done
        R=$(printf '%08x%08x' "$_hi" "$_lo")
}

reject() {
        warn "$manifest:$lineno: error: $*"
        warn "Manifest $manifest rejected, no deferred-builds units generated; check it with 'deferred-builds check $manifest'."
        # Models already written are taken back: a rejected file yields no units at all.
        [ -n "$flushed" ] && rm -rf -- ./* ./.[!.]*
        exit 0
}
model_error() { # model_error MESSAGE   (current model)
        C_bad=1
        warn "$manifest:$lineno: error: model '$C_name': $*, ignoring model"
}
set_once() { # set_once FIELD   (value in $value)
        eval "_was=\${C_$1+x}"
        if [ -n "$_was" ]; then
                model_error "key '$key' is set twice; keep one"
                return 1
        fi
        eval "C_$1=\$value"
}

# ---- output, a batch of models at a time ------------------------------------------------
# Rendered drop-ins wait in P_<j>_* until BATCH models are pending; then one mkdir makes
# all their directories and printf writes the files. A dozen
# variables per pending model and one per model name (for duplicates) stay few enough
# for dash's small variable hash table; keeping every model in variables made dash
# quadratic (minutes at 10,000 models).
BATCH=128
np=0
P_dirs=
flushed=
flush() {
        [ $np -gt 0 ] || return 0
        # shellcheck disable=SC2086 # names are [A-Za-z0-9_-] plus fixed text: no splitting surprises
        mkdir $P_dirs || exit 1
        _j=0
        while [ $_j -lt $np ]; do
                _j=$((_j + 1))
                eval "_name=\$P_${_j}_name _vk=\$P_${_j}_vk _s=\$P_${_j}_s _bad=\${P_${_j}_bad-}"
                [ -n "$_bad" ] && continue
                printf '%s' "$_s" >"deferred-serve@$_name.service.d/50-deferred-builds-model.conf" || exit 1
                eval "D_$_vk=w"
        done
        # Pending models that turned out to be duplicates got directories but no files.
        _j=0
        while [ $_j -lt $np ]; do
                _j=$((_j + 1))
                eval "_name=\$P_${_j}_name _bad=\${P_${_j}_bad-}"
                [ -n "$_bad" ] && rmdir "deferred-serve@$_name.service.d"
                unset "P_${_j}_bad"
        done
        np=0
        P_dirs=
        flushed=1
}

# The model whose section just ended: checked for its required keys, rendered, queued.
model_end() {
        [ "$sect" = model ] || return 0
        [ -n "$C_bad" ] && return 0
        if [ -z "${C_drv-}" ]; then
                warn "$manifest: error: model '$C_name': no 'drv =' line: every model needs its derivation, ignoring model"
                return 0
        fi
        if [ -z "${C_exec-}" ]; then
                warn "$manifest: error: model '$C_name': no 'exec =' line: every model needs a serve program, ignoring model"
                return 0
        fi
        esc "$C_exec" '$'
        _s="${HDR}ExecStart=\"$R\"$C_args
$C_env"
        case ${C_notify-} in true | yes | 1) _s="${_s}Type=notify
NotifyAccess=main
" ;;
        esac
        if [ $scope = system ]; then
                if [ -n "${C_user-}" ]; then
                        _s="${_s}DynamicUser=no
User=$C_user
"
                elif [ ${#C_name} -le 24 ]; then
                        _s="${_s}User=dserve-$C_name
"
                else
                        fnv1a "$C_name"
                        _s="${_s}User=dserve-$R
"
                fi
        fi
        [ -n "${C_mem-}" ] && _s="${_s}MemoryMax=$C_mem
"
        [ -n "${C_cpu-}" ] && _s="${_s}CPUQuota=$C_cpu
"
        [ -n "$C_dev" ] && _s="${_s}PrivateDevices=no
DevicePolicy=closed
$C_dev"
        np=$((np + 1))
        eval "P_${np}_name=\$C_name P_${np}_vk=\$C_vk P_${np}_s=\$_s D_$C_vk=p$np"
        P_dirs="$P_dirs deferred-serve@$C_name.service.d"
        [ $np -lt $BATCH ] || flush
}

# A second section for a model name: the C generator drops the model altogether, so its
# queued or written drop-ins are taken back.
drop_duplicate() { # drop_duplicate STATE   (p<j>: pending as j; w: written; "": was invalid)
        case $1 in
        p*) eval "P_${1#p}_bad=1" ;;
        w)
                rm -rf -- "deferred-serve@$C_name.service.d"
                ;;
        esac
}

section_begin() {
        model_end
        sect=unknown
        if [ "$1" = deferred-builds ]; then
                [ -n "$saw_header" ] && reject "section [deferred-builds] appears twice; merge them into one"
                saw_header=1
                sect=header
                return
        fi
        case $1 in
        model.*) ;;
        *)
                warn "$manifest:$lineno: warning: unknown section [$1]; sections are [deferred-builds] and [model.NAME], ignoring it"
                return
                ;;
        esac
        unset C_drv C_out C_output C_exec C_max_silent_time C_timeout C_builders C_substituters \
                C_trusted_public_keys C_bus C_notify C_user C_mem C_cpu
        C_name=${1#model.}
        C_bad=
        C_args=
        C_env=
        C_dev=
        C_vk=
        sect=model
        if name_ok "$C_name"; then
                varkey "$C_name"
                C_vk=$VK
                eval "_prev=\${D_$VK-}"
                if [ -n "$_prev" ]; then
                        # Later sections of the name are ignored (C: they count as the first).
                        model_error "defined twice; keep one [$1] section"
                        [ "$_prev" = x ] || drop_duplicate "$_prev"
                        eval "D_$VK=x"
                        return
                fi
                eval "D_$VK=x" # invalid until queued
        else
                model_error "invalid name"
        fi
        if [ $n -ge $MAX_MODELS ]; then
                too_many=1
                sect=unknown
                return
        fi
        n=$((n + 1))
}

model_key() {
        [ -n "$C_bad" ] && return # the C generator reports more, but writes the same
        case $raw in *[=:]*[\ \	]\;*)
                model_error "value of '$key' contains ' ;', which starts a comment in this format"
                return
                ;;
        esac
        case $value in *[[:cntrl:]]*)
                model_error "value of '$key' has control characters"
                return
                ;;
        esac
        case $key in
        drv)
                set_once drv || return
                case $value in *.drv) store_path_ok "$value" && [ ${#value} -gt $((${#store} + 38)) ] && return ;; esac
                model_error "drv '$value' is not a derivation in the store"
                ;;
        out)
                set_once out || return
                case $value in *.drv) ;; *) store_path_ok "$value" && return ;; esac
                model_error "out '$value' is not a store path"
                ;;
        output)
                set_once output || return
                case $value in '' | .* | *[!A-Za-z0-9+._?=-]*) model_error "output '$value' is not an output name" ;; esac
                [ ${#value} -le 64 ] || model_error "output '$value' is not an output name"
                ;;
        exec)
                set_once exec || return
                if ! abs_path_ok "$value" || [ "$value" = / ]; then
                        model_error "exec '$value' is not an absolute, normalized program path"
                fi
                ;;
        arg)
                esc "$value" '$'
                C_args="$C_args \"$R\""
                ;;
        environment)
                if env_ok "$value"; then
                        esc "$value" ''
                        C_env="${C_env}Environment=\"$R\"
"
                else
                        model_error "environment '$value' is not NAME=VALUE"
                fi
                ;;
        max-silent-time | timeout)
                if [ "$key" = timeout ]; then set_once timeout || return; else set_once max_silent_time || return; fi
                if ! digits_ok "$value" || [ ${#value} -gt 10 ] || [ "$value" -gt 3153600000 ]; then
                        model_error "$key '$value' is not a number of seconds"
                fi
                ;;
        builders) set_once builders ;;
        substituters) set_once substituters ;;
        trusted-public-keys) set_once trusted_public_keys ;;
        notify)
                set_once notify || return
                case $value in true | yes | 1 | false | no | 0) ;; *) model_error "notify '$value' is not true or false" ;; esac
                ;;
        builders-use-substitutes)
                set_once bus || return
                case $value in true | yes | 1 | false | no | 0) ;; *) model_error "builders-use-substitutes '$value' is not true or false" ;; esac
                ;;
        user)
                set_once user || return
                user_ok "$value" || model_error "user '$value' is not a valid user name"
                ;;
        memory-max)
                set_once mem || return
                mem_ok "$value" || model_error "memory-max '$value' is not a size"
                ;;
        cpu-quota)
                set_once cpu || return
                cpu_ok "$value" || model_error "cpu-quota '$value' is not a percentage"
                ;;
        device-allow)
                if dev_ok "$value"; then
                        spec_esc "$value"
                        C_dev="${C_dev}DeviceAllow=$R
"
                else
                        model_error "device-allow '$value' is not '/dev/PATH [rwm]' or 'char-CLASS [rwm]'"
                fi
                ;;
        *) warn "$manifest:$lineno: warning: model '$C_name': unknown key '$key', ignoring it" ;;
        esac
}

header_key() {
        value=${value%%[\ \	]\;*}
        value=${value%"${value##*[! 	]}"}
        case $key in
        version)
                [ -n "$saw_version" ] && reject "version is set twice; keep one"
                saw_version=1
                digits_ok "$value" || reject "version '$value' is not a number"
                [ "$value" = 1 ] || reject "manifest format version $value is not supported"
                ;;
        generation)
                [ -n "$generation" ] && reject "generation is set twice; keep one"
                gen_ok "$value" || reject "generation '$value' is not valid"
                generation=$value
                ;;
        *) warn "$manifest:$lineno: warning: unknown key '$key' in [deferred-builds], ignoring it" ;;
        esac
}

# ---- parse and write --------------------------------------------------------------------
# Relative names from here on: the manifest path is absolute.
cd "$out" || {
        warn "Failed to open output directory $out"
        exit 1
}
spec_esc "$manifest"
HDR="# Automatically generated by $GEN

[Unit]
SourcePath=$R

[Service]
"
CR=$(printf '\r')
n=0
sect=none
lineno=0
saw_header=
saw_version=
generation=
too_many=
while IFS= read -r raw || [ -n "$raw" ]; do
        lineno=$((lineno + 1))
        raw=${raw%"$CR"}
        [ ${#raw} -le $LINE_MAX ] || reject "line is ${#raw} bytes long, the limit is $LINE_MAX"
        case $raw in
        '') continue ;;
        [\ \	]*)
                case $raw in *[!\ \	]*) reject "line starts with white space: continuation lines are not supported" ;; esac
                continue
                ;;
        [\;#]*) continue ;;
        \[*)
                case $raw in *\]*) ;; *) reject "syntax error" ;; esac
                _s=${raw#?}
                section_begin "${_s%%\]*}"
                continue
                ;;
        *[=:]*) ;;
        *) reject "syntax error: expected '[section]', 'key = value', a comment or a blank line" ;;
        esac
        key=${raw%%[=:]*}
        key=${key%"${key##*[! 	]}"}
        value=${raw#*[=:]}
        value=${value#"${value%%[! 	]*}"}
        value=${value%"${value##*[! 	]}"}
        case $sect in
        model) model_key ;;
        header) header_key ;;
        none) warn "$manifest:$lineno: warning: key '$key' outside any section, ignoring it" ;;
        esac
done <"$manifest"
model_end
lineno=0
[ -z "$too_many" ] || reject "more than $MAX_MODELS models"
[ -n "$saw_header" ] && [ -n "$saw_version" ] || reject "missing '[deferred-builds]' section with 'version = 1'"
flush

if [ -h "$manifest" ]; then
        real=$(realpath -- "$manifest") || exit 0
else
        _dir=${manifest%/*}
        real=$(cd -P -- "${_dir:-/}" && echo "$PWD")/${manifest##*/}
        real=${real#/}
        real=/${real#/}
fi
if ! abs_path_ok "$real" || ! abs_path_ok "$state_dir"; then
        warn "Manifest path $real or state directory $state_dir is not a clean absolute path, not generating units."
        [ -n "$flushed" ] && rm -rf -- ./* ./.[!.]*
        exit 0
fi
esc "$real" ''
real_e=$R
esc "$state_dir" ''
tmpl="${HDR}Environment=\"DEFERRED_BUILDS_SCOPE=$scope\"
Environment=\"DEFERRED_BUILDS_MANIFEST=$real_e\"
Environment=\"DEFERRED_BUILDS_STATE_DIR=$R\"
"
wanted_by=multi-user.target
[ $scope = user ] && wanted_by=default.target
mkdir deferred-realise@.service.d deferred-retrain@.service.d deferred-serve@.service.d \
        deferred-builds-reconcile.service.d "$wanted_by.wants" || exit 1
for t in deferred-realise@ deferred-retrain@ deferred-serve@ deferred-builds-reconcile; do
        printf '%s' "$tmpl" >"$t.service.d/40-deferred-builds-manifest.conf" || exit 1
done
ln -s ../deferred-builds-reconcile.service "$wanted_by.wants/deferred-builds-reconcile.service" || exit 1
exit 0
