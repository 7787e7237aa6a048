"""Offline training of the swap model (torch) and export to one self-describing ONNX file.

Modules: ``config`` (settings, TOML), ``data`` (face sets → seeded paired samples), ``augment``
(warp, similarity, linear-light jitter, flips), ``models`` (``original``, ``liae``), ``losses``
(masked L1/MSE, SSIM, MS-SSIM, edge, mask), ``schedule`` (learning-rate schedules over the budget),
``checkpoint`` (atomic, ``weights_only``), ``loop`` (the training loop), ``ddp`` (torchrun entry point),
``preview`` (grids, loss plot), ``export`` (ONNX).
Importing this package imports nothing heavy; the render path never imports it.
"""
