# shellcheck shell=bash
# Fixture writers for the activation helper at scale (sourced, bash): a fake system root
# with many NixOS generations and a roots folder of many models, as the activation helper
# finds them after months of switches. Used by tests/integration/activation-scale.sh and
# bench/activation-syscalls.sh; needs perl (tens of thousands of links in one process).
#
#   fx_scratch NAME      prints a new scratch folder, on tmpfs when there is one (building
#                        20,000 links is faster there)
#   fx_init DIR GENS     DIR/store (NIX_STORE_DIR) with one model output, DIR/tops/1..GENS
#                        (toplevels carrying a manifest of generation gN), DIR/sys (the
#                        system root); sets FX_STATE, FX_RUN, FX_OUT, FX_GENS
#   fx_systems FIRST     generations FIRST..GENS have a profile link, the others are deleted
#   fx_roots MODELS PUB  a fresh FX_STATE/roots with MODELS roots in each generation's folder
#                        (0: an empty roots folder) and FX_RUN/models/m001..m100 published
#                        from generation PUB, as after a deployment of 100 models
#   fx_links             how many roots are left
fx_scratch() {
        local base=${TMPDIR:-/tmp}
        [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
        mktemp -d "$base/deferred-builds-$1.XXXXXX"
}
# fx_init also unsets what would point the activation helper at the real system.
fx_init() {
        unset systemConfig DEFERRED_BUILDS_STATE_DIR DEFERRED_BUILDS_RUNTIME_DIR RUNTIME_DIRECTORY
        local dir=$1 g
        FX_GENS=$2
        FX_STATE=$dir/state
        FX_RUN=$dir/run
        FX_SYS=$dir/sys
        export NIX_STORE_DIR=$dir/store
        mkdir -p "$NIX_STORE_DIR" "$FX_SYS/nix/var/nix/profiles" "$FX_RUN/models" "$dir/tops"
        FX_OUT=$NIX_STORE_DIR/0123456789abcdfghijklmnpqrsvwxyz-model
        echo weights >"$FX_OUT"
        for ((g = 1; g <= FX_GENS; g++)); do
                mkdir -p "$dir/tops/$g/deferred-builds"
                printf '[deferred-builds]\nversion = 1\ngeneration = g%s\n' "$g" >"$dir/tops/$g/deferred-builds/manifest.ini"
        done
        FX_TOPS=$dir/tops
}
fx_systems() {
        local g
        rm -f "$FX_SYS/nix/var/nix/profiles/"system-*-link
        for ((g = $1; g <= FX_GENS; g++)); do ln -s "$FX_TOPS/$g" "$FX_SYS/nix/var/nix/profiles/system-$g-link"; done
}
fx_roots() {
        rm -rf "$FX_STATE" "$FX_RUN/models"
        mkdir -p "$FX_STATE/roots" "$FX_RUN/models"
        perl -e '
                my ($state, $run, $out, $gens, $models, $pub) = @ARGV;
                for my $g (1 .. ($models ? $gens : 0)) {
                        mkdir "$state/roots/g$g" or die "$state/roots/g$g: $!";
                        symlink $out, sprintf("%s/roots/g%d/m%03d", $state, $g, $_) or die "$!" for 1 .. $models;
                }
                symlink sprintf("%s/roots/g%d/m%03d", $state, $pub, $_), sprintf("%s/models/m%03d", $run, $_)
                        or die "$!" for 1 .. 100;
        ' "$FX_STATE" "$FX_RUN" "$FX_OUT" "$FX_GENS" "$1" "$2"
}
fx_links() { find "$FX_STATE/roots" -mindepth 2 -type l | wc -l; }
