#!/usr/bin/python3
"""Parses Prometheus text exposition with the real parser
(prometheus_client.parser.text_string_to_metric_families) and prints one
line per sample: FAMILY<TAB>TYPE<TAB>SAMPLE<TAB>LABELS<TAB>VALUE, labels as
sorted k=v pairs joined by ','. Then one line "families N".

    parse_metrics.py FILE | parse_metrics.py --url URL

Exit 3 if prometheus_client is missing, 1 if the text does not parse."""
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("prometheus_client is not installed (apt-get install python3-prometheus-client)", file=sys.stderr)
    sys.exit(3)

if len(sys.argv) == 3 and sys.argv[1] == "--url":
    import urllib.request
    with urllib.request.urlopen(sys.argv[2], timeout=30) as r:
        text = r.read().decode()
else:
    with open(sys.argv[1]) as f:
        text = f.read()
try:
    n = 0
    for fam in text_string_to_metric_families(text):
        n += 1
        if not fam.documentation:
            raise ValueError("family %s has no HELP" % fam.name)
        for s in fam.samples:
            labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
            print("%s\t%s\t%s\t%s\t%r" % (fam.name, fam.type, s.name, labels, s.value))
    print("families %d" % n)
except Exception as e:  # the parser raises ValueError and friends
    print("parse error: %s" % e, file=sys.stderr)
    sys.exit(1)
