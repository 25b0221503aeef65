"""Repair before colour: geometry, dust and scratch removal, tone (Qt- and torch-free).

``pipeline`` runs the stages in their fixed order; ``geometry``, ``defects``, ``inpaint``,
``denoise`` and ``tone`` are the stages' pieces; ``synthetic`` draws seeded damage for the
evaluation (``benchmarks/eval_repair.py``) and the tests.
"""
