"""Steps two and three of AceCoder: sample programs per question, score them by the tests (pass rates), and turn
the scores into preference pairs and the hard subset for RL.

Modules: ``sampling`` (N programs per question through a generation
backend, with the policy prompt of ``acecoder.prompts``), ``passrate`` (programs × tests through the engine, streamed and resumable), ``rules`` (the pair rule and
the hard subset), ``ray_runner`` (the pass-rate step sharded over a Ray cluster).
"""
