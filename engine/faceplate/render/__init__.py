"""Rendering shots: swap and mask passes in the plate's colour space, and the engine service.

Modules (one concept each; the render path never imports torch):

- ``settings``: :data:`RENDER_PARAMS` (every render parameter, declared once: CLI flags, Natron knobs,
  service requests) and the frozen :class:`RenderSettings`;
- ``model``: load an ONNX swap model, validate its manifest and graph, sanitised inference;
- ``facesource``: faces per frame from ``alignments.json`` or detection + tracking + smoothing;
- ``colourmatch``: colour matching in linear light inside the matte (none, meanstd, reinhard, histogram);
- ``blend``: mattes (learned ∩ landmark, floor, per-side erosion) and compositing, bit-exact outside;
- ``frame``: the per-frame swap in three stages (prepare -> model -> finish) so the service can batch;
- ``passes``: the multi-layer (or separate) EXR outputs with provenance metadata;
- ``job``: the shot render (overlapped read / compute / write, chunkable, ``--skip-existing``);
- ``service``: ``faceplate serve`` (Unix socket, batching, idle exit); the protocol is ``faceplate.wire``
  and the standard-library client ``faceplate.client``.

Imports here are lazy: ``import faceplate.render`` loads nothing heavy.
"""
