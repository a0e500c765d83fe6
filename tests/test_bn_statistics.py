"""Re-scoring Q's categorical code under other batch-norm statistics."""

import torch

from bench.benchmarks.bn_statistics import score_discriminator, with_real_statistics
from bench.evaluate import clustering_metrics
from bench.suites import SUITES
from datasets import ImageSplit
from models.networks import build_networks

LATENT, NETWORK = SUITES["mnist"].latent, SUITES["mnist"].network


def _discriminator():
    torch.manual_seed(0)
    _, discriminator = build_networks(LATENT.input_dim, LATENT.q_dim, NETWORK)
    return discriminator


def _split(n: int, seed: int) -> ImageSplit:
    rng = torch.Generator().manual_seed(seed)
    return ImageSplit("mnist", "x", torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=rng),
                      torch.randint(0, 10, (n,), generator=rng))


def test_real_statistics_are_the_average_over_the_images_and_leave_d_alone():
    discriminator = _discriminator()
    before = {k: v.clone() for k, v in discriminator.state_dict().items()}
    images = _split(256, 0).images
    copy = with_real_statistics(discriminator, images, batch_size=64)
    with torch.no_grad():  # the first batch-norm layer's input: D's first two convolutions
        features = discriminator.body[:3](images.float() / 255.0)
    conv_norm = copy.body[3]
    assert torch.allclose(conv_norm.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-5)
    assert not copy.training and all(torch.equal(v, discriminator.state_dict()[k]) for k, v in before.items())
    assert torch.equal(copy.body[2].weight, discriminator.body[2].weight)


def test_the_three_scores_and_the_stored_statistics_one_matches_the_toolkit():
    discriminator, test = _discriminator(), _split(300, 1)
    before = {k: v.clone() for k, v in discriminator.state_dict().items()}
    scores = score_discriminator(LATENT, discriminator, test, _split(256, 2).images)
    assert set(scores) == {"running", "test_batches", "real_running"}
    assert all(0.0 <= value <= 1.0 for value in scores.values())
    toolkit, _ = clustering_metrics(LATENT, discriminator, test.images, test.labels)
    assert scores["running"] == toolkit["cluster_accuracy"]
    assert all(torch.equal(v, discriminator.state_dict()[k]) for k, v in before.items())
