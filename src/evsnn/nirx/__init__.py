"""NIR (Neuromorphic Intermediate Representation, neuroir.org) export of evsnn's spiking models and runs of the
exported files in other simulators.

- :mod:`evsnn.nirx.export` -- ``blocker(model) -> str | None`` (the first layer NIR cannot express, as
  "<layer type> at <name>"), ``export_model(model, in_shape, path, *, dt=1e-4) -> dict`` (spikingjelly 2.0's
  exporter on a chain of NIR-expressible layers; batch norm folded into the convolution before it, dropout left
  out, the voting readout as a fixed ``Linear``); ``NotExportable``.
- :mod:`evsnn.nirx.slayer` -- lava-dl (slayer) CUBA block networks: ``export_cuba(model, in_shape) -> (graph,
  records, neurons)`` (``Conv2d`` / ``Linear`` + ``CubaLIF`` reproducing slayer's update up to its fixed-point
  rounding), ``cuba_chain`` (the refusals, naming the block), ``float_reference`` (slayer's update without the
  rounding: what the file computes), ``input_off_grid`` (the Input block's input quantisation on given frames).
- :mod:`evsnn.nirx.graph` -- ``read_graph(path) -> nir.NIRGraph`` validated (node types evsnn maps, edges, shapes:
  ``NIRFormatError`` naming the node), ``describe(path) -> dict``.
- :mod:`evsnn.nirx.frameworks` -- ``run_graph(graph, framework, x, *, dt) -> (output [T, N, ...], {node: [T, N,
  ...]})``: the file imported by spikingjelly, snnTorch or Norse and run step by step, with the adapters that make
  each one faithful (listed in ``ADAPTERS``); ``FrameworkUnavailable`` when a framework is not installed or cannot
  import a node type.
- :mod:`evsnn.nirx.deploy` -- the workflow stage (rules ``export_nir``, ``nir_run``, ``nir_check``).

Submodules import torch, spikingjelly and nir; import them explicitly.
"""
