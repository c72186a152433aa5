#!/usr/bin/env bash
# Monitoring on a booted system (systemd as PID 1, the project installed by `make install
# PREFIX=/usr`), switched the way NixOS switches: a model's on-failure unit is started by
# the system manager when its training fails (for the training unit, and for the server
# whose queued start failed with it) and not when it succeeds, and the shipped
# metrics timer writes the textfile node-exporter reads, as root through the system
# manager, parsed here by the Prometheus text parser.
#
#   tests/system/monitoring.sh [SCENARIO...]
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/tap.sh
. tests/lib/system.sh

TEXTFILE_DIR=/var/lib/prometheus-node-exporter-text-files

# The alert of these scenarios: appends the failed unit's name to /var/lib/alerts.
install_alert_unit() {
        booted_sh sh -c 'cat >/etc/systemd/system/alert@.service' <<'EOF'
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "$1" >>/var/lib/alerts' alert %i
EOF
        booted_sh systemctl daemon-reload
}
alerted() { booted_sh grep -qx "$1" /var/lib/alerts; }

scenario_alerts_and_textfile() {
        local top
        install_alert_unit
        top=$(system_build --arg models '{
                good = { id = "G"; port = 8095; epochs = 1; onFailure = [ "alert@%n.service" ]; };
                bad = { id = "B"; port = 8096; epochs = 2; failAtEpoch = 1; onFailure = [ "alert@%n.service" ]; };
        }')
        ok "a system with two alerting models builds" test -n "$top"
        system_switch "$top"
        is "$(booted_prop deferred-realise@bad.service OnFailure)" "alert@deferred-realise@bad.service.service" \
                "the system manager has OnFailure= on bad's training unit"
        wait_state 60 deferred-realise@bad.service failed
        tap_result $? "bad's training fails"
        wait_for 20 alerted deferred-realise@bad.service
        tap_result $? "the system manager started the alert for deferred-realise@bad.service"
        wait_state 60 deferred-serve@good.service active
        tap_result $? "good is trained and served"
        not_ok_expected "no alert for good's training, which succeeded" alerted deferred-realise@good.service
        # The switch queued bad's server, which Requires= its training: that start job fails
        # with "dependency", and systemd starts OnFailure= units for such a job too.
        wait_for 20 alerted deferred-serve@bad.service
        tap_result $? "the alert also ran for bad's server, whose start failed with its training"
        is "$(booted_sh sort /var/lib/alerts | tr '\n' ' ')" "deferred-realise@bad.service deferred-serve@bad.service " \
                "and for nothing else"

        booted_sh mkdir -p "$TEXTFILE_DIR"
        booted_sh systemctl start deferred-builds-metrics.timer
        booted_wait 20 test -s "$TEXTFILE_DIR/deferred-builds.prom"
        tap_result $? "the metrics timer wrote $TEXTFILE_DIR/deferred-builds.prom" \
                "$(booted_sh systemctl status --no-pager deferred-builds-metrics.service 2>&1)"
        is "$(booted_prop deferred-builds-metrics.service Result)" success "the metrics service succeeded"
        local f
        f=$(mktemp)
        booted_sh cat "$TEXTFILE_DIR/deferred-builds.prom" >"$f"
        is "$(/usr/bin/python3 - "$f" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(open(sys.argv[1]).read()))
st = {s.labels["model"]: s.labels["deferred_builds_model_state"] for f in fams for s in f.samples if s.name == "deferred_builds_model_state"}
print(st.get("good"), st.get("bad"), sorted({f.type for f in fams}))
PY
)" "serving failed ['gauge']" "the file, parsed by the Prometheus text parser: good serving, bad failed, gauges only"
        like "$(cat "$f")" 'deferred_builds_training_metric\{model="good",name="loss"\} ' "it carries good's training loss"
        rm -f "$f"
        is "$(booted_sh stat -c %a "$TEXTFILE_DIR/deferred-builds.prom")" 644 "readable by node-exporter's own user"
}

booted_scenarios scenario_alerts_and_textfile
