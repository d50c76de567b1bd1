"""An HTTP reward server: trainers in other processes (OpenRLHF's ``--remote_rm_url``, verl) send rollouts and get
test-based rewards back from one long-lived sandboxed engine.

``questions`` finds a prompt's question (and its tests) in a dataset, ``scoring`` turns requests into engine jobs
and rewards, ``sharing`` gives admitted requests turns on the engine so none can starve the others, ``server``
speaks HTTP, reads bodies strictly and bounds the work admitted at once. Import ``RewardServer`` from
``acecoder.serve.server``; this package itself imports nothing heavy.
"""
