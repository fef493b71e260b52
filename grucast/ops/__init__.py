"""What unattended runs need, standard library (and pandas) only, so that the CLI runs it
before torch is imported: paths (what a run reads is never what it writes), locks, publish
(outputs and manifests, both or neither), preflight (files that cannot be what they claim),
gates (staleness, quality gate, shards), signals, the event log and manifests.
"""
