"""Diffusion pipelines (diffusers): the piggybacked colorization pipeline of Liu et al. 2023."""
