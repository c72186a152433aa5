#!/usr/bin/env bash
# A real PyTorch server (Debian's python3-torch 1.13, CPU) under the serve sandbox profiles
# on a booted system: under `ml` it sets its thread count, runs a ResNet stem and basic
# block (convolutions oneDNN compiles at run time) and answers; under `strict` it fails as
# docs/sandbox.md's table says: torch.set_num_threads aborts ("cpuinfo"), and with /proc
# opened alone, the first convolution fails ("wx-memory").
#
# In `make check-long`: its three boots of the PyTorch base take about 100 s.
#
#   tests/long/torch.sh [SCENARIO...]
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/tap.sh
# A base root of its own, with Debian's PyTorch.
BOOTED_EXTRA_PACKAGES="python3-torch"
. tests/lib/system.sh

# The table's row for CHECK under the strict profile, as in tests/system/sandbox.sh.
documented_strict() {
        awk -F'|' -v c="\`$1\`" '{ gsub(/ /, "", $2); gsub(/ /, "", $3) } $2 == c { print $3; exit }' "$TOP/docs/sandbox.md"
}

journal() { booted_sh journalctl -q -o cat -u "$1"; }

scenario_ml_serves() {
        local top u=deferred-serve@resnet.service
        top=$(system_build --arg models '{ resnet = { id = "T"; port = 8130; epochs = 1; server = "torch"; sandbox = "ml"; }; }')
        system_switch "$top"
        wait_predict 120 8130 T
        tap_result $? "ml: the PyTorch server loads and answers" "$(journal "$u" | tail -n 5)"
        like "$(journal "$u")" "torch-serve: 2 threads" "ml: torch.set_num_threads(2) works"
        like "$(journal "$u")" "torch-serve: model T loaded, ResNet block ran \\(torch 1\\.13" "ml: the ResNet block ran (oneDNN)"
        like "$(booted_sh curl -fsS "http://127.0.0.1:8130/predict?x=2")" '"net": -?[0-9]' "ml: the answer carries the network's output"
        is "$(booted_prop "$u" NRestarts)" 0 "ml: it never restarted"
}

scenario_strict_cpuinfo() {
        local top u=deferred-serve@resnet.service
        is "$(documented_strict cpuinfo)" denied "docs/sandbox.md: strict denies cpuinfo"
        top=$(system_build --arg models '{ resnet = { id = "T"; port = 8131; epochs = 1; server = "torch"; }; }')
        system_switch "$top"
        booted_wait 120 sh -c "journalctl -q -u $u | grep -q 'torch-serve: importing torch'"
        booted_wait 60 sh -c "[ \"\$(systemctl show -P NRestarts $u)\" -ge 1 ]"
        tap_result $? "strict: the server fails and is restarted" "$(journal "$u" | tail -n 5)"
        like "$(journal "$u")" "Main process exited, code=(dumped|killed), status=6/ABRT" "strict: it died of SIGABRT"
        unlike "$(journal "$u")" "torch-serve: [0-9]+ threads" "strict: in torch.set_num_threads, before its thread count"
        like "$(journal "$u")" "cpuinfo" "strict: cpuinfo says why"
        [ -z "$(predict 8131)" ]
        tap_result $? "strict: nothing answers"
}

scenario_strict_wx_memory() {
        local top u=deferred-serve@resnet.service
        is "$(documented_strict wx-memory)" denied "docs/sandbox.md: strict denies wx-memory"
        top=$(system_build --arg models '{ resnet = { id = "T"; port = 8132; epochs = 1; server = "torch";
                serviceConfig.ProcSubset = "all"; }; }')
        system_switch "$top"
        booted_wait 120 sh -c "journalctl -q -u $u | grep -q 'could not create a primitive'"
        tap_result $? "strict with ProcSubset=all: the first convolution fails (oneDNN: could not create a primitive)" \
                "$(journal "$u" | tail -n 5)"
        like "$(journal "$u")" "torch-serve: 2 threads" "strict with ProcSubset=all: torch.set_num_threads works"
        unlike "$(journal "$u")" "ResNet block ran" "strict with ProcSubset=all: the model never loads"
}

booted_scenarios \
        scenario_ml_serves \
        scenario_strict_cpuinfo \
        scenario_strict_wx_memory
