"""Rule rewards in the shapes other RL trainers load by file path, so their users keep their own trainer.

``verl_reward`` is verl's custom reward function (``custom_reward_function.path`` and ``.name``), single and
batched; ``openrlhf_reward`` is the ``reward_func`` file OpenRLHF loads through ``--remote_rm_url PATH.py``.
``ground_truth`` reads the tests a dataset row carries (a list of asserts, its JSON text, or stdin/stdout cases), and
``scoring`` runs every response of a call in one engine batch and says why each zero is a zero.

Both trainers load the file by path under a module name of their own, so these modules import only absolutely and
never import torch, verl or OpenRLHF at import time (OpenRLHF's torch is imported inside its ``reward_func``). This
package itself imports nothing.
"""
