#!/usr/bin/env bash
# The NixOS VM test (tests/nixos/deferred-builds.nix) as far as this machine evaluates it
# (no nixpkgs, no KVM), through the flake's own checks.<system>.vm and a stub nixpkgs
# (tests/nix/fixtures/vm-test.nix):
# - the flake's check is the VM test, with its two nodes;
# - the Python script it gives the NixOS test driver compiles, and pyflakes, which the
#   driver runs on it with the driver's own names, reports nothing; so for its helper
#   scripts (tests/nixos/**/*.py);
# - with NIXPKGS_LIB (nixpkgs' lib directory): every node and every variant system it
#   switches to evaluates with the real module and no failed assertion, each manifest
#   passes the real parser (deferred-builds-generator --check), the `serving` node's
#   manifests carry the serve options the test exercises, and the script renders with
#   the evaluated nodes.
# A Nix syntax error in the VM test fails tests/nix/parse.sh as well.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/nix/helpers.bash
scratch_dir

fx=tests/nix/fixtures/vm-test.nix
py=/usr/bin/python3
# The names the NixOS test driver defines for a test script (nixos/lib/test-driver,
# Driver.test_symbols) and the test's node names: pyflakes' builtins, as the driver's
# own lint step passes them.
driver_names=start_all,test_script,machines,vlans,driver,log,os,create_machine,subtest,run_tests,join_all,retry,serial_stdout_off,serial_stdout_on,polling_condition,Machine,t,debug

# python_ok FILE: compiles, and pyflakes (with the driver's names) says nothing.
python_ok() {
        "$py" -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' "$1" &&
                PYFLAKES_BUILTINS="$driver_names,machine,serving" "$py" -m pyflakes "$1"
}
# script ATTR [NIX ARGS...] -> the rendered script in $SCRATCH/ATTR.py
script() {
        local attr=$1
        shift
        nix-instantiate --eval --strict --json "$fx" -A "$attr" "$@" 2>"$SCRATCH/$attr.err" |
                "$py" -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))' >"$SCRATCH/$attr.py"
}

# The checks can fail: a planted syntax error and a planted undefined name.
printf 'with subtest("x"):\nmachine.succeed("true")\n' >"$SCRATCH/planted-syntax.py"
printf 'machine.succeed(f"{undefined_name}")\n' >"$SCRATCH/planted-name.py"
not_ok_expected "the script check refuses a planted indentation error" python_ok "$SCRATCH/planted-syntax.py"
not_ok_expected "and a planted undefined name" python_ok "$SCRATCH/planted-name.py"
ok "and accepts the driver's names" python_ok <(printf 'start_all()\nwith subtest("x"):\n    machine.succeed("true")\n    serving.log("x")\n')

is "$(nix-instantiate --eval --strict --json "$fx" -A name 2>&1)" '"deferred-builds"' \
        "the flake's checks.x86_64-linux.vm is the VM test"
is "$(nix-instantiate --eval --strict --json "$fx" -A nodeNames 2>&1)" '["machine","serving"]' "it has the nodes machine and serving"
script testScript
tap_result $? "its test script renders" "$(cat "$SCRATCH/testScript.err")"
ok "the test script compiles and pyflakes reports nothing" python_ok "$SCRATCH/testScript.py"
subtests=$(grep -c '^with subtest(' "$SCRATCH/testScript.py")
is "$subtests" 14 "it has the 14 subtests (8 on machine, 6 on serving)"
for f in $(git ls-files 'tests/nixos/*.py'; git ls-files --others --exclude-standard 'tests/nixos/*.py'); do
        ok "$f compiles and pyflakes reports nothing" python_ok "$f"
done

lib_dir=${NIXPKGS_LIB:-}
if [ -n "$lib_dir" ] && [ -e "$lib_dir/lib/default.nix" ] && [ ! -e "$lib_dir/modules.nix" ]; then
        lib_dir=$lib_dir/lib
fi
evaluated=(
        "every node and variant evaluates with no failed assertion"
        "every manifest of the test passes the real parser"
        "the serving node's manifests carry the options the test exercises"
        "the script renders with the evaluated nodes"
)
if [ -z "$lib_dir" ] || [ ! -e "$lib_dir/modules.nix" ]; then
        for c in "${evaluated[@]}"; do skip "$c" "NIXPKGS_LIB not set"; done
        tap_done
        exit
fi
lib_dir=$(cd "$lib_dir" && pwd)
args=(--arg nixpkgsLib "$lib_dir")

nix-instantiate --eval --strict --json "$fx" -A systems "${args[@]}" >"$SCRATCH/systems.json" 2>"$SCRATCH/systems.err"
tap_result $? "the nodes and their variants evaluate with the real module" "$(head -c 2000 "$SCRATCH/systems.err")"
# One line per system: NODE INDEX FAILED-ASSERTIONS; the manifests in $SCRATCH/NODE-INDEX.ini.
"$py" - "$SCRATCH" >"$SCRATCH/systems.txt" <<'PY'
import json, sys
for node, systems in sorted(json.load(open(f"{sys.argv[1]}/systems.json")).items()):
    for i, s in enumerate(systems):
        with open(f"{sys.argv[1]}/{node}-{i}.ini", "w") as f:
            f.write(s["manifestText"])
        print(node, i, len(s["failedAssertions"]), json.dumps(s["failedAssertions"]))
PY
is "$(awk '{ print $1, $2, $3 }' "$SCRATCH/systems.txt" | tr '\n' ' ')" \
        "machine 0 0 machine 1 0 machine 2 0 serving 0 0 serving 1 0 serving 2 0 serving 3 0 " \
        "machine and its 2 variants, serving and its 3: no failed assertion" "$(cat "$SCRATCH/systems.txt")"

gen=${ABS_BUILD:-$PWD/build}/deferred-builds-generator
if [ -x "$gen" ]; then
        for m in "$SCRATCH"/machine-[12].ini "$SCRATCH"/serving-[123].ini; do
                out=$("$gen" --check "$m" 2>&1)
                tap_result $? "$(basename "$m" .ini): the manifest passes deferred-builds-generator --check" "$out"
        done
else
        skip "${evaluated[1]}" "no $gen (make BUILD=... all)"
fi

for i in 1 2; do
        m=$(cat "$SCRATCH/serving-$i.ini")
        like "$m" $'\\[model.api\\][^[]*\nsandbox = ml\ncredential = api-token:/var/lib/secrets/api-token\nready-url = http://127.0.0.1:8080/health\nstart-timeout = 120\nlisten = 127.0.0.1:8080\non-failure = alert@%n.service' \
                "serving variant $i: api has the ml sandbox, the credential by path, the readiness URL, start timeout, socket and the default onFailure"
done
like "$(cat "$SCRATCH/serving-1.ini")" 'drv = /nix/store/[a-z0-9]{32}-api-model-A[.]drv' "serving variant 1 serves model A"
like "$(cat "$SCRATCH/serving-2.ini")" 'drv = /nix/store/[a-z0-9]{32}-api-model-B[.]drv' "serving variant 2 retrains it as model B"
like "$(cat "$SCRATCH/serving-3.ini")" $'\\[model.broken\\][^[]*\non-failure = alert@%n.service' "serving variant 3 adds the broken model, with the onFailure default"
unlike "$(cat "$SCRATCH/serving-0.ini")" '\[model\.' "the serving node boots with no model (the secret is made first)"

script realTestScript "${args[@]}"
tap_result $? "${evaluated[3]}" "$(head -c 2000 "$SCRATCH/realTestScript.err")"
ok "and it compiles, pyflakes reporting nothing" python_ok "$SCRATCH/realTestScript.py"
like "$(cat "$SCRATCH/realTestScript.py")" 'API_B_BROKEN = "/nix/store/0{32}-nixos-system-serving"' "it names the variants' toplevels"

tap_done
