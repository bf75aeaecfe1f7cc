"""Pure loss functions. Every input is documented with its shape; "normalised" means L2-normalised rows."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import distributed
from .distributed import gather_features


def info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE, 1/2 [CE(s a b^T, I) + CE(s b a^T, I)], over the global batch.

    a, b: (B, D) this rank's normalised features, row i of a paired with row i of b.
    logit_scale: scalar log-temperature parameter; s = exp(logit_scale) (CLIP, Radford et al. 2021).
    Negatives are the other samples of the batch gathered across ranks; only this rank's rows carry gradient.
    """
    return multi_info_nce(a[None], b[None], logit_scale)


def multi_info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE averaged over every (view of a, view of b) pair: mean_{i,j} info_nce(a[i], b[j]).

    a: (Va, B, D), b: (Vb, B, D) normalised; sample n of every view of a is paired with sample n of every view
    of b (COSMOS: 2 global image crops x 8 texts, all positives of each other). One gather per input.
    """
    a_all = gather_features(a.transpose(0, 1)).transpose(0, 1)  # (Va, N, D)
    b_all = gather_features(b.transpose(0, 1)).transpose(0, 1)
    logits = logit_scale.exp() * torch.einsum("ind,jmd->ijnm", a_all, b_all)  # (Va, Vb, N, N)
    n = logits.shape[-1]
    labels = torch.arange(n, device=a.device).repeat(logits.shape[0] * logits.shape[1])
    rows = F.cross_entropy(logits.reshape(-1, n), labels)
    cols = F.cross_entropy(logits.transpose(-1, -2).reshape(-1, n), labels)
    return (rows + cols) / 2


def simclr(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent as SLIP computes it (Mu et al. 2022).

    z1, z2: (B, D) head outputs of two views of this rank's samples (normalised here). For each anchor the
    positive is the same sample's other view; negatives are every other sample in both views across all ranks
    (2N - 2); self-similarity is masked out; the loss averages both directions. Gathered with gradient.
    """
    z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    k1, k2 = gather_features(z1, with_grad=True), gather_features(z2, with_grad=True)
    n, b = len(k1), len(z1)
    keys = torch.cat([k1, k2])  # (2N, D)
    anchors = torch.cat([z1, z2])  # (2B, D)
    own = distributed.rank() * b + torch.arange(b, device=z1.device)
    self_idx = torch.cat([own, own + n])
    pos_idx = torch.cat([own + n, own])
    logits = anchors @ keys.T / temperature
    logits[torch.arange(2 * b, device=z1.device), self_idx] = float("-inf")
    return F.cross_entropy(logits, pos_idx)


def dino_targets(teacher: torch.Tensor, center: torch.Tensor, teacher_temp: float = 0.04) -> torch.Tensor:
    """DINO's teacher targets softmax((t - center) / teacher_temp), detached; teacher: (Vt, B, K) logits, center:
    (1, K). What `dino` distils towards and `dino_health` reads."""
    return F.softmax((teacher.detach() - center) / teacher_temp, dim=-1)


def dino(student: torch.Tensor, targets: torch.Tensor, student_temp: float = 0.1) -> torch.Tensor:
    """DINO's self-distillation cross-entropy (Caron et al. 2021), as SiLC uses it local-to-global.

    student: (Vs, B, K) logits of every student view; targets: (Vt, B, K) `dino_targets` of the teacher's views,
    which are the student's first Vt views (the global crops); student log-probabilities
    log_softmax(s / student_temp). Cross-entropy summed over K, averaged over the batch and over every (teacher
    view i, student view v != i) pair.
    """
    logp = F.log_softmax(student / student_temp, dim=-1)
    losses = [-(targets[i] * logp[v]).sum(-1).mean() for i in range(len(targets)) for v in range(len(logp)) if v != i]
    return torch.stack(losses).mean()


@torch.no_grad()
def dino_health(targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """DINO's collapse diagnostics of the teacher targets (`dino_targets`, (Vt, B, K)), in nats:
    `teacher_entropy`, the mean entropy of one sample's target (ln K = uniform targets: the head says nothing; 0 =
    one-hot), and `teacher_kl`, the mean KL of the targets from the batch's mean target (0: every image gets the
    same target, whether one-hot or uniform). The distillation loss is at least the first; a learning head has low
    entropy and high KL."""
    t = targets.float().flatten(0, 1)
    logt = t.clamp_min(1e-12).log()
    mean = t.mean(0, keepdim=True)
    entropy = -(t * logt).sum(-1).mean()
    kl = (t * (logt - mean.clamp_min(1e-12).log())).sum(-1).mean()
    return {"teacher_entropy": entropy, "teacher_kl": kl}


def cosmos(student_img: torch.Tensor | None, student_txt: torch.Tensor | None, teacher_img: torch.Tensor,
           teacher_txt: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """The COSMOS contrastive self-distillation loss (Kim et al., CVPR 2025):

    1/4 [P(S_img, T_img) + P(S_img, T_txt) + P(S_txt, T_img) + P(S_txt, T_txt)], P = multi_info_nce.

    student_img: (Vi, B, D), student_txt: (Vt, B, D) normalised cross-attended student features (None turns
    that side's self-distillation off and drops its two terms); teacher_img (2, B, D) / teacher_txt (2, B, D)
    normalised teacher features of the global views (detached here); logit_scale: the separate distillation
    temperature. Same-view pairs are included; there is no head, centring or teacher temperature.
    """
    t_img, t_txt = teacher_img.detach(), teacher_txt.detach()
    terms = [multi_info_nce(s, t, logit_scale) for s in (student_img, student_txt) if s is not None
             for t in (t_img, t_txt)]
    return torch.stack(terms).sum() / 4


GROUPING_NORMS = ("minmax", "softmax")
GROUPING_TEXTS = ("official", "own")


def subcaption_grouping(texts: torch.Tensor, patches: torch.Tensor, logit_scale: torch.Tensor, delta: float = 0.0,
                        norm: str = "minmax", layout: str = "official") -> torch.Tensor:
    """DreamLIP's subcaption-specific grouping loss (Zheng et al., ECCV 2024; the official `ClipLoss` with
    `use_finegrained_loss`, open_clip/loss.py of zyf0619sjtu/DreamLIP).

    texts: (T, B, D) normalised text features, view-first (the raw caption, then the sub-captions); patches:
    (B, M, D) patch features in the joint space; logit_scale: the grouping term's own log-temperature. Both are
    gathered over ranks (only this rank's rows carry gradient). Per (sample, text): the text's cosine similarity
    to each patch, min-max normalised over the patches ("softmax": a softmax instead), values under `delta` (a
    negative delta: 1/M) set to 0, the rest normalised to sum 1; the weighted sum of patches, normalised, is the
    text's grouped image embedding. The loss is the symmetric InfoNCE between the B*T texts and their B*T grouped
    embeddings (every other (sample, text) a negative).

    layout: which texts group a sample's patches. "official" as the released code: the gathered text features are
    stacked text-major (T*N, D) and viewed as (N, T, D), so sample n groups its patches with flat texts n*T ...
    n*T + T - 1, i.e. mostly other samples' texts once N > 1 (the paper's Eq. describes a sample's own
    sub-captions); "own": each sample's own T texts.
    """
    if norm not in GROUPING_NORMS:
        raise ValueError(f"unknown grouping norm {norm!r}; valid choices: {', '.join(GROUPING_NORMS)}")
    if layout not in GROUPING_TEXTS:
        raise ValueError(f"unknown grouping texts {layout!r}; valid choices: {', '.join(GROUPING_TEXTS)}")
    t_all = gather_features(texts.transpose(0, 1))  # (N, T, D), sample-major
    p_all = gather_features(patches)  # (N, M, D)
    n, t, d = t_all.shape
    if layout == "official":
        t_all = t_all.transpose(0, 1).reshape(n * t, d).view(n, t, d)
    p_all, t_all = F.normalize(p_all, dim=-1), F.normalize(t_all, dim=-1)
    sim = torch.einsum("btd,bpd->btp", t_all, p_all)
    if norm == "minmax":
        lo, hi = sim.min(dim=-1, keepdim=True).values, sim.max(dim=-1, keepdim=True).values
        weights = (sim - lo) / (hi - lo + 1e-10)
    else:
        weights = F.softmax(sim, dim=-1)
    threshold = 1.0 / p_all.shape[1] if delta < 0 else delta
    weights = torch.where(weights < threshold, torch.zeros((), dtype=weights.dtype, device=weights.device), weights)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    grouped = F.normalize(torch.einsum("btp,bpd->btd", weights, p_all), dim=-1)
    text_rows, grouped_rows = t_all.reshape(n * t, d), grouped.reshape(n * t, d)
    scale = logit_scale.exp()
    labels = torch.arange(n * t, device=texts.device)
    return (F.cross_entropy(scale * text_rows @ grouped_rows.T, labels)
            + F.cross_entropy(scale * grouped_rows @ text_rows.T, labels)) / 2
