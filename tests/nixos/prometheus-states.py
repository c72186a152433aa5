"""Parses Prometheus text exposition with prometheus_client's parser, the format
node-exporter's textfile collector reads, and prints what the VM test checks, as JSON:

  {"states": {MODEL: STATE, ...}, "families": N, "textfile_scrape_error": VALUE or null}

  prometheus-states.py FILE | URL

STATE is the label of the deferred_builds_model_state sample whose value is 1. A text the
parser refuses makes it exit non-zero with the parser's error.
"""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

src = sys.argv[1]
if src.startswith("http://"):
    with urllib.request.urlopen(src, timeout=10) as r:
        text = r.read().decode()
else:
    with open(src) as f:
        text = f.read()

states = {}
families = 0
scrape_error = None
for family in text_string_to_metric_families(text):
    families += 1
    for s in family.samples:
        if s.name == "deferred_builds_model_state" and s.value == 1:
            states[s.labels["model"]] = s.labels["deferred_builds_model_state"]
        elif s.name == "node_textfile_scrape_error":
            scrape_error = s.value
print(json.dumps({"states": states, "families": families, "textfile_scrape_error": scrape_error}))
