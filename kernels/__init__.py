"""Triton kernels, installed as ``relbert.kernels``; imported only for CUDA (or interpreted) work."""
