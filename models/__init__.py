"""Latent codes, the InfoGAN networks, and InfoGAN / GAN training."""

from models.latent import CategoricalCode, LatentSpec, UniformCode
from models.networks import NetworkSpec, build_networks

__all__ = ["CategoricalCode", "LatentSpec", "NetworkSpec", "UniformCode", "build_networks"]
