import pytest
import torch

from deepfake_ssat.masking import gather_tokens, num_masked, random_mask, subsample_masked, tube_mask


@pytest.mark.parametrize("ratio,expected_keep", [(0.75, 49), (0.9, 20), (0.95, 10), (0.5, 98)])
def test_visible_counts_match_videomae_convention(ratio, expected_keep):
    # VideoMAE hides int(ratio · 196) tokens per frame slot.
    assert 196 - num_masked(196, ratio) == expected_keep
    m = tube_mask(4, 8, 196, ratio)
    assert m.keep.shape == (4, 8 * expected_keep)
    assert m.masked.shape == (4, 8 * (196 - expected_keep))


def test_random_mask_exact_counts_and_partition():
    m = random_mask(5, 64, 0.75)
    assert m.keep.shape == (5, 16) and m.masked.shape == (5, 48)
    both = torch.cat([m.keep, m.masked], 1).sort(1).values
    assert torch.equal(both, torch.arange(64).expand(5, -1))
    assert m.as_bool().sum(1).tolist() == [48] * 5


def test_tube_mask_is_identical_across_time_and_differs_across_samples():
    t, s = 8, 49
    m = tube_mask(6, t, s, 0.9)
    grid = m.as_bool().view(6, t, s)
    assert torch.equal(grid, grid[:, :1].expand_as(grid)), "spatial mask must repeat over every time slot"
    assert len({tuple(g[0].tolist()) for g in grid}) == 6, "samples should get different masks"


def test_masks_are_reproducible_with_a_generator():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = tube_mask(2, 4, 16, 0.75, generator=g1), tube_mask(2, 4, 16, 0.75, generator=g2)
    assert torch.equal(a.keep, b.keep)


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5])
def test_a_bad_ratio_never_reaches_the_masks(ratio):
    """The one check is the config's; num_masked itself still leaves one token hidden and one visible."""
    from deepfake_ssat.config import load_config
    from deepfake_ssat.configschema import ConfigError

    with pytest.raises(ConfigError, match="model.mask_ratio: must be in"):
        load_config(overrides=[f"model.mask_ratio={ratio}"])
    assert 1 <= num_masked(16, ratio) <= 15


def test_decoder_subset_is_a_subset_of_hidden_tokens():
    m = tube_mask(3, 4, 49, 0.9)
    sub = subsample_masked(m, 0.5)
    assert sub.shape == (3, (m.masked.shape[1] + 1) // 2)
    for i in range(3):
        assert set(sub[i].tolist()) <= set(m.masked[i].tolist())


def test_gather_tokens_matches_indexing():
    x = torch.randn(2, 10, 3)
    ids = torch.tensor([[0, 4, 9], [1, 2, 3]])
    out = gather_tokens(x, ids)
    assert torch.equal(out[0], x[0, [0, 4, 9]]) and torch.equal(out[1], x[1, [1, 2, 3]])
