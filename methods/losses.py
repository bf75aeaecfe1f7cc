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
