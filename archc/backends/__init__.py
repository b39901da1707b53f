"""Backends: the IR as torch modules (torch_backend) and as standalone source (codegen)."""
