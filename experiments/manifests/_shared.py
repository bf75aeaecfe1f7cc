"""What several manifests share: the columns of the COSMOS ablation tables, Table 5's caption rule, and the
caveats measured on benchmark v5 (manifests' CAVEATS["v5"])."""

# The caption mode of Table 5's rows before "+ text cropping" (the raw alt-text; table5.py says why).
BEFORE_TEXT_CROPPING = "raw"
# COSMOS's ablation tables (Table 5, the appendix sweeps): retrieval, zero-shot and compositional columns.
ABLATION_COLUMNS = {"retrieval/scenes/i2t_r1": "I2T R@1", "retrieval/scenes/t2i_r1": "T2I R@1",
                    "classification/scenes/top1": "Top-1", "compositional/scenes/mean": "SugarCrepe-style avg"}
ABLATION_COLUMNS_BY_SCALE = {"paper": {"retrieval/coco/i2t_r1": "COCO I2T", "retrieval/coco/t2i_r1": "COCO T2I",
                                       "classification/imagenet/top1": "IN top-1"}}

# Caveats measured on benchmark v5, each naming the runs it was measured on (the report they appear in
# may hold more seeds by now).
V5_TEACHER = (
    "On benchmark v5 the tiny profile follows the official EMA horizon (1.1% of a run): at 100 steps the momentum is "
    "0.11 and the learning rate ends near 0, so the evaluated teacher is the student (COSMOS seed 0: largest weight "
    "difference 1.5e-7; the ablations' 'evaluate the student' row scores as the default does to every reported "
    "digit). Self-distillation here compares the student with its own last steps.")
V5_MMVP = (
    "In the budget study's 1,000-step runs on v5 (CLIP seeds 0-6, COSMOS 0-4) every run solves the colour pairs (100%) and none the position, "
    "count or orientation pairs (0-20%, under the 25% that guessing gets a pair): the MMVP-style mean measures "
    "colour, presence and size.")
V5_TOP1 = (
    "Zero-shot top-1 on v5 asks for the large object's category by its shape: a guess from its colour reaches 13.0% "
    "and a random pick among the categories present 41.1% (`python benchmarks/oracles.py`); CLIP and COSMOS score "
    "10.1 and 15.8 in the budget study's 1,000-step runs (CLIP seeds 0-2, COSMOS 0-1), near chance (6.25). The top-1 claims read near chance at "
    "these budgets (docs/benchmark.md).")
V5_BINDING = (
    "Retrieval on v5 needs binding (the test split comes in groups of four that share one bag of words): an unbound "
    "bag-of-attributes oracle reaches 24.9 I2T R@1, CLIP in the budget study's 1,000-step runs 18.3 (seeds 0-2; 16.0-19.5 in each of seeds 0-6). At these "
    "budgets the methods do not bind yet; retrieval measures how much of the bag they have learnt.")
V5_SILC_HEAD = (
    "'COSMOS beats SiLC' is against a SiLC whose DINO head does not settle on v5: in the budget study's 1,000-step "
    "runs (seeds 0-2) the entropy of its teacher's targets swings between collapse (under 1 nat) and near-uniform "
    "(over 6.5 of ln 1024 = 6.93). From step 500 on, seed 2 is near-uniform at 73% of the logged steps (its last "
    "100 steps average 6.74), seed 1 at 33%, and seed 0 collapsed at 14% (train/teacher_entropy in the archived "
    "records). Either way its distillation term carries little: the gap measures this SiLC, not SiLC's recipe.")
TEXT_CROPPING_SWITCH = (
    "'+ text cropping' also switches from the raw alt-text to the recaptions (the row design, table5.py): it can "
    "show that recaptions help, not that sentence crops beat whole captions.")
