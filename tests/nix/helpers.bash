# shellcheck shell=bash
# Shared by the tests/nix/*.sh suites (not a suite itself: it is not executable and does not
# end in .sh). Sourced after tests/lib/tap.sh, from the repository root.

# Nix 2.8 on Debian: the new CLI and content-addressed fixtures need these features; no
# substituter is consulted, so nothing waits on an unreachable binary cache.
NIX_FEATURES="nix-command ca-derivations"
export NIX_CONFIG="${NIX_CONFIG:+$NIX_CONFIG
}substituters =
experimental-features = $NIX_FEATURES"

# nix_raw FILE ATTR: the string at ATTR of the expression in FILE, unquoted.
nix_raw() {
        nix eval --impure --raw --file "$1" "$2"
}

# nix_raw_expr EXPR: the string EXPR evaluates to, unquoted. Relative paths in EXPR are
# relative to the current directory (the repository root).
nix_raw_expr() {
        nix eval --impure --raw --expr "$1"
}

# A scratch directory removed at exit; GC roots made in it die with it.
scratch_dir() {
        SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-nix.XXXXXX")
        trap 'rm -rf "$SCRATCH"' EXIT
}
