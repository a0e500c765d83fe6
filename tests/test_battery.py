"""The metric battery on hand-made generators whose right answers are known."""

import math

import numpy as np
import torch
from torch import nn

from bench.battery import BatteryConfig, frechet_part, heldout_part, traversal_part
from bench.reference import Reference
from datasets import ImageSplit
from metrics.attributes import moment_attributes
from metrics.heldout import RecogniserConfig
from models.latent import CategoricalCode, LatentSpec, UniformCode

LATENT = LatentSpec(4, (CategoricalCode(10, "cat"), UniformCode("c1"), UniformCode("c2")))
CPU = torch.device("cpu")


class DrawsItsCodes(nn.Module):
    """A 28x28 'generator': category k lights block k of the top rows, c1 shears a vertical bar
    (its slant), and the noise only moves the bar sideways; c2 is ignored."""

    def forward(self, latent):
        n = latent.shape[0]
        noise, cat, c1 = latent[:, :4], latent[:, 4:14], latent[:, 14]
        images = torch.zeros(n, 1, 28, 28)
        k = cat.argmax(1)
        for i in range(n):
            images[i, 0, 0:2, 2 * k[i] + 4:2 * k[i] + 6] = 1.0
            centre = 14 + 2 * noise[i, 0]
            for row in range(6, 26):
                x = int(round(float(centre + c1[i] * 2.0 * (16 - row) / 10)))
                images[i, 0, row, max(0, min(27, x))] = 1.0
        return images


class ReadsTheBlock(nn.Module):
    """A 'reference classifier' that reads which top block is lit."""

    head = nn.Identity()

    def features(self, images):
        blocks = images[:, 0, 0:2, 4:24].reshape(len(images), 2, 10, 2).sum(dim=(1, 3))
        return blocks

    def forward(self, images):
        return self.features(images)


def test_traversal_of_a_generator_that_draws_its_codes():
    reference = Reference(classifier=ReadsTheBlock(), attributes=moment_attributes)
    metrics, notes = traversal_part(LATENT, DrawsItsCodes(), reference, CPU,
                                    BatteryConfig(traversal_noise=12, traversal_steps=7), seed=0)
    assert metrics["traversal/cat/consistency"] == 1.0
    assert metrics["traversal/cat/classes_covered"] == 10
    assert metrics["traversal/c1/median_abs_rho"] > 0.95 and metrics["traversal/c1/sign_agreement"] == 1.0
    assert notes["traversal/c1/attribute"] == "slant"
    # c2 changes nothing: every attribute is constant along its sweep
    assert metrics["traversal/c2/median_abs_rho"] == 0.0


def test_heldout_mi_sees_the_drawn_category_and_not_the_ignored_code():
    config = RecogniserConfig(num_train=2000, num_eval=1000, steps=300, eval_every=50)
    values = heldout_part(LATENT, DrawsItsCodes(), CPU, config, seed=0)
    assert values["mi_heldout/cat"] > math.log(10) - 0.3
    assert values["mi_heldout/c2"] < 0.1


def test_frechet_distance_of_real_against_real_is_small():
    class Echo(nn.Module):
        def forward(self, latent):
            return latent[:, :784].reshape(-1, 1, 28, 28)

    latent = LatentSpec(784, (CategoricalCode(2, "cat"),))
    # 'real' images drawn from the same distribution the generator draws from
    real = (torch.rand(500, 784) * 2 - 1).reshape(-1, 1, 28, 28)
    split = ImageSplit("toy", "test", ((real.clamp(0, 1)) * 255).to(torch.uint8), torch.zeros(500, dtype=torch.long))

    class Pixels(nn.Module):
        head = nn.Identity()

        def features(self, images):
            return images.reshape(len(images), -1)[:, :8]

    near = frechet_part(latent, nn.Sequential(Echo(), nn.Hardtanh(0, 1)), Reference(classifier=Pixels()), split,
                        CPU, 500, seed=0)["frechet_distance"]
    far = frechet_part(latent, nn.Sequential(Echo(), nn.Hardtanh(0.5, 1)), Reference(classifier=Pixels()), split,
                       CPU, 500, seed=0)["frechet_distance"]
    assert near < 0.05 < far


def test_moment_attributes_signs():
    upright, leaning, wide = np.zeros((3, 28, 28))
    for row in range(4, 24):
        upright[row, 14] = 1
        leaning[row, 14 + (14 - row) // 3] = 1  # top to the right
        wide[row, 10:19] = 1
    attrs = moment_attributes(np.stack([upright, leaning, wide]))
    assert abs(attrs["slant"][0]) < 1e-9 and attrs["slant"][1] > 0.2
    assert attrs["width"][2] > attrs["width"][0]
    assert attrs["ink"][2] > attrs["ink"][0]
