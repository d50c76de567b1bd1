"""Reward-model and RL training on top of TRL (AceCoder steps four and five).

Nothing is imported here on purpose: ``import acecoder`` must never pull in torch, transformers or trl, and this
package is reached only through its submodules (``acecoder.train.config``, ``.reward_model``, ``.rl``) (model
loading and reward-model scoring, which rewards and best-of-N use too, live below in ``acecoder.models``) and the ``acecoder train-rm`` verb, each of which imports the heavy libraries it needs itself.
"""
