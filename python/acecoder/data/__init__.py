"""Datasets: schemas, loaders and the small files that ship inside the package.

This layer reads and writes data; it never imports torch or trl.
"""
