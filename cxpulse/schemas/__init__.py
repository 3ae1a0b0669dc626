"""Pydantic v2 models of the v1 input contract and the outputs."""
