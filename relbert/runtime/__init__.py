"""What runs the encoder, whatever the model: tokens in, pooled vectors out.

- :mod:`.interface`: the :class:`~relbert.runtime.interface.Runtime` protocol every runtime
  follows, which runtime runs (``torch`` or ``onnx``) and the one factory (``build_encoder``);
- :mod:`.torch_runtime`: pooling and the torch runtime (inference, training, export);
- :mod:`.onnx_runtime`: the same function exported to ONNX Runtime (CPU, fp32 and int8);
- :mod:`.embed_loop`: the one embed loop and its batch plan (it never asks which runtime runs);
- :mod:`.mask_shortcut`: ``mask`` pooling with the last layer evaluated at the mask token only;
- :mod:`.precision`: what ``auto`` means on this machine; :mod:`.ops`: pooling, analogy scoring
  and top-k with their PyTorch references and Triton kernels; :mod:`.distributed`: torchrun.
"""
