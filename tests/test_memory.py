"""COSMOS activation memory: our forward saves no more for backward than the official computation does."""

from benchmarks.memory import saved_activations


def test_our_cosmos_forward_saves_no_more_activations_than_the_official_computation():
    ours = saved_activations("ours", "ViT-Micro-8-32", 4, 16)
    official = saved_activations("official", "ViT-Micro-8-32", 4, 16)
    assert sum(ours.values()) > 0 and sum(official.values()) > 0
    # the towers run the same blocks on the same crops: their activations are identical module by module
    towers = [m for m in official if "resblocks" in m]
    assert towers and all(ours[m] == official[m] for m in towers)
    # the official cross-attention repeats each caption's tokens per view; ours attends once per sample
    assert sum(ours.values()) <= sum(official.values())
