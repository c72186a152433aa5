# shellcheck shell=bash
# Fresh state for one scenario of a suite that drives the CLI on the harness's user manager
# (tests/lib/harness.sh and tests/integration/fixtures/cli/lib.sh sourced first). What the
# suite set up once and only reads (instantiated .drv files, drop-ins below UNITDIR, masks
# below XDG_CONFIG_HOME) is kept; what a scenario changes is not.

# cliscen_fresh: stops the manager when one runs (with every unit it ran) and removes the
# runtime and state folders and the serve fixture's records: whatever a scenario before
# trained, served, published or remembered is gone. The scenario then writes its manifest
# and starts a manager of its own (harness_start: the generator reads the manifest then).
cliscen_fresh() {
        harness_stop
        rm -rf "$RUNTIME" "$STATE" "$SERVED"
        mkdir -p "$SERVED"
}
