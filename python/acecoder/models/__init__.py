"""Local models: what a model name means (``names``), loading causal LMs as policies or reward models
(``loading``, needs torch and transformers) and scoring responses with a trained reward model (``scoring``).

Below generation, training, rewards and best-of-N, which all load or score models the same way; nothing here is
imported by ``import acecoder``.
"""
