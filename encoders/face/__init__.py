"""The `face-dlib` encoder: decode → detect → align and describe, one module per step.

Importing this package loads no model; dlib is imported when an encoder is built.
"""
