#!/usr/bin/env bash
# The NixOS module, evaluated by nixpkgs' real module system (lib.evalModules) with stub
# declarations of the NixOS options it sets: manifest in /etc and in the toplevel, generator
# and units through systemd.packages, reconcile restarted when the manifest changes, the
# activation helper, prune before automatic GC, trusted-users only when needed, assertions.
#
# Needs NIXPKGS_LIB: nixpkgs' lib directory (or a nixpkgs checkout that has lib/). Without
# it every check is skipped; this machine has no nixpkgs.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/nix/helpers.bash

checks=(
        "the module evaluates with all options and has no failed assertions"
        "the manifest is /etc/deferred-builds/manifest.ini and TOPLEVEL/deferred-builds/manifest.ini"
        "the manifest text merges defaults into models"
        "the manifest keeps the models' bundles, never a .drv or an output"
        "the generator and unit templates come from systemd.packages"
        "deferred-builds-reconcile is restarted when the manifest changes"
        "realise and retrain units run the configured nix-store and are never restarted by a switch"
        "the activation script runs the helper and never fails"
        "automatic GC prunes first; trusted-users only when a model needs it"
        "disabled adds nothing; assertions carry manifest.nix messages"
        "includeBuildDependencies with models fails an assertion; forbiddenDependenciesRegexes warns"
        "sandbox profile, serviceConfig and secrets render; a secret as a path value is refused"
        "onFailure: the default and a model's own reach the manifest as on-failure lines"
        "metrics.textfile: the shipped service and timer get the folder and interval, the folder is made"
        "metrics.textfile: a bad interval or folder fails an assertion; disabled adds nothing"
)

lib_dir=${NIXPKGS_LIB:-}
if [ -n "$lib_dir" ] && [ -e "$lib_dir/lib/default.nix" ] && [ ! -e "$lib_dir/modules.nix" ]; then
        lib_dir=$lib_dir/lib
fi
if [ -z "$lib_dir" ]; then
        for c in "${checks[@]}"; do skip "$c" "NIXPKGS_LIB not set"; done
        tap_done
        exit
fi
if [ ! -e "$lib_dir/modules.nix" ]; then
        tap_result 1 "NIXPKGS_LIB points at nixpkgs' lib directory" "no modules.nix in $lib_dir"
        tap_done
        exit
fi
lib_dir=$(cd "$lib_dir" && pwd)
if [ -e "$lib_dir/minver.nix" ]; then
        need=$(nix eval --impure --raw --file "$lib_dir/minver.nix")
        if [ "$(nix eval --impure --expr "builtins.compareVersions builtins.nixVersion \"$need\"")" = -1 ]; then
                for c in "${checks[@]}"; do skip "$c" "nixpkgs lib at $lib_dir needs Nix >= $need"; done
                tap_done
                exit
        fi
fi

fx=tests/nix/fixtures/module-eval.nix
ev() { # ev CASE ATTR -> JSON
        nix eval --impure --json --expr "(import ./$fx { nixpkgsLib = \"$lib_dir\"; case = \"$1\"; }).$2" 2>&1
}
raw() { # raw CASE ATTR -> string
        nix eval --impure --raw --expr "(import ./$fx { nixpkgsLib = \"$lib_dir\"; case = \"$1\"; }).$2" 2>&1
}
json_str() { # a JSON string literal for a plain string without quotes or backslashes
        printf '"%s"' "$1"
}

pkg=$(raw full packagePath)
nixpkg=$(raw full nixPath)
server=$(raw full llmServerPath)
alpha_drv=$(raw full alphaDrv)
beta_drv=$(raw full betaDrv)
alpha_out=$(raw full alphaOut)
beta_weights=$(raw full betaWeights)
manifest=$(raw full manifestPath)

# 1
is "$(ev full failedAssertions)" "[]" "full: no failed assertions"
is "$(ev full warnings)" "[]" "full: no warnings (the serve user is declared)"

# 2
like "$(ev full etcNames)" '"deferred-builds/manifest.ini"' "full: environment.etc has deferred-builds/manifest.ini"
is "$(raw full manifestName)" "deferred-builds-manifest.ini" "full: the manifest's store name is deferred-builds-manifest.ini"
is "$(raw full builderCommands)" "mkdir -p \$out/deferred-builds
ln -s $manifest \$out/deferred-builds/manifest.ini" "full: systemBuilderCommands links TOPLEVEL/deferred-builds/manifest.ini to the manifest"

# 3
bundle_of() { raw full manifestText | sed -n "/^\[model.$1\]/,/^\[/ s/^bundle = //p"; }
embed_bundle=$(bundle_of embed)
llm_bundle=$(bundle_of llm)
like "$embed_bundle" "^/nix/store/[a-z0-9]{32}-beta-model-bundle$" "full: model embed has a bundle line"
like "$llm_bundle" "^/nix/store/[a-z0-9]{32}-alpha-model-bundle$" "full: model llm has a bundle line"
is "$(raw full manifestText)" "[deferred-builds]
version = 1

[model.embed]
drv = $beta_drv
bundle = $embed_bundle
output = weights
out = $beta_weights
exec = /run/current-system/sw/bin/embed-server
environment = HF_HUB_OFFLINE=1
environment = THREADS=1
max-silent-time = 600
timeout = 60
cpu-quota = 200%

[model.llm]
drv = $alpha_drv
bundle = $llm_bundle
out = $alpha_out
exec = $server/bin/llm-server
arg = --port
arg = 8080
environment = HF_HUB_OFFLINE=1
environment = THREADS=8
max-silent-time = 600
timeout = 3600
builders = ssh://gpu1 x86_64-linux
user = llm
memory-max = 16G
cpu-quota = 200%" "full: the manifest text is exact (defaults merged, model values win)"
is "$(ev full embedRealise.maxSilentTime)" "600" "full: a model inherits defaults.realise.maxSilentTime"
is "$(ev full embedRealise.timeout)" "60" "full: a model's own realise.timeout wins over the default"

# 4
is "$(ev full "manifestTextContext ? \"$alpha_drv\"")" 'false' "full: the manifest text does not refer to model llm's .drv"
is "$(ev full "manifestTextContext ? \"$beta_drv\"")" 'false' "full: nor to model embed's .drv"
is "$(ev full manifestContextNames)" '["alpha-model-bundle.drv","beta-model-bundle.drv"]' "full: it refers to the two models' bundles"
is "$(ev full manifestContextKinds)" '[{"outputs":["out"]},{"outputs":["out"]}]' "full: to their outputs: building the manifest builds the bundles"
like "$(raw full manifestText)" "drv = $alpha_drv" "full: the manifest names model llm's .drv as text"
is "$(raw full xzEnv)" "$(raw full xzPath)/bin/xz" "full: the realise units decompress bundles with pkgs.xz (DEFERRED_BUILDS_XZ)"
is "$(ev plain manifestContextNames)" '["beta-model-bundle.drv"]' "plain: one model, one bundle"
is "$(ev full builderCommandsTrain)" "false" "full: nothing in the toplevel's builder commands depends on a model output"

# 5
is "$(ev full systemdPackages)" '["deferred-builds-0.1"]' "full: systemd.packages is the deferred-builds package"
like "$(ev full systemPackages)" '"deferred-builds-0.1"' "full: the deferred-builds command is in environment.systemPackages"

# 6
is "$(ev full reconcile.wantedBy)" '["multi-user.target"]' "full: reconcile is wanted by multi-user.target"
is "$(raw full reconcile.overrideStrategy)" "asDropin" "full: reconcile is a drop-in over the packaged unit"

# 7
for u in realise retrain; do
        is "$(raw full $u.nixStore)" "$nixpkg/bin/nix-store" "full: deferred-$u@ runs nix.package's nix-store (DEFERRED_BUILDS_NIX_STORE)"
        is "$(ev full $u.restartIfChanged)" "false" "full: deferred-$u@ is never restarted by a switch"
        is "$(raw full $u.overrideStrategy)" "asDropin" "full: deferred-$u@ is a drop-in over the packaged template"
done

# 8
is "$(raw full activation.text)" "$pkg/libexec/deferred-builds/deferred-builds-activate --system-config \"\$systemConfig\" || true" "full: the activation script runs deferred-builds-activate --system-config \"\$systemConfig\" || true"
is "$(ev full activation.deps)" '["specialfs"]' "full: the activation script runs after specialfs"

# 9
is "$(ev full gcPre)" "[$(json_str "-$pkg/bin/deferred-builds prune")]" "full: nix-gc runs deferred-builds prune first (failure tolerated)"
is "$(ev full trustedUsers)" '["root","deferred-builds"]' "full: a model with builders makes deferred-builds a trusted user, root kept"
is "$(ev full realiseUser)" '{"description":"deferred-builds model realiser","group":"deferred-builds","isSystemUser":true}' "full: the realise units' static system user is declared"
is "$(ev full realiseGroup)" 'true' "full: and its group"
is "$(ev plain gcPre)" "[]" "plain: no prune step without nix.gc.automatic"
is "$(ev plain trustedUsers)" '["root"]' "plain: no model needs trust, trusted-users untouched"
is "$(ev plain trustRealiseUser)" "false" "plain: trustRealiseUser defaults to false"
is "$(ev plain warnings)" '["services.deferred-builds.models.embed.user = \"ghost\" is not declared in users.users; make sure the user exists, or set user = null for a dynamic user."]' "plain: an undeclared serve user is warned about"

# 10
is "$(ev disabled etcNames)" "[]" "disabled: no /etc entry"
is "$(ev disabled serviceNames)" "[]" "disabled: no systemd services"
is "$(ev disabled activationNames)" "[]" "disabled: no activation script"
is "$(ev disabled systemdPackages)" "[]" "disabled: no systemd packages"
is "$(ev context failedAssertions)" "[\"services.deferred-builds.models.llm.serve.command (element 2) depends on the output of this model's derivation ($alpha_drv); that would make nixos-rebuild train the model; use the DEFERRED_MODEL_PATH environment variable the serve unit gets instead.\"]" "context: \${model} in serve.command fails an assertion with the exact message"
# Names that differ only in case are the parser's to refuse (at build time): no assertion.
is "$(ev case-collision failedAssertions)" '[]' "case-collision: left to the parser, which checks the built manifest"
like "$(raw case-collision manifestBuilder)" "deferred-builds-generator --check" "the manifest's builder runs the real parser on it"
is "$(ev needs-trust trustedUsers)" '["root"]' "needs-trust: the realise user is not made trusted implicitly"
is "$(ev needs-trust failedAssertions)" '["services.deferred-builds: models llm set realise.builders, realise.trustedPublicKeys, realise.buildersUseSubstitutes or realise.substituters not listed in nix.settings.trusted-substituters, which nix-daemon ignores unless the realise user is trusted. Set services.deferred-builds.trustRealiseUser = true to add \"deferred-builds\" to nix.settings.trusted-users, which is as good as root (a trusted user can make the daemon accept unsigned store paths); or drop those settings, and list the substituters in nix.settings.trusted-substituters."]' "needs-trust: an assertion says what to set and what it grants"
is "$(ev trusted-substituter failedAssertions)" '[]' "trusted-substituter: a substituter in trusted-substituters needs no trust"
like "$(raw trusted-substituter manifestText)" "extra-substituters = https://models.example.org" "and is added to the daemon's list (extra-substituters)"

# 11
is "$(ev build-deps failedAssertions)" '["services.deferred-builds: system.includeBuildDependencies would make nixos-rebuild train every model (it puts the outputs of every derivation in the system'"'"'s build closure into the system). Set it to false, or declare the models without deferred-builds."]' "build-deps: includeBuildDependencies with a model fails an assertion"
is "$(ev build-deps-no-models failedAssertions)" '[]' "build-deps-no-models: without models it is fine"
w=$(ev forbidden warnings)
like "$w" 'system.forbiddenDependenciesRegexes is set, and the system closure carries the derivation bundle of each model' "forbidden: forbiddenDependenciesRegexes with bundles warns"
like "$w" 'it matches the bundle beta-model-bundle' "forbidden: and names the bundle the regex matches"
is "$(ev forbidden-no-bundles warnings)" '[]' "forbidden-no-bundles: no warning without bundles"
is "$(ev forbidden-no-bundles manifestContextNames)" '[]' "forbidden-no-bundles: and the manifest then refers to nothing of the models"
is "$(ev forbidden-no-bundles failedAssertions)" '[]' "forbidden-no-bundles: no failed assertion"

# 12
t=$(raw sandbox manifestText | sed -n '/^\[model.embed\]/,$p')
like "$t" "sandbox = gpu
service = LimitNOFILE=65536
service = PrivateNetwork=yes
service = SupplementaryGroups=video
service = SupplementaryGroups=render
credential = hf-token:/run/secrets/hf-token
environment-file = /run/secrets/embed.env" "sandbox: profile, serviceConfig (one line per list element), credentials and environmentFile in the manifest"
is "$(ev sandbox failedAssertions)" "[]" "sandbox: no failed assertions"
unlike "$(raw full manifestText)" "sandbox =" "full: the default profile (strict) writes no line"
for c in secret-path secret-file-path; do
        like "$(raw $c manifestText)" "is not of type .(null or )?string" "$c: a path value is refused by the option type, before it reaches the store"
done
like "$(raw bad-profile manifestText)" 'is not of type .one of "strict", "ml", "gpu"' "bad-profile: the profile is an enum"
is "$(ev alerts-metrics failedAssertions)" "[]" "alerts-metrics: no failed assertions"
is "$(ev alerts-metrics 'onFailureOf "embed"')" '["page-oncall@%n.service"]' "alerts-metrics: a model without its own gets the default"
is "$(ev alerts-metrics 'onFailureOf "other"')" '["team-b.service"]' "alerts-metrics: a model's own replaces the default"
t=$(raw alerts-metrics manifestText)
like "$t" $'\\[model.embed\\][^[]*\non-failure = page-oncall@%n.service' "alerts-metrics: the manifest has embed's on-failure line"
like "$t" $'\\[model.other\\][^[]*\non-failure = team-b.service' "alerts-metrics: and other's"
unlike "$(raw full manifestText)" "on-failure" "full: no onFailure, no on-failure line"

# 13
is "$(ev alerts-metrics metricsService)" '{"environment":{"DEFERRED_BUILDS_TEXTFILE_DIR":"/var/lib/prometheus-node-exporter-text-files"},"overrideStrategy":"asDropin","restartIfChanged":true,"restartTriggers":[],"serviceConfig":{},"wantedBy":[]}' \
        "alerts-metrics: the shipped service gets the default folder, as a drop-in"
is "$(ev alerts-metrics metricsTimer)" '{"overrideStrategy":"asDropin","timerConfig":{"OnActiveSec":["","1s"],"OnUnitActiveSec":"15s"},"wantedBy":["timers.target"]}' \
        "alerts-metrics: the timer is wanted by timers.target, every 15 s (its triggers reset first)"
is "$(ev alerts-metrics tmpfiles)" '["d /var/lib/prometheus-node-exporter-text-files 0755 root root -"]' "alerts-metrics: the folder is made, readable by node-exporter"
is "$(ev full metricsService)" "null" "full: no metrics service drop-in without metrics.textfile"
is "$(ev full metricsTimer)" "null" "full: and no timer"

# 14
is "$(ev textfile-bad failedAssertions)" '["services.deferred-builds.metrics.textfile.interval = \"every minute\" is not a systemd time span such as \"1min\", \"30s\" or \"1h 30min\".","services.deferred-builds.metrics.textfile.directory must be an absolute path of letters, digits and ._/+- (it is written into a unit)."]' \
        "textfile-bad: a bad interval and a folder with a space fail assertions"
is "$(ev disabled metricsTimer)" "null" "disabled: no metrics timer"

tap_done
