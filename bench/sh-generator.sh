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
# unit's .wants/ link. It validates nothing: the grammar has one home, the C parser
# (src/lib/validate.c, src/lib/manifest*.c), and a copy here would drift from it. Feed it
# only manifests that `deferred-builds-generator --check` accepts. This favours sh: the C
# generator's times include validating every value.
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
set -u
LC_ALL=C
export LC_ALL

GEN=deferred-builds-generator

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

# ---- output, a batch of models at a time ------------------------------------------------
# Rendered drop-ins wait in P_<j>_* until BATCH models are pending; then one mkdir makes
# all their directories and printf writes the files. Two variables per pending model stay
# few enough for dash's small variable hash table; keeping every model in variables made
# dash quadratic (minutes at 10,000 models).
BATCH=128
np=0
P_dirs=
flush() {
        [ $np -gt 0 ] || return 0
        # shellcheck disable=SC2086 # names are [A-Za-z0-9_-] plus fixed text: no splitting surprises
        mkdir $P_dirs || exit 1
        _j=0
        while [ $_j -lt $np ]; do
                _j=$((_j + 1))
                eval "_name=\$P_${_j}_name _s=\$P_${_j}_s"
                printf '%s' "$_s" >"deferred-serve@$_name.service.d/50-deferred-builds-model.conf" || exit 1
        done
        np=0
        P_dirs=
}

# The model whose section just ended: rendered and queued.
model_end() {
        [ "$sect" = model ] || return 0
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
                        _s="${_s}User=dserve_$R
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
        eval "P_${np}_name=\$C_name P_${np}_s=\$_s"
        P_dirs="$P_dirs deferred-serve@$C_name.service.d"
        [ $np -lt $BATCH ] || flush
}

section_begin() {
        model_end
        sect=unknown
        case $1 in
        deferred-builds) sect=header ;;
        model.*)
                unset C_exec C_notify C_user C_mem C_cpu
                C_name=${1#model.}
                C_args=
                C_env=
                C_dev=
                sect=model
                ;;
        esac
}

model_key() {
        case $key in
        exec) C_exec=$value ;;
        arg)
                esc "$value" '$'
                C_args="$C_args \"$R\""
                ;;
        environment)
                esc "$value" ''
                C_env="${C_env}Environment=\"$R\"
"
                ;;
        notify) C_notify=$value ;;
        user) C_user=$value ;;
        memory-max) C_mem=$value ;;
        cpu-quota) C_cpu=$value ;;
        device-allow)
                spec_esc "$value"
                C_dev="${C_dev}DeviceAllow=$R
"
                ;;
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
sect=none
while IFS= read -r raw || [ -n "$raw" ]; do
        raw=${raw%"$CR"}
        case $raw in
        '' | [\;#]*) continue ;;
        \[*)
                _s=${raw#?}
                section_begin "${_s%%\]*}"
                continue
                ;;
        esac
        key=${raw%%[=:]*}
        key=${key%"${key##*[! 	]}"}
        value=${raw#*[=:]}
        value=${value#"${value%%[! 	]*}"}
        value=${value%"${value##*[! 	]}"}
        [ "$sect" = model ] && model_key
done <"$manifest"
model_end
flush

if [ -h "$manifest" ]; then
        real=$(realpath -- "$manifest") || exit 0
else
        _dir=${manifest%/*}
        real=$(cd -P -- "${_dir:-/}" && echo "$PWD")/${manifest##*/}
        real=${real#/}
        real=/${real#/}
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
