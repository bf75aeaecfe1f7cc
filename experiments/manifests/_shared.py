"""What several manifests share: the columns of the COSMOS ablation tables, Table 5's caption rule, and the
caveats measured on benchmark v5 (manifests' CAVEATS["v5"]; their numbers are filled from the records)."""

# The caption mode of Table 5's rows before "+ text cropping" (the raw alt-text; table5.py says why).
BEFORE_TEXT_CROPPING = "raw"
# COSMOS's ablation tables (Table 5, the appendix sweeps): retrieval, zero-shot and compositional columns.
ABLATION_COLUMNS = {"retrieval/scenes/i2t_r1": "I2T R@1", "retrieval/scenes/t2i_r1": "T2I R@1",
                    "classification/scenes/top1": "Top-1", "compositional/scenes/mean": "SugarCrepe-style avg"}
ABLATION_COLUMNS_BY_SCALE = {"paper": {"retrieval/coco/i2t_r1": "COCO I2T", "retrieval/coco/t2i_r1": "COCO T2I",
                                       "classification/imagenet/top1": "IN top-1"}}

# Caveats measured on benchmark v5. Their numbers are placeholders the report fills from the budget study's
# 1,000-step runs in the runs folder (analysis/caveats.py), so they cover every seed the tables beside them do.
V5_TEACHER = (
    "On benchmark v5 the tiny profile follows the official EMA horizon (1.1% of a run): at 100 steps the momentum is "
    "0.11 and the learning rate ends near 0, so the evaluated teacher is the student (COSMOS seed 0: largest weight "
    "difference 1.5e-7; the ablations' 'evaluate the student' row scores as the default does to every reported "
    "digit). Self-distillation here compares the student with its own last steps.")
V5_MMVP = (
    "In the budget study's 1,000-step runs on v5 ({seeds:CLIP} CLIP and {seeds:COSMOS} COSMOS seeds) the colour "
    "pairs score {mean:CLIP:perception/scenes/colour} (CLIP) and {mean:COSMOS:perception/scenes/colour} (COSMOS); the "
    "position pairs {mean:CLIP:perception/scenes/position} and {mean:COSMOS:perception/scenes/position}, the count "
    "pairs {mean:CLIP:perception/scenes/count} and {mean:COSMOS:perception/scenes/count}, the orientation pairs "
    "{mean:CLIP:perception/scenes/orientation} and {mean:COSMOS:perception/scenes/orientation}, against the 25 that "
    "guessing gets a pair: the MMVP-style mean moves with colour, presence and size.")
V5_TOP1 = (
    "Zero-shot top-1 on v5 asks for the large object's category by its shape: a guess from its colour reaches 13.0% "
    "and a random pick among the categories present 41.1% (`python benchmarks/oracles.py`); CLIP and COSMOS score "
    "{mean:CLIP:classification/scenes/top1} and {mean:COSMOS:classification/scenes/top1} in the budget study's "
    "1,000-step runs ({seeds:CLIP} and {seeds:COSMOS} seeds), against 6.25 for a uniform guess and 13.0 for the "
    "colour guess.")
V5_BINDING = (
    "Retrieval on v5 needs binding (the test split comes in groups of four that share one bag of words): an unbound "
    "bag-of-attributes oracle reaches 24.9 I2T R@1, CLIP in the budget study's 1,000-step runs "
    "{mean:CLIP:retrieval/scenes/i2t_r1} ({seeds:CLIP} seeds, {range:CLIP:retrieval/scenes/i2t_r1} per seed). The "
    "hard negatives say which binding they learn: swap-attribute, where a bag of words and the blind priors score 50, "
    "reaches {mean:CLIP:compositional/scenes/swap-attribute} (CLIP) and "
    "{mean:COSMOS:compositional/scenes/swap-attribute} (COSMOS), so both bind colours to objects; replace-relation, "
    "the vertical order, stays at {mean:CLIP:compositional/scenes/replace-relation} and "
    "{mean:COSMOS:compositional/scenes/replace-relation}: order is what they do not use yet.")
V5_SILC_HEAD = (
    "'COSMOS beats SiLC' is against a SiLC whose DINO head does not settle on v5: in the budget study's 1,000-step "
    "runs the entropy of its teacher's targets (train/teacher_entropy; uniform is ln 1024 = 6.93 nats) lies between "
    "collapse (under 1 nat) and near-uniform (over 6.5) at {share:SiLC:train/teacher_entropy:1:6.5:500} from step "
    "500 on, and is at one end or the other the rest of the time. Either way its distillation term carries little: "
    "the gap measures this SiLC, not SiLC's recipe.")
TEXT_CROPPING_SWITCH = (
    "'+ text cropping' also switches from the raw alt-text to the recaptions (the row design, table5.py): it can "
    "show that recaptions help, not that sentence crops beat whole captions.")
